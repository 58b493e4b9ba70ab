//! `Envelope`: the `{"type", "payload", "id"}` shape of everything the Rust API sends, and the
//! frames the engine builds itself (`join`, `leave`, a request with its id and `cid`).

use crate::SendError;
use serde::Serialize;
use tether_protocol::{JoinRoom, Position, RoomRef};

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

/// `{"type": kind, "payload": {"roomId": room}}`: a `leave`, or a plain `join`.
pub(crate) fn room_frame(kind: &str, room: &str) -> Result<String, SendError> {
    encode(&Envelope {
        kind,
        payload: &RoomRef::new(room),
        id: None,
    })
}

/// A `join` with `since` (the epoch's text and a `seq`), or with `recent` if that is not 0.
pub(crate) fn join_frame(
    room: &str,
    since: Option<(&str, u64)>,
    recent: u32,
) -> Result<String, SendError> {
    let mut join = JoinRoom::new(room);
    join.since = since.map(|(epoch, seq)| Position {
        epoch: epoch.to_owned(),
        seq,
    });
    join.recent = (recent > 0).then_some(recent);
    encode(&Envelope {
        kind: "join",
        payload: &join,
        id: None,
    })
}

/// A request: `payload` (JSON text) in an envelope with `id`, and, if given, `cid` as the
/// payload's first field (unless the payload, an object, has one already).
pub(crate) fn request_frame(
    kind: &str,
    payload: &str,
    id: u64,
    cid: Option<&str>,
) -> Result<String, SendError> {
    let kind = encode(kind)?;
    let payload = match (cid, payload.strip_prefix('{')) {
        // `"cid":` can only be a key: inside a JSON string, a quote is escaped.
        (Some(cid), Some(rest)) if !payload.contains("\"cid\":") => {
            let comma = if rest.trim_start().starts_with('}') {
                ""
            } else {
                ","
            };
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
