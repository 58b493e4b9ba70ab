//! `Typists`: who is typing in a room, each entry expiring a few seconds after its last notice.

use std::time::Duration;

/// How long a `typing` notice counts: the indicator goes away this long after the last one.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(3);

/// Who is typing in one room. A `typing` notice from a member shows them as typing until
/// [`TYPING_EXPIRY`] after it; a message from them, or their leaving, clears it at once.
///
/// Time is passed in (milliseconds since the Unix epoch), so tests drive it with a virtual clock.
///
/// ```
/// use tether_app::typing::Typists;
///
/// let mut typists = Typists::default();
/// typists.record("id-1", "Alice", 1_000);
/// assert_eq!(typists.names(2_000), ["Alice"]);
/// assert!(typists.names(4_000).is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typists {
    // In order of first notice, so the text does not reshuffle as notices refresh.
    entries: Vec<Typist>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Typist {
    user_id: String,
    name: String,
    until: u64,
}

impl Typists {
    /// Records a `typing` notice from `user_id`, shown as `name`, received at `now_ms`.
    pub fn record(&mut self, user_id: &str, name: &str, now_ms: u64) {
        self.prune(now_ms);
        let until = now_ms.saturating_add(expiry_ms());
        match self.entries.iter_mut().find(|t| t.user_id == user_id) {
            Some(typist) => {
                typist.until = until;
                name.clone_into(&mut typist.name);
            }
            None => self.entries.push(Typist {
                user_id: user_id.to_owned(),
                name: name.to_owned(),
                until,
            }),
        }
    }

    /// Stops showing `user_id` as typing (it sent its message, or left).
    pub fn clear(&mut self, user_id: &str) {
        self.entries.retain(|t| t.user_id != user_id);
    }

    /// Forgets everyone (after a disconnect).
    pub fn clear_all(&mut self) {
        self.entries.clear();
    }

    /// The names of those typing at `now_ms`.
    pub fn names(&self, now_ms: u64) -> Vec<String> {
        self.entries
            .iter()
            .filter(|t| now_ms < t.until)
            .map(|t| t.name.clone())
            .collect()
    }

    fn prune(&mut self, now_ms: u64) {
        self.entries.retain(|t| now_ms < t.until);
    }
}

fn expiry_ms() -> u64 {
    u64::try_from(TYPING_EXPIRY.as_millis()).unwrap_or(u64::MAX)
}

/// The indicator's text for these names: "Alice is typing…", "Alice and Bob are typing…",
/// "Several people are typing…", or `None` when nobody is.
pub fn typing_text(names: &[String]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [a, b] => Some(format!("{a} and {b} are typing…")),
        _ => Some("Several people are typing…".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_shows_for_three_seconds() {
        let mut typists = Typists::default();
        typists.record("a", "Alice", 10_000);
        assert_eq!(typists.names(10_000), ["Alice"]);
        assert_eq!(typists.names(12_999), ["Alice"]);
        assert!(typists.names(13_000).is_empty());
    }

    #[test]
    fn a_new_notice_extends_the_expiry() {
        let mut typists = Typists::default();
        typists.record("a", "Alice", 0);
        typists.record("a", "Alice", 2_000);
        assert_eq!(typists.names(4_500), ["Alice"]);
        assert!(typists.names(5_000).is_empty());
    }

    #[test]
    fn several_typists_keep_their_order() {
        let mut typists = Typists::default();
        typists.record("a", "Alice", 0);
        typists.record("b", "Bob", 100);
        typists.record("a", "Alice", 200);
        assert_eq!(typists.names(300), ["Alice", "Bob"]);
    }

    #[test]
    fn a_message_clears_its_author() {
        let mut typists = Typists::default();
        typists.record("a", "Alice", 0);
        typists.record("b", "Bob", 0);
        typists.clear("a");
        assert_eq!(typists.names(1), ["Bob"]);
    }

    #[test]
    fn expired_entries_are_dropped_on_the_next_notice() {
        let mut typists = Typists::default();
        typists.record("a", "Alice", 0);
        typists.record("b", "Bob", 10_000);
        assert_eq!(typists.entries.len(), 1);
    }

    #[test]
    fn text_for_none_one_two_and_many() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(typing_text(&[]), None);
        assert_eq!(
            typing_text(&names(&["Alice"])).as_deref(),
            Some("Alice is typing…")
        );
        assert_eq!(
            typing_text(&names(&["Alice", "Bob"])).as_deref(),
            Some("Alice and Bob are typing…")
        );
        assert_eq!(
            typing_text(&names(&["A", "B", "C"])).as_deref(),
            Some("Several people are typing…")
        );
    }
}
