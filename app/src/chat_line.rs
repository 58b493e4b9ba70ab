//! `ChatLine`: one line in a room's list (a message, or someone joining or leaving), and where an
//! own message is in its delivery.

use tether_client::protocol::ErrorCode;

/// Where a message is on its way. Messages from others are [`Delivery::Received`]; one's own start
/// [`Delivery::Pending`] and turn [`Delivery::Delivered`] when the server's ack arrives, or
/// [`Delivery::Failed`] or [`Delivery::Refused`] when it does not (see [`Delivery::failed`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Someone else's message, as the server relayed it (and every join or leave line).
    Received,
    /// Sent (or queued while reconnecting); no ack yet.
    Pending,
    /// The server acked it: every other member of the room has it queued.
    Delivered,
    /// No successful ack, for a reason that may pass (a timeout, a dropped connection, a rate
    /// limit); the text says why. The user may retry it, or remove it.
    Failed(String),
    /// The server refused the message itself (too long, empty, malformed): sending it again
    /// would be refused again, so the user may only remove it. The text says why.
    Refused(String),
}

impl Delivery {
    /// How a message ends that was not delivered, with `code` the server's refusal if it gave
    /// one: [`Refused`](Self::Refused) when the server would refuse the same text again,
    /// [`Failed`](Self::Failed) (worth a retry) otherwise.
    ///
    /// ```
    /// use tether_app::chat_line::Delivery;
    /// use tether_client::protocol::ErrorCode;
    ///
    /// let why = "text is longer than 8192 bytes".to_owned();
    /// assert!(matches!(Delivery::failed(Some(ErrorCode::TooLong), why), Delivery::Refused(_)));
    /// let why = "no answer from the server in time".to_owned();
    /// assert!(matches!(Delivery::failed(None, why), Delivery::Failed(_)));
    /// ```
    pub fn failed(code: Option<ErrorCode>, reason: String) -> Self {
        match code {
            Some(
                ErrorCode::TooLong
                | ErrorCode::Empty
                | ErrorCode::InvalidPayload
                | ErrorCode::InvalidJson
                | ErrorCode::UnknownType,
            ) => Self::Refused(reason),
            // Not in the room (yet: a rejoin is on its way), rate limited, the store unavailable,
            // or a code from a newer server: another try may well go through.
            _ => Self::Failed(reason),
        }
    }

    /// Why it was not delivered, for a message that was not.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Self::Failed(reason) | Self::Refused(reason) => Some(reason),
            _ => None,
        }
    }
}

/// What a line in a room's list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    /// A chat message.
    Message,
    /// Its sender (`from`, `name`) joined the room (`user:joined`).
    Joined,
    /// Its sender left the room (`user:left`).
    Left,
}

/// One line in a room's list: a message, or a member joining or leaving (with no text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// A message, or a join or leave.
    pub kind: LineKind,
    /// Unique within the app's life: the list's key, and how an ack finds its line.
    pub key: u64,
    /// The sender's id: its client id, or with token auth the token's user (one's own while
    /// connected, or empty before the first connect).
    pub from: String,
    /// The sender's display name.
    pub name: String,
    /// The text, exactly as typed or received. Rendered as text, never as HTML.
    pub text: String,
    /// When it was sent, in milliseconds since the Unix epoch: the server's receive time for
    /// others' messages, the local send time for one's own.
    pub timestamp: u64,
    /// Whether this client sent it.
    pub mine: bool,
    /// Where it is on its way.
    pub delivery: Delivery,
    /// Its position in the room (`seq`), once the server gave it one: received messages carry
    /// it, one's own get it with the ack. `None` for joins and leaves and for a server that keeps
    /// no history. A room shows each position once.
    pub seq: Option<u64>,
    /// One's own message's id for the server (`cid`): a retry sends the same one, so the
    /// server stores the message once however often it is sent.
    pub cid: Option<String>,
}

impl ChatLine {
    /// A short status for one's own messages, for people and screen readers.
    pub fn status_text(&self) -> Option<&str> {
        match &self.delivery {
            Delivery::Received => None,
            Delivery::Pending => Some("sending…"),
            Delivery::Delivered => Some("delivered"),
            Delivery::Failed(_) | Delivery::Refused(_) => Some("not delivered"),
        }
    }

    /// What a join or leave line says after the member's name ("joined", "left"); `None` for a
    /// message.
    pub fn event_text(&self) -> Option<&'static str> {
        match self.kind {
            LineKind::Message => None,
            LineKind::Joined => Some("joined"),
            LineKind::Left => Some("left"),
        }
    }
}

/// The name shown for a member that has not sent `identify`: "guest" and the start of its id.
pub fn guest_name(user_id: &str) -> String {
    let short: String = user_id.chars().take(4).collect();
    format!("guest {short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_use_the_start_of_the_id() {
        assert_eq!(guest_name("5b1f0c7e-7d64"), "guest 5b1f");
        assert_eq!(guest_name("ab"), "guest ab");
    }

    #[test]
    fn only_own_messages_have_a_status() {
        let mut line = ChatLine {
            kind: LineKind::Message,
            key: 1,
            from: "a".into(),
            name: "Alice".into(),
            text: "hi".into(),
            timestamp: 0,
            mine: false,
            delivery: Delivery::Received,
            seq: None,
            cid: None,
        };
        assert_eq!(line.status_text(), None);
        line.delivery = Delivery::Pending;
        assert_eq!(line.status_text(), Some("sending…"));
        line.delivery = Delivery::Failed("socket closed".into());
        assert_eq!(line.status_text(), Some("not delivered"));
        line.delivery = Delivery::Refused("text is longer than 8192 bytes".into());
        assert_eq!(line.status_text(), Some("not delivered"));
        assert_eq!(line.event_text(), None);
    }

    #[test]
    fn a_refusal_the_server_would_repeat_cannot_be_retried() {
        for code in [
            ErrorCode::TooLong,
            ErrorCode::Empty,
            ErrorCode::InvalidPayload,
        ] {
            let delivery = Delivery::failed(Some(code), "no".into());
            assert_eq!(delivery, Delivery::Refused("no".into()));
            assert_eq!(delivery.failure(), Some("no"));
        }
        for code in [
            None,
            Some(ErrorCode::RateLimited),
            Some(ErrorCode::NotInRoom),
            Some(ErrorCode::Unavailable),
            Some(ErrorCode::Unknown),
        ] {
            assert_eq!(
                Delivery::failed(code, "later".into()),
                Delivery::Failed("later".into())
            );
        }
        assert_eq!(Delivery::Delivered.failure(), None);
    }

    #[test]
    fn joins_and_leaves_say_so_after_the_name() {
        let mut line = ChatLine {
            kind: LineKind::Joined,
            key: 1,
            from: "b".into(),
            name: "Bob".into(),
            text: String::new(),
            timestamp: 0,
            mine: false,
            delivery: Delivery::Received,
            seq: None,
            cid: None,
        };
        assert_eq!(line.event_text(), Some("joined"));
        line.kind = LineKind::Left;
        assert_eq!(line.event_text(), Some("left"));
        assert_eq!(line.status_text(), None);
    }
}
