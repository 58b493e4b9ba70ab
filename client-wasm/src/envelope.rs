//! `Envelope`: the `{"type", "payload", "id"}` shape of everything the Rust API sends, and the
//! frames the engine builds itself (`join`, `leave`, a request with its id and `cid`).

use crate::SendError;
use serde::Serialize;
use tether_protocol::RoomRef;

/// `{"type": kind, "payload": payload, "id"?: id}`.
#[derive(Serialize)]
pub(crate) struct Envelope<'a, P: ?Sized> {
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    pub(crate) payload: &'a P,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<u64>,
}

/// Any serde value as JSON text.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String, SendError> {
    serde_json::to_string(value).map_err(|e| SendError::Encode(e.to_string()))
}

/// `text` as a JSON string. By hand rather than `serde_json::to_string::<str>`: every app links
/// this, and the loop is smaller than that serializer's instance.
fn quote(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => {
                let byte = c as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[(byte >> 4) & 15]));
                out.push(char::from(HEX[byte & 15]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"type": kind, "payload": {"roomId": room}}`: a `leave`, or a plain `join`.
pub(crate) fn room_frame(kind: &str, room: &str) -> Result<String, SendError> {
    encode(&Envelope {
        kind,
        payload: &RoomRef::new(room),
        id: None,
    })
}

/// A `join` with `since` (the epoch's text and a `seq`), or with `recent` if that is not 0.
/// Written out rather than serialized from `tether_protocol::JoinRoom`: every app links this, and
/// a serializer for a new type costs more than a `format!` (golden tests check the shape).
pub(crate) fn join_frame(
    room: &str,
    since: Option<(&str, u64)>,
    recent: u32,
) -> Result<String, SendError> {
    let room = quote(room);
    let tail = match since {
        Some((epoch, seq)) => format!(",\"since\":{{\"epoch\":{},\"seq\":{seq}}}", quote(epoch)),
        None if recent > 0 => format!(",\"recent\":{recent}"),
        None => String::new(),
    };
    Ok(format!(
        "{{\"type\":\"join\",\"payload\":{{\"roomId\":{room}{tail}}}}}"
    ))
}

/// A request: `payload` (JSON text) in an envelope with `id`, and, if given, `cid` as the
/// payload's first field (unless the payload, an object, has one already).
pub(crate) fn request_frame(
    kind: &str,
    payload: &str,
    id: u64,
    cid: Option<&str>,
) -> Result<String, SendError> {
    let kind = quote(kind);
    let payload = match (cid, payload.strip_prefix('{')) {
        // `"cid":` can only be a key: inside a JSON string, a quote is escaped.
        (Some(cid), Some(rest)) if !payload.contains("\"cid\":") => {
            // serde_json writes no whitespace.
            let comma = if rest.starts_with('}') { "" } else { "," };
            format!("{{\"cid\":\"{cid}\"{comma}{rest}")
        }
        _ => payload.to_owned(),
    };
    Ok(format!(
        "{{\"type\":{kind},\"payload\":{payload},\"id\":{id}}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_as_json() {
        for text in ["", "lobby", "a\"b\\c", "tab\tnl\n\u{1}", "é✓🙂", "\u{7f}"] {
            let quoted = quote(text);
            assert_eq!(serde_json::from_str::<String>(&quoted).unwrap(), text);
        }
        assert_eq!(quote("a\"b"), serde_json::to_string("a\"b").unwrap());
    }

    #[test]
    fn a_request_carries_its_id_and_cid() {
        assert_eq!(
            request_frame("message", r#"{"roomId":"a","text":"hi"}"#, 7, Some("f0-7")).unwrap(),
            r#"{"type":"message","payload":{"cid":"f0-7","roomId":"a","text":"hi"},"id":7}"#
        );
        assert_eq!(
            request_frame("ping", "{}", 1, Some("c")).unwrap(),
            r#"{"type":"ping","payload":{"cid":"c"},"id":1}"#
        );
        assert_eq!(
            request_frame("ping", "null", 2, None).unwrap(),
            r#"{"type":"ping","payload":null,"id":2}"#
        );
        let own = r#"{"roomId":"a","text":"hi","cid":"mine"}"#;
        assert!(
            request_frame("message", own, 3, Some("x"))
                .unwrap()
                .contains(own),
            "a payload's own cid is kept"
        );
    }

    #[test]
    fn joins_carry_since_or_recent() {
        use tether_protocol::{ClientFrame, ClientMessage, JoinRoom, Position};
        // The shapes the protocol crate gives them.
        let mut join = JoinRoom::new("a\"b");
        join.since = Some(Position {
            epoch: "e1".into(),
            seq: 5,
        });
        let frame = ClientFrame::new(ClientMessage::Join(join));
        assert_eq!(
            join_frame("a\"b", Some(("e1", 5)), 0).unwrap(),
            serde_json::to_string(&frame).unwrap()
        );
        assert_eq!(
            join_frame("a", Some(("e1", 5)), 0).unwrap(),
            r#"{"type":"join","payload":{"roomId":"a","since":{"epoch":"e1","seq":5}}}"#
        );
        assert_eq!(
            join_frame("a", None, 20).unwrap(),
            r#"{"type":"join","payload":{"roomId":"a","recent":20}}"#
        );
        assert_eq!(
            room_frame("leave", "a").unwrap(),
            r#"{"type":"leave","payload":{"roomId":"a"}}"#
        );
    }
}
