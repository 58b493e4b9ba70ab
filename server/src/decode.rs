//! Turning a client's text into a message, or into a precise refusal.

use crate::{Refusal, refusal::truncate};
use serde::Deserialize;
use serde_json::Value;
use tether_protocol::{ClientFrame, ClientMessage, ErrorCode, RequestId};

/// A message that could not be decoded, with its request id when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The `id` of the message, if it had a valid one: the refusal then goes out as a failed ack.
    pub id: Option<RequestId>,
    /// What was wrong.
    pub refusal: Refusal,
}

/// Decodes one client message (`{"type", "payload", "id"?}`).
///
/// The common case is a single parse. Only when it fails is the text looked at again, to tell
/// invalid JSON from an unknown type from a bad payload, and to find the request id.
pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    serde_json::from_str::<ClientFrame>(text).or_else(|err| second_look(text, &err))
}

/// The slow path: a `ping` with any payload (the guide's `sendMessage('ping', {})`, or a
/// timestamp for measuring latency) is still a ping; anything else is refused precisely.
fn second_look(text: &str, err: &serde_json::Error) -> Result<ClientFrame, DecodeError> {
    let refuse = |id, code, message: String| {
        Err(DecodeError {
            id,
            refusal: Refusal::new(code, message),
        })
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => {
            return refuse(
                None,
                ErrorCode::InvalidJson,
                format!("invalid JSON: {}", without_position(err)),
            );
        }
    };
    let Value::Object(object) = value else {
        return refuse(
            None,
            ErrorCode::InvalidJson,
            "a message must be a JSON object with \"type\" and \"payload\"".into(),
        );
    };
    let id = match object.get("id") {
        None | Some(Value::Null) => None,
        Some(id) => match RequestId::deserialize(id) {
            Ok(id) => Some(id),
            Err(_) => {
                return refuse(
                    None,
                    ErrorCode::InvalidPayload,
                    "\"id\" must be a non-negative integer or a string".into(),
                );
            }
        },
    };
    match object.get("type") {
        Some(Value::String(kind)) if kind == "ping" => Ok(ClientFrame {
            message: ClientMessage::Ping,
            id,
        }),
        None => refuse(id, ErrorCode::UnknownType, "missing \"type\"".into()),
        Some(Value::String(kind)) if ClientMessage::TYPES.contains(&kind.as_str()) => refuse(
            id,
            ErrorCode::InvalidPayload,
            format!("invalid payload for \"{kind}\": {}", without_position(err)),
        ),
        Some(Value::String(kind)) => refuse(
            id,
            ErrorCode::UnknownType,
            format!("unknown message type \"{}\"", truncate(kind, 64)),
        ),
        Some(_) => refuse(
            id,
            ErrorCode::UnknownType,
            "\"type\" must be a string".into(),
        ),
    }
}

/// serde_json's message without its " at line 1 column 9" suffix, which means nothing to someone
/// who sent one line, and cut short: serde quotes a string it did not expect whole, and a refusal
/// must never echo a client's 64 KiB back at it.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    if text.len() <= MAX_DETAIL {
        text.to_owned()
    } else {
        format!("{}…", truncate(text, MAX_DETAIL))
    }
}

/// The most of serde's explanation a refusal quotes, in bytes.
const MAX_DETAIL: usize = 160;

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::JoinRoom;

    fn refusal(text: &str) -> (Option<RequestId>, ErrorCode, String) {
        let err = decode(text).expect_err("should be refused");
        (err.id, err.refusal.code, err.refusal.message)
    }

    #[test]
    fn decodes_guide_messages() {
        let frame = decode(r#"{"type":"join","payload":{"roomId":"r"}}"#).unwrap();
        assert_eq!(frame.message, ClientMessage::Join(JoinRoom::new("r")));
        assert_eq!(frame.id, None);
    }

    #[test]
    fn a_ping_may_carry_any_payload() {
        for text in [
            r#"{"type":"ping"}"#,
            r#"{"type":"ping","payload":null}"#,
            r#"{"type":"ping","payload":{}}"#,
            r#"{"type":"ping","payload":{"t":1732500000000}}"#,
        ] {
            assert_eq!(decode(text).unwrap().message, ClientMessage::Ping, "{text}");
        }
        assert_eq!(
            decode(r#"{"type":"ping","payload":{},"id":7}"#).unwrap().id,
            Some(7.into())
        );
    }

    #[test]
    fn invalid_json() {
        let (id, code, message) = refusal("{nope");
        assert_eq!((id, code), (None, ErrorCode::InvalidJson));
        assert_eq!(message, "invalid JSON: key must be a string");
        assert_eq!(refusal("[1,2]").1, ErrorCode::InvalidJson);
        assert_eq!(refusal("").1, ErrorCode::InvalidJson);
    }

    #[test]
    fn unknown_or_missing_type() {
        assert_eq!(
            refusal(r#"{"type":"dance","payload":{},"id":3}"#),
            (
                Some(3.into()),
                ErrorCode::UnknownType,
                "unknown message type \"dance\"".into()
            )
        );
        assert_eq!(
            refusal(r#"{"payload":{}}"#),
            (None, ErrorCode::UnknownType, "missing \"type\"".into())
        );
        assert_eq!(refusal(r#"{"type":5}"#).1, ErrorCode::UnknownType);
    }

    #[test]
    fn missing_or_wrong_fields_name_the_field() {
        assert_eq!(
            refusal(r#"{"type":"join","payload":{},"id":"a"}"#),
            (
                Some("a".into()),
                ErrorCode::InvalidPayload,
                "invalid payload for \"join\": missing field `roomId`".into()
            )
        );
        let (_, code, message) = refusal(r#"{"type":"message","payload":{"roomId":"r","text":5}}"#);
        assert_eq!(code, ErrorCode::InvalidPayload);
        assert!(message.starts_with("invalid payload for \"message\": invalid type: integer `5`"));
        assert!(
            refusal(r#"{"type":"join"}"#)
                .2
                .contains("missing field `payload`")
        );
    }

    #[test]
    fn a_bad_id_is_refused_as_such() {
        assert_eq!(
            refusal(r#"{"type":"ping","id":-1}"#),
            (
                None,
                ErrorCode::InvalidPayload,
                "\"id\" must be a non-negative integer or a string".into()
            )
        );
    }

    #[test]
    fn long_unknown_types_are_not_echoed_whole() {
        let long = "x".repeat(10_000);
        let (_, _, message) = refusal(&format!(r#"{{"type":"{long}"}}"#));
        assert!(message.len() < 100);
    }
}
