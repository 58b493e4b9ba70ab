//! `Room`: what the app knows about one joined room.

use crate::{
    chat_line::{ChatLine, Delivery, LineKind, guest_name},
    typing::Typists,
};

/// The most lines a room keeps: a new one drops the oldest, and paging back stops here.
pub const MAX_LINES: usize = 2000;

/// How many messages a page of older history asks for, and how many recent ones a join shows.
pub const PAGE: u32 = 50;

/// What the top of a room's message list offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Top {
    /// Nothing: no history to page through, or the list is full.
    Nothing,
    /// A button to load older messages (scrolling to the top loads them too).
    More,
    /// "Loading older messages…".
    Loading,
    /// The room's first message is shown.
    Start,
}

/// Whether older messages than those shown can be asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Older {
    /// There may be some: the oldest message shown has a position above 1.
    #[default]
    Maybe,
    /// A page is on its way.
    Loading,
    /// None to load: the server said so, the room's history was lost, or the room holds
    /// [`MAX_LINES`].
    Done,
}

/// The longest room name the server takes by default (`--max-room-id-bytes`), in bytes.
pub const MAX_ROOM_NAME_BYTES: usize = 128;

/// The room joined when the join field is left empty; the field suggests it as its placeholder.
pub const DEFAULT_ROOM: &str = "lobby";

/// A member of a room, as `presence` and `user:joined` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id: its client id, or with token auth the token's user.
    pub user_id: String,
    /// Its display name, once it has sent `identify` (or its token gave one).
    pub name: Option<String>,
}

impl Member {
    /// The name to show: its nickname, or a guest name from its id.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| guest_name(&self.user_id))
    }
}

/// One room this client has joined (or is joining again after a reconnect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The room's id, as typed.
    pub name: String,
    /// Whether the server confirmed the join on the current connection. False while joining and
    /// from a disconnect until the automatic rejoin is confirmed.
    pub joined: bool,
    /// The messages, oldest first, at most [`MAX_LINES`].
    pub lines: Vec<ChatLine>,
    /// The members, from the last `presence` answer and the `user:joined`/`user:left` since.
    pub members: Vec<Member>,
    /// Who is typing.
    pub typists: Typists,
    /// Messages from others that arrived while another room was shown.
    pub unread: usize,
    /// Members that a `presence` answer named by id only and that were asked about again (once
    /// each, until the next disconnect).
    pub asked_again: Vec<String>,
    /// The room's history `epoch`, from the last `joined` (`None` with a server that keeps no
    /// history). Positions (`seq`) only compare within one epoch.
    pub epoch: Option<String>,
    /// Messages up to this position came with the join of a room that showed none: earlier
    /// conversation, neither unread nor announced.
    pub history_until: Option<u64>,
    /// Whether older messages can be loaded.
    pub older: Older,
    /// Why what was said here while this client was away could not be brought back (the
    /// server's reason), until the user reloads the room's history.
    pub gap: Option<String>,
}

impl Room {
    /// The name to show for `user_id`: `name`, followed by the start of its id when another
    /// member of the room goes by the same name (ignoring case), so that nobody can pass for
    /// someone else by taking their name.
    pub fn distinct_name(&self, user_id: &str, name: &str) -> String {
        let taken = self.members.iter().any(|m| {
            m.user_id != user_id && m.display_name().to_lowercase() == name.to_lowercase()
        });
        if taken {
            let short: String = user_id.chars().take(4).collect();
            format!("{name} #{short}")
        } else {
            name.to_owned()
        }
    }

    /// A room being joined.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            joined: false,
            lines: Vec::new(),
            members: Vec::new(),
            typists: Typists::default(),
            unread: 0,
            asked_again: Vec::new(),
            epoch: None,
            history_until: None,
            older: Older::Maybe,
            gap: None,
        }
    }

    /// The position of the oldest message shown.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.lines.iter().find_map(|line| line.seq)
    }

    /// Whether a page of older messages can be asked for now: none is on its way, and the
    /// oldest message shown is not the room's first.
    pub fn can_load_older(&self) -> bool {
        self.older == Older::Maybe && self.oldest_seq().is_some_and(|seq| seq > 1)
    }

    /// What the top of the message list offers.
    pub fn top(&self) -> Top {
        match (self.older, self.oldest_seq()) {
            (Older::Loading, _) => Top::Loading,
            (_, Some(1)) => Top::Start,
            (Older::Maybe, Some(_)) => Top::More,
            _ => Top::Nothing,
        }
    }

    /// Whether a message at position `seq` is shown.
    pub fn has_seq(&self, seq: u64) -> bool {
        self.lines.iter().any(|line| line.seq == Some(seq))
    }

    /// Adds a line in position order: a message with a `seq` goes before the first line with a
    /// later one (a replay after a reconnect may bring messages older than one's own acked
    /// ones), or before one's own messages not yet delivered, and is dropped if that position is
    /// already shown; anything else goes at the end.
    /// Returns whether it was added.
    pub fn insert(&mut self, line: ChatLine) -> bool {
        let Some(seq) = line.seq else {
            self.push(line);
            return true;
        };
        if self.has_seq(seq) {
            return false;
        }
        // Before any later message, else before one's own messages still on their way (they
        // will be later still), else at the end.
        let later = self
            .lines
            .iter()
            .position(|l| l.seq.is_some_and(|s| s > seq));
        let index = later.unwrap_or_else(|| {
            let waiting = self
                .lines
                .iter()
                .rev()
                .take_while(|l| l.mine && l.seq.is_none() && l.delivery != Delivery::Delivered)
                .count();
            self.lines.len() - waiting
        });
        self.lines.insert(index, line);
        self.trim();
        true
    }

    /// Adds a page of older messages (oldest first) before those shown; `more` says whether
    /// the server has older ones still. At [`MAX_LINES`] the oldest are dropped and paging
    /// stops.
    pub fn prepend(&mut self, page: Vec<ChatLine>, more: bool) {
        for line in page {
            self.insert(line);
        }
        self.older = if more { Older::Maybe } else { Older::Done };
        if self.trim() {
            self.older = Older::Done;
        }
    }

    /// A new `epoch`: the server lost the room's history, so the positions shown belong to
    /// another count and are forgotten (the lines stay), and there is nothing older to load.
    pub fn set_epoch(&mut self, epoch: Option<String>) {
        if epoch.is_some() && self.epoch.is_some() && epoch != self.epoch {
            for line in &mut self.lines {
                line.seq = None;
            }
            self.older = Older::Done;
        }
        self.epoch = epoch;
    }

    /// Drops the oldest lines past [`MAX_LINES`]; returns whether it dropped any.
    fn trim(&mut self) -> bool {
        let excess = self.lines.len().saturating_sub(MAX_LINES);
        self.lines.drain(..excess);
        excess > 0
    }

    /// Appends a message, dropping the oldest past [`MAX_LINES`].
    pub fn push(&mut self, line: ChatLine) {
        self.lines.push(line);
        self.trim();
    }

    /// The line with this key.
    pub fn line_mut(&mut self, key: u64) -> Option<&mut ChatLine> {
        self.lines.iter_mut().find(|l| l.key == key)
    }

    /// Removes the line with this key, if `remove` says so of it; returns whether it did.
    pub fn remove_line(&mut self, key: u64, remove: impl FnOnce(&ChatLine) -> bool) -> bool {
        match self.lines.iter().position(|l| l.key == key) {
            Some(index) if remove(&self.lines[index]) => {
                self.lines.remove(index);
                true
            }
            _ => false,
        }
    }

    /// Adds a member, or updates its name.
    pub fn add_member(&mut self, user_id: &str, name: Option<String>) {
        if let Some(name) = &name {
            self.name_events(user_id, name);
        }
        match self.members.iter_mut().find(|m| m.user_id == user_id) {
            Some(member) => {
                if name.is_some() {
                    member.name = name;
                }
            }
            None => self.members.push(Member {
                user_id: user_id.to_owned(),
                name,
            }),
        }
    }

    /// Takes the name an event carried for a member known by id only.
    pub fn learn_name(&mut self, user_id: &str, name: Option<&str>) {
        if let (Some(member), Some(name)) =
            (self.members.iter_mut().find(|m| m.user_id == user_id), name)
        {
            member.name = Some(name.to_owned());
            self.name_events(user_id, name);
        }
    }

    /// Names the join and leave lines of `user_id` that show it as a guest: a client that comes
    /// back after a server restart rejoins before it says its nickname again, so its join
    /// arrives without a name, and the `presence` asked for then brings it.
    fn name_events(&mut self, user_id: &str, name: &str) {
        let guest = guest_name(user_id);
        for line in &mut self.lines {
            if line.kind != LineKind::Message && line.from == user_id && line.name == guest {
                name.clone_into(&mut line.name);
            }
        }
    }

    /// Removes a member.
    pub fn remove_member(&mut self, user_id: &str) {
        self.members.retain(|m| m.user_id != user_id);
        self.typists.clear(user_id);
    }

    /// The display name of `user_id`, if it is a member with a name.
    pub fn member_name(&self, user_id: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.user_id == user_id)
            .and_then(|m| m.name.as_deref())
    }
}

/// Reads what was typed in the join field as a room name: trimmed, [`DEFAULT_ROOM`] when left
/// empty, without a leading `#` (the app shows every room name after one, so "#games" means
/// "games"; a room whose name starts with `#` is typed with two), and at most
/// [`MAX_ROOM_NAME_BYTES`] bytes.
///
/// ```
/// use tether_app::room::parse_room_name;
///
/// assert_eq!(parse_room_name(" #games "), Ok("games".to_owned()));
/// assert_eq!(parse_room_name(""), Ok("lobby".to_owned()));
/// ```
pub fn parse_room_name(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(DEFAULT_ROOM.to_owned());
    }
    let name = input.strip_prefix('#').unwrap_or(input).trim_start();
    if name.is_empty() {
        return Err("Type a room name after the #.".to_owned());
    }
    if name.len() > MAX_ROOM_NAME_BYTES {
        return Err(format!(
            "That room name is too long (at most {MAX_ROOM_NAME_BYTES} bytes)."
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_name_is_shown_with_the_start_of_each_id() {
        let mut room = Room::new("r");
        for (id, name) in [
            ("aaaa1111", "Alice"),
            ("bbbb2222", "alice"),
            ("cccc3333", "Bob"),
        ] {
            room.members.push(Member {
                user_id: id.into(),
                name: Some(name.into()),
            });
        }
        assert_eq!(room.distinct_name("aaaa1111", "Alice"), "Alice #aaaa");
        assert_eq!(room.distinct_name("bbbb2222", "alice"), "alice #bbbb");
        assert_eq!(room.distinct_name("cccc3333", "Bob"), "Bob");
        // Someone who left: nobody in the room shares the name any more.
        assert_eq!(room.distinct_name("dddd4444", "Carol"), "Carol");
    }

    fn line(key: u64) -> ChatLine {
        ChatLine {
            kind: LineKind::Message,
            key,
            from: "a".into(),
            name: "Alice".into(),
            text: format!("m{key}"),
            timestamp: key,
            mine: false,
            delivery: Delivery::Received,
            seq: None,
            cid: None,
        }
    }

    #[test]
    fn keeps_at_most_max_lines_dropping_the_oldest() {
        let mut room = Room::new("lobby");
        for key in 0..(MAX_LINES as u64 + 5) {
            room.push(line(key));
        }
        assert_eq!(room.lines.len(), MAX_LINES);
        assert_eq!(room.lines[0].key, 5);
    }

    #[test]
    fn a_member_added_twice_is_listed_once_and_keeps_its_name() {
        let mut room = Room::new("lobby");
        room.add_member("a", Some("Alice".into()));
        room.add_member("a", None);
        assert_eq!(room.members.len(), 1);
        assert_eq!(room.member_name("a"), Some("Alice"));
    }

    #[test]
    fn a_member_without_a_name_shows_as_a_guest() {
        let member = Member {
            user_id: "9d2c0000".into(),
            name: None,
        };
        assert_eq!(member.display_name(), "guest 9d2c");
    }

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(parse_room_name(" games "), Ok("games".into()));
        assert_eq!(parse_room_name(&"r".repeat(128)), Ok("r".repeat(128)));
        assert!(parse_room_name(&"r".repeat(129)).is_err());
        assert!(
            parse_room_name(&"é".repeat(65)).is_err(),
            "bytes, not characters"
        );
    }

    #[test]
    fn an_empty_join_field_joins_the_room_it_suggests() {
        assert_eq!(parse_room_name(""), Ok(DEFAULT_ROOM.into()));
        assert_eq!(parse_room_name("   "), Ok(DEFAULT_ROOM.into()));
    }

    #[test]
    fn a_leading_hash_is_the_apps_own_and_is_dropped_once() {
        assert_eq!(parse_room_name("#hash"), Ok("hash".into()));
        assert_eq!(parse_room_name("# hash"), Ok("hash".into()));
        assert_eq!(parse_room_name("##hash"), Ok("#hash".into()));
        assert_eq!(parse_room_name("c#"), Ok("c#".into()));
        assert!(parse_room_name(" # ").is_err());
        // The # does not count against the limit: it is not part of the name.
        assert!(parse_room_name(&format!("#{}", "r".repeat(128))).is_ok());
    }

    #[test]
    fn naming_a_guest_names_its_join_line() {
        let mut room = Room::new("lobby");
        room.push(ChatLine {
            kind: LineKind::Joined,
            from: "9d2c0000".into(),
            name: guest_name("9d2c0000"),
            ..line(1)
        });
        room.push(ChatLine {
            from: "9d2c0000".into(),
            name: guest_name("9d2c0000"),
            ..line(2)
        });
        room.add_member("9d2c0000", Some("Dana".into()));
        let names: Vec<_> = room.lines.iter().map(|l| l.name.as_str()).collect();
        // A message keeps the name it was sent under.
        assert_eq!(names, ["Dana", "guest 9d2c"]);
    }

    #[test]
    fn a_line_is_removed_only_if_the_test_allows() {
        let mut room = Room::new("lobby");
        room.push(line(1));
        room.push(line(2));
        assert!(!room.remove_line(1, |_| false));
        assert!(!room.remove_line(9, |_| true));
        assert!(room.remove_line(1, |_| true));
        assert_eq!(room.lines.len(), 1);
        assert_eq!(room.lines[0].key, 2);
    }
}
