//! `ChatLine`: one message in a room's list, and where an own message is in its delivery.

/// Where a message is on its way. Messages from others are [`Delivery::Received`]; one's own start
/// [`Delivery::Pending`] and turn [`Delivery::Delivered`] when the server's ack arrives, or
/// [`Delivery::Failed`] when it refuses, times out or the connection drops first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Someone else's message, as the server relayed it.
    Received,
    /// Sent (or queued while reconnecting); no ack yet.
    Pending,
    /// The server acked it: every other member of the room has it queued.
    Delivered,
    /// No successful ack; the text says why. The user may retry.
    Failed(String),
}

/// One message in a room's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Unique within the app's life: the list's key, and how an ack finds its line.
    pub key: u64,
    /// The sender's client id (one's own while connected, or empty before the first connect).
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
}

impl ChatLine {
    /// A short status for one's own messages, for people and screen readers.
    pub fn status_text(&self) -> Option<&str> {
        match &self.delivery {
            Delivery::Received => None,
            Delivery::Pending => Some("sending…"),
            Delivery::Delivered => Some("delivered"),
            Delivery::Failed(_) => Some("not delivered"),
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
            key: 1,
            from: "a".into(),
            name: "Alice".into(),
            text: "hi".into(),
            timestamp: 0,
            mine: false,
            delivery: Delivery::Received,
        };
        assert_eq!(line.status_text(), None);
        line.delivery = Delivery::Pending;
        assert_eq!(line.status_text(), Some("sending…"));
        line.delivery = Delivery::Failed("socket closed".into());
        assert_eq!(line.status_text(), Some("not delivered"));
    }
}
