//! `ChatState`: everything the chat shows, as plain data that server messages and user actions
//! update. No browser in sight, so it is tested natively with a virtual clock.

use crate::{
    chat_line::{ChatLine, Delivery, LineKind, guest_name},
    room::{Older, Room},
};
use tether_client::protocol::{ChatMessage, CloseCode, History, ServerMessage};

/// Something the state asks its owner to send after taking in a server message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Followup {
    /// Ask for the room's member list (`presence`): after a join, and when a member without a
    /// known name joins (it may have sent `identify` right after its rejoin).
    Presence(String),
    /// Ask for the member list again in a moment ([`PRESENCE_RETRY`]): the last one named a
    /// member by id only. After a reconnect, tether-client rejoins before the app can say its
    /// nickname again, so others may see the join, and even a first `presence`, before the
    /// `identify` that follows it.
    PresenceSoon(String),
}

/// How long to wait before asking again for a member list that had unnamed members.
pub const PRESENCE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Everything the chat shows.
///
/// ```
/// use tether_app::chat_state::{ChatState, Followup};
/// use tether_client::protocol::{ServerMessage, Joined};
///
/// let mut chat = ChatState::default();
/// chat.open_room("lobby");
/// let followups = chat.apply(
///     ServerMessage::Joined(Joined::new("lobby", 1)),
///     0,
/// );
/// assert_eq!(followups, [Followup::Presence("lobby".into())]);
/// assert!(chat.room("lobby").is_some_and(|r| r.joined));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatState {
    /// The nickname picked, sent to the server as `identify`; with token auth, the name the
    /// token gives (`connected`'s `name`), which `identify` cannot change.
    pub nickname: Option<String>,
    /// Who this page is to others while connected: the id in `from` and `userId`, which is the
    /// token's user with token auth, else the connection's client id (the same across
    /// reconnects and reloads, with the resume token).
    pub me: Option<String>,
    /// The server wants a token this page has not presented: it closed the connection with 4401.
    /// The chat screen signs in with the nickname (`sign_in`) and clears it.
    pub needs_sign_in: bool,
    /// The rooms, in the order they were joined.
    pub rooms: Vec<Room>,
    /// The room shown.
    pub current: Option<String>,
    /// The last thing that went wrong, for the user to read (a refused join, say).
    pub notice: Option<String>,
    /// The newest message from someone else, as a sentence for the screen-reader live region.
    pub announcement: String,
    next_key: u64,
}

impl ChatState {
    /// Adds a room being joined and shows it. Returns false if it was already there (it is
    /// shown all the same).
    pub fn open_room(&mut self, name: &str) -> bool {
        let new = self.room(name).is_none();
        if new {
            self.rooms.push(Room::new(name));
        }
        self.select(name);
        new
    }

    /// Removes a room; shows the next one, if any.
    pub fn close_room(&mut self, name: &str) {
        let Some(index) = self.rooms.iter().position(|r| r.name == name) else {
            return;
        };
        self.rooms.remove(index);
        if self.current.as_deref() == Some(name) {
            let next = self.rooms.get(index).or_else(|| self.rooms.last());
            self.current = next.map(|r| r.name.clone());
        }
    }

    /// Shows a room and marks its messages read.
    pub fn select(&mut self, name: &str) {
        if let Some(room) = self.room_mut(name) {
            room.unread = 0;
            self.current = Some(name.to_owned());
        }
    }

    /// The room with this name.
    pub fn room(&self, name: &str) -> Option<&Room> {
        self.rooms.iter().find(|r| r.name == name)
    }

    fn room_mut(&mut self, name: &str) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| r.name == name)
    }

    /// The room shown.
    pub fn current_room(&self) -> Option<&Room> {
        self.current.as_deref().and_then(|name| self.room(name))
    }

    /// Adds one's own message to `room` as pending, with `cid` its id for the server, and
    /// returns its key (to mark it delivered when the ack comes), or `None` if there is no such
    /// room.
    pub fn add_own(&mut self, room: &str, text: &str, cid: String, now_ms: u64) -> Option<u64> {
        let key = self.take_key();
        let from = self.me.clone().unwrap_or_default();
        let name = self.nickname.clone().unwrap_or_else(|| "me".to_owned());
        self.room_mut(room)?.push(ChatLine {
            kind: LineKind::Message,
            key,
            from,
            name,
            text: text.to_owned(),
            timestamp: now_ms,
            mine: true,
            delivery: Delivery::Pending,
            seq: None,
            cid: Some(cid),
        });
        Some(key)
    }

    /// Sets where one's own message is on its way.
    pub fn set_delivery(&mut self, room: &str, key: u64, delivery: Delivery) {
        if let Some(line) = self.room_mut(room).and_then(|r| r.line_mut(key)) {
            line.delivery = delivery;
        }
    }

    /// The server acked one's own message, at position `seq` if it keeps history. If that
    /// position is shown already (the message came back in a replay after a reconnect, before
    /// the ack of its resend), the pending line gives way to it: each message shows once.
    pub fn delivered(&mut self, room: &str, key: u64, seq: Option<u64>) {
        let Some(room) = self.room_mut(room) else {
            return;
        };
        if let Some(copy) = seq.and_then(|seq| {
            room.lines
                .iter_mut()
                .find(|line| line.seq == Some(seq) && line.key != key)
        }) {
            copy.mine = true;
            copy.delivery = Delivery::Delivered;
            room.remove_line(key, |_| true);
        } else if let Some(line) = room.line_mut(key) {
            line.seq = seq;
            line.delivery = Delivery::Delivered;
        }
    }

    /// One's own messages that failed for a reason that may have passed, marked pending again,
    /// to send once more after a reconnect: `(room, key, text, cid)`. Their `cid`s are the
    /// same, so one that did reach the server is not stored twice.
    pub fn take_failed(&mut self) -> Vec<(String, u64, String, String)> {
        let mut again = Vec::new();
        for room in &mut self.rooms {
            for line in &mut room.lines {
                if let (Delivery::Failed(_), Some(cid)) = (&line.delivery, &line.cid) {
                    again.push((room.name.clone(), line.key, line.text.clone(), cid.clone()));
                    line.delivery = Delivery::Pending;
                }
            }
        }
        again
    }

    /// Where to page back from in `room`: the position of its oldest message shown, if older
    /// ones can be loaded now; marks the page as on its way.
    pub fn start_loading_older(&mut self, room: &str) -> Option<u64> {
        let room = self.room_mut(room)?;
        if !room.can_load_older() {
            return None;
        }
        room.older = Older::Loading;
        room.oldest_seq()
    }

    /// The user asked to reload a room whose history could not be recovered: the messages
    /// shown go (one's own not yet delivered stay) and the latest page is loaded afresh.
    /// Returns whether the room is there.
    pub fn start_reload(&mut self, room: &str) -> bool {
        let Some(room) = self.room_mut(room) else {
            return false;
        };
        room.lines
            .retain(|line| line.mine && !matches!(line.delivery, Delivery::Delivered));
        room.gap = None;
        room.older = Older::Loading;
        true
    }

    /// A page of `room`'s history arrived (the answer to [`start_loading_older`] or
    /// [`start_reload`]): its messages join those shown, in position order, each once.
    ///
    /// [`start_loading_older`]: Self::start_loading_older
    /// [`start_reload`]: Self::start_reload
    pub fn apply_history(&mut self, page: History) {
        let keys: Vec<u64> = page.messages.iter().map(|_| self.take_key()).collect();
        let me = self.me.clone();
        let nickname = self.nickname.clone();
        let Some(room) = self.room_mut(&page.room_id) else {
            return;
        };
        if room.epoch.as_deref() != Some(page.epoch.as_str()) {
            // A page from before the room's history was lost, or from after: it cannot be
            // placed among the lines shown.
            room.older = Older::Done;
            return;
        }
        let lines = page
            .messages
            .into_iter()
            .zip(keys)
            .map(|(chat, key)| message_line(room, chat, key, me.as_deref(), &nickname))
            .collect();
        room.prepend(lines, page.more);
    }

    /// A page of `room`'s history could not be loaded: the user may ask again.
    pub fn history_failed(&mut self, room: &str) {
        if let Some(room) = self.room_mut(room)
            && room.older == Older::Loading
        {
            room.older = Older::Maybe;
        }
    }

    /// After a reconnect the server could not send what `room` missed (`reason`, its word for
    /// why): the room says so until the user reloads its history.
    pub fn not_recovered(&mut self, room: &str, reason: &str) {
        if let Some(room) = self.room_mut(room) {
            room.gap = Some(gap_text(reason).to_owned());
        }
    }

    /// Removes one's own message that was not delivered (failed or refused); returns whether
    /// there was one.
    pub fn remove_undelivered(&mut self, room: &str, key: u64) -> bool {
        self.room_mut(room)
            .is_some_and(|r| r.remove_line(key, |line| line.delivery.failure().is_some()))
    }

    /// Marks a failed message pending again and returns its text and `cid`, to send it once
    /// more with the same `cid` (so the server stores it once even if the first try got
    /// through). A refused one ([`Delivery::Refused`]) cannot be retried: the server would
    /// refuse it again.
    pub fn retry(&mut self, room: &str, key: u64) -> Option<(String, String)> {
        let line = self.room_mut(room)?.line_mut(key)?;
        if !matches!(line.delivery, Delivery::Failed(_)) {
            return None;
        }
        line.delivery = Delivery::Pending;
        Some((line.text.clone(), line.cid.clone()?))
    }

    /// The names of those typing in `room` at `now_ms`.
    pub fn typing_names(&self, room: &str, now_ms: u64) -> Vec<String> {
        self.room(room)
            .map(|r| r.typists.names(now_ms))
            .unwrap_or_default()
    }

    /// What to do with the state when the connection closes with `code`:
    /// [`refused`](Self::refused) for 4401 (no valid token), else
    /// [`disconnected`](Self::disconnected).
    pub fn on_close(code: u16) -> fn(&mut Self) {
        if code == CloseCode::TOKEN_INVALID.0 {
            Self::refused
        } else {
            Self::disconnected
        }
    }

    /// The server closed the connection for want of a valid token (4401): disconnected, and it
    /// wants a sign-in ([`needs_sign_in`](Self::needs_sign_in)).
    pub fn refused(&mut self) {
        self.disconnected();
        self.needs_sign_in = true;
    }

    /// The connection closed: no room is joined until the rejoin is confirmed, and member lists
    /// and typing notices are stale.
    pub fn disconnected(&mut self) {
        self.me = None;
        for room in &mut self.rooms {
            room.joined = false;
            room.members.clear();
            room.asked_again.clear();
            room.typists.clear_all();
        }
    }

    /// Takes in a message from the server, received at `now_ms`, and says what to send back:
    /// [`apply_connection`](Self::apply_connection), then
    /// [`apply_room`](Self::apply_room) with what it hands back.
    pub fn apply(&mut self, message: ServerMessage, now_ms: u64) -> Vec<Followup> {
        match self.apply_connection(message) {
            Some(room_event) => self.apply_room(room_event, now_ms),
            None => Vec::new(),
        }
    }

    /// Takes in a message about the connection itself (`connected`, `error`) and hands back any
    /// other. The app runs this half from the first page and loads the other with the chat
    /// screen (`chat_screen`): room events only come for rooms joined there.
    pub fn apply_connection(&mut self, message: ServerMessage) -> Option<ServerMessage> {
        match message {
            ServerMessage::Connected(connected) => {
                self.me = Some(connected.client_id);
                self.needs_sign_in = false;
            }
            ServerMessage::Error(error) => self.notice = Some(error.message),
            other => return Some(other),
        }
        None
    }

    /// With token auth, `connected` said who the token makes this client: `user`, which others
    /// see instead of the client id, named `name`, which replaces the nickname typed (and which
    /// `identify` cannot change). Run by the chat screen's module, after
    /// [`apply_connection`](Self::apply_connection).
    pub fn apply_identity(&mut self, user: String, name: Option<String>) {
        self.me = Some(user);
        if name.is_some() {
            self.nickname = name;
        }
    }

    /// Takes in a message about rooms (joins, members, typing, chat messages), received at
    /// `now_ms`, and says what to send back. Anything else is ignored: acks resolve their
    /// requests inside tether-client; private messages, pongs and anything newer are not part
    /// of this UI.
    pub fn apply_room(&mut self, message: ServerMessage, now_ms: u64) -> Vec<Followup> {
        match message {
            ServerMessage::Joined(joined) => {
                let me = self.me.clone();
                let nickname = self.nickname.clone();
                if let Some(room) = self.room_mut(&joined.room_id) {
                    room.joined = true;
                    room.set_epoch(joined.epoch);
                    // A room showing no message yet (a first join, a reload): what the join
                    // brings is earlier conversation.
                    if room.oldest_seq().is_none() {
                        room.history_until = joined.seq;
                    }
                    // Until the `presence` answer comes, the list shows at least oneself.
                    if let Some(me) = me {
                        room.add_member(&me, nickname);
                    }
                    return vec![Followup::Presence(joined.room_id)];
                }
            }
            ServerMessage::UserJoined(user) => {
                let key = self.take_key();
                if let Some(room) = self.room_mut(&user.room_id) {
                    let unnamed = user.name.is_none();
                    let name = display_name(room, &user.user_id, user.name.clone());
                    room.push(event_line(
                        key,
                        LineKind::Joined,
                        &user.user_id,
                        name,
                        now_ms,
                    ));
                    room.add_member(&user.user_id, user.name);
                    if unnamed {
                        return vec![Followup::Presence(user.room_id)];
                    }
                }
            }
            ServerMessage::UserLeft(user) => {
                let key = self.take_key();
                if let Some(room) = self.room_mut(&user.room_id) {
                    let name = display_name(room, &user.user_id, user.name);
                    room.push(event_line(key, LineKind::Left, &user.user_id, name, now_ms));
                    room.remove_member(&user.user_id);
                }
            }
            ServerMessage::Presence(presence) => {
                if let Some(room) = self.room_mut(&presence.room_id) {
                    room.members.clear();
                    let mut ask_again = false;
                    for member in presence.members {
                        // Once per member: a client that never identifies stays a guest.
                        if member.name.is_none() && !room.asked_again.contains(&member.user_id) {
                            room.asked_again.push(member.user_id.clone());
                            ask_again = true;
                        }
                        room.add_member(&member.user_id, member.name);
                    }
                    if ask_again {
                        return vec![Followup::PresenceSoon(presence.room_id)];
                    }
                }
            }
            ServerMessage::Typing(typing) => {
                if let Some(room) = self.room_mut(&typing.room_id) {
                    room.learn_name(&typing.user_id, typing.name.as_deref());
                    let name = display_name(room, &typing.user_id, typing.name);
                    room.typists.record(&typing.user_id, &name, now_ms);
                }
            }
            ServerMessage::Message(chat) => {
                let key = self.take_key();
                let shown = self.current.as_deref() == Some(chat.room_id.as_str());
                let me = self.me.clone();
                let nickname = self.nickname.clone();
                let Some(room) = self.room_mut(&chat.room_id) else {
                    return Vec::new();
                };
                let earlier = chat
                    .seq
                    .zip(room.history_until)
                    .is_some_and(|(seq, until)| seq <= until);
                let room_id = chat.room_id.clone();
                let text = chat.text.clone();
                let line = message_line(room, chat, key, me.as_deref(), &nickname);
                let (mine, name) = (line.mine, line.name.clone());
                room.typists.clear(&line.from);
                if !room.insert(line) || mine || earlier {
                    return Vec::new();
                }
                if !shown {
                    room.unread += 1;
                }
                self.announcement = if shown {
                    format!("{name}: {text}")
                } else {
                    format!("{name} in {room_id}: {text}")
                };
            }
            _ => {}
        }
        Vec::new()
    }

    fn take_key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }
}

/// The line of a message from the server (live, replayed or from a history page) in `room`:
/// one's own if it came from `me` (the same id across reconnects, with the resume token).
fn message_line(
    room: &mut Room,
    chat: ChatMessage,
    key: u64,
    me: Option<&str>,
    nickname: &Option<String>,
) -> ChatLine {
    let mine = me == Some(chat.from.as_str());
    room.learn_name(&chat.from, chat.name.as_deref());
    let name = match (mine, nickname) {
        (true, Some(nickname)) => nickname.clone(),
        _ => display_name(room, &chat.from, chat.name),
    };
    ChatLine {
        kind: LineKind::Message,
        key,
        from: chat.from,
        name,
        text: chat.text,
        timestamp: chat.timestamp,
        mine,
        delivery: if mine {
            Delivery::Delivered
        } else {
            Delivery::Received
        },
        seq: chat.seq,
        cid: None,
    }
}

/// What the room says when its missed messages could not be brought back, for the server's
/// `reason`.
fn gap_text(reason: &str) -> &'static str {
    match reason {
        "epoch_changed" => {
            "The server lost this room's history: messages sent while you were away are gone."
        }
        "too_many" => "You were away for too many messages to catch up on here.",
        "too_old" => "You were away longer than this room's history is kept.",
        _ => "Messages sent while you were away could not be loaded.",
    }
}

/// The line that says `user_id`, shown as `name`, joined or left (`kind`) at `now_ms`.
fn event_line(key: u64, kind: LineKind, user_id: &str, name: String, now_ms: u64) -> ChatLine {
    ChatLine {
        kind,
        key,
        from: user_id.to_owned(),
        name,
        text: String::new(),
        timestamp: now_ms,
        mine: false,
        delivery: Delivery::Received,
        seq: None,
        cid: None,
    }
}

/// The best name for `user_id`: the one the server sent, else the member list's, else a guest
/// name.
fn display_name(room: &Room, user_id: &str, sent: Option<String>) -> String {
    sent.or_else(|| room.member_name(user_id).map(str::to_owned))
        .unwrap_or_else(|| guest_name(user_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::Top;
    use tether_client::protocol::{
        ChatMessage, Connected, ErrorPayload, Joined, Member, Presence, Typing, UserEvent,
    };

    fn joined(room: &str) -> ServerMessage {
        ServerMessage::Joined(Joined::new(room, 1))
    }

    fn message(room: &str, from: &str, name: Option<&str>, text: &str) -> ServerMessage {
        ServerMessage::Message(ChatMessage {
            from: from.into(),
            room_id: room.into(),
            text: text.into(),
            timestamp: 1_700_000_000_000,
            name: name.map(Into::into),
            seq: None,
        })
    }

    fn user_joined(room: &str, id: &str, name: Option<&str>) -> ServerMessage {
        ServerMessage::UserJoined(UserEvent {
            user_id: id.into(),
            room_id: room.into(),
            name: name.map(Into::into),
        })
    }

    fn typing(room: &str, id: &str, name: &str) -> ServerMessage {
        ServerMessage::Typing(Typing {
            user_id: id.into(),
            room_id: room.into(),
            name: Some(name.into()),
        })
    }

    fn in_lobby() -> ChatState {
        let mut chat = ChatState {
            nickname: Some("Me".into()),
            ..ChatState::default()
        };
        chat.apply(
            ServerMessage::Connected(Connected {
                client_id: "me-id".into(),
                resume_token: None,
                user_id: None,
                name: None,
            }),
            0,
        );
        chat.open_room("lobby");
        chat.apply(joined("lobby"), 0);
        chat
    }

    /// The messages' texts, joins and leaves left out.
    fn texts(chat: &ChatState, room: &str) -> Vec<String> {
        chat.room(room)
            .map(|r| {
                r.lines
                    .iter()
                    .filter(|l| l.kind == LineKind::Message)
                    .map(|l| l.text.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The joins and leaves, as "Bob joined".
    fn events(chat: &ChatState, room: &str) -> Vec<String> {
        chat.room(room)
            .map(|r| {
                r.lines
                    .iter()
                    .filter_map(|l| Some(format!("{} {}", l.name, l.event_text()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A room message at position `seq` of epoch "e1".
    fn at(seq: u64, from: &str, text: &str) -> ChatMessage {
        ChatMessage {
            from: from.into(),
            room_id: "lobby".into(),
            text: text.into(),
            timestamp: 1_700_000_000_000 + seq,
            name: Some(from.to_uppercase()),
            seq: Some(seq),
        }
    }

    fn joined_at(room: &str, epoch: &str, seq: u64) -> ServerMessage {
        let mut joined = Joined::new(room, 2);
        joined.epoch = Some(epoch.into());
        joined.seq = Some(seq);
        ServerMessage::Joined(joined)
    }

    /// `in_lobby`, joined at position `top` of epoch "e1", with the messages the join brought.
    fn in_lobby_at(top: u64, recent: &[ChatMessage]) -> ChatState {
        let mut chat = in_lobby();
        chat.apply(joined_at("lobby", "e1", top), 0);
        for message in recent {
            chat.apply(ServerMessage::Message(message.clone()), 0);
        }
        chat
    }

    fn seqs(chat: &ChatState) -> Vec<Option<u64>> {
        chat.room("lobby")
            .map(|r| r.lines.iter().map(|l| l.seq).collect())
            .unwrap_or_default()
    }

    #[test]
    fn what_a_join_brings_is_earlier_conversation_and_what_follows_is_news() {
        let mut chat = in_lobby_at(2, &[at(1, "bob", "old"), at(2, "bob", "older news")]);
        chat.open_room("other");
        chat.apply(joined("other"), 0);
        chat.select("other");
        assert_eq!(chat.room("lobby").map(|r| r.unread), Some(0));
        assert_eq!(chat.announcement, "");
        chat.apply(ServerMessage::Message(at(3, "bob", "new")), 0);
        assert_eq!(chat.room("lobby").map(|r| r.unread), Some(1));
        assert_eq!(chat.announcement, "BOB in lobby: new");
    }

    #[test]
    fn each_position_shows_once_and_in_order() {
        let mut chat = in_lobby_at(1, &[at(1, "bob", "one")]);
        let mine = chat.add_own("lobby", "mine", "c1".into(), 0).expect("room");
        chat.delivered("lobby", mine, Some(4));
        // A reconnect's replay brings what was missed, and the own message again.
        for seq in [2, 3, 4, 3] {
            chat.apply(
                ServerMessage::Message(at(seq, "bob", &format!("m{seq}"))),
                0,
            );
        }
        chat.apply(ServerMessage::Message(at(5, "bob", "m5")), 0);
        assert_eq!(seqs(&chat), [1, 2, 3, 4, 5].map(Some));
        assert_eq!(texts(&chat, "lobby"), ["one", "m2", "m3", "mine", "m5"]);
    }

    #[test]
    fn a_replayed_copy_of_an_own_message_takes_the_place_of_its_pending_line() {
        let mut chat = in_lobby_at(1, &[at(1, "bob", "one")]);
        let key = chat.add_own("lobby", "hi", "c1".into(), 0).expect("room");
        // The ack went down with the connection; the rejoin replays the message, then the
        // resend's ack says where it already is.
        chat.apply(ServerMessage::Message(at(2, "me-id", "hi")), 0);
        chat.delivered("lobby", key, Some(2));
        let room = chat.room("lobby").expect("room");
        assert_eq!(texts(&chat, "lobby"), ["one", "hi"]);
        let line = room.lines.last().expect("line");
        assert!(line.mine);
        assert_eq!(line.delivery, Delivery::Delivered);
        assert_eq!(line.name, "Me");
        assert_eq!(chat.announcement, "", "one's own message is not announced");
    }

    #[test]
    fn a_retry_and_a_resend_keep_the_cid() {
        let mut chat = in_lobby();
        let failed = chat.add_own("lobby", "a", "c-a".into(), 0).expect("room");
        let refused = chat.add_own("lobby", "b", "c-b".into(), 0).expect("room");
        chat.set_delivery("lobby", failed, Delivery::Failed("timeout".into()));
        chat.set_delivery("lobby", refused, Delivery::Refused("too long".into()));
        assert_eq!(
            chat.take_failed(),
            [("lobby".into(), failed, "a".into(), "c-a".into())]
        );
        assert_eq!(chat.take_failed(), [], "pending again, so taken once");
        chat.set_delivery("lobby", failed, Delivery::Failed("timeout".into()));
        assert_eq!(
            chat.retry("lobby", failed),
            Some(("a".into(), "c-a".into()))
        );
    }

    #[test]
    fn older_pages_go_on_top_until_the_start() {
        let recent: Vec<_> = (101..=150).map(|seq| at(seq, "bob", "m")).collect();
        let mut chat = in_lobby_at(150, &recent);
        let room = chat.room("lobby").expect("room");
        assert_eq!(room.top(), Top::More);
        assert_eq!(chat.start_loading_older("lobby"), Some(101));
        assert_eq!(chat.room("lobby").map(Room::top), Some(Top::Loading));
        assert_eq!(
            chat.start_loading_older("lobby"),
            None,
            "one page at a time"
        );
        let page = |from: u64, to: u64, more| History {
            room_id: "lobby".into(),
            epoch: "e1".into(),
            messages: (from..=to).map(|seq| at(seq, "me-id", "p")).collect(),
            more,
        };
        chat.apply_history(page(51, 100, true));
        assert_eq!(seqs(&chat).first(), Some(&Some(51)));
        assert!(chat.room("lobby").is_some_and(|r| r.lines[0].mine));
        assert_eq!(chat.start_loading_older("lobby"), Some(51));
        chat.apply_history(page(1, 50, false));
        assert_eq!(seqs(&chat), (1..=150).map(Some).collect::<Vec<_>>());
        assert_eq!(chat.room("lobby").map(Room::top), Some(Top::Start));
        assert_eq!(chat.start_loading_older("lobby"), None);
    }

    #[test]
    fn a_page_that_fails_can_be_asked_for_again_and_one_from_another_epoch_is_dropped() {
        let mut chat = in_lobby_at(10, &[at(10, "bob", "m")]);
        assert_eq!(chat.start_loading_older("lobby"), Some(10));
        chat.history_failed("lobby");
        assert_eq!(chat.start_loading_older("lobby"), Some(10));
        chat.apply_history(History {
            room_id: "lobby".into(),
            epoch: "e0".into(),
            messages: vec![at(9, "bob", "elsewhere")],
            more: true,
        });
        assert_eq!(texts(&chat, "lobby"), ["m"]);
        assert_eq!(chat.room("lobby").map(Room::top), Some(Top::Nothing));
    }

    #[test]
    fn a_lost_history_is_said_and_can_be_reloaded() {
        let mut chat = in_lobby_at(3, &[at(3, "bob", "before")]);
        let pending = chat
            .add_own("lobby", "waiting", "c1".into(), 0)
            .expect("room");
        ChatState::on_close(1006)(&mut chat);
        // The server came back with a new epoch: the old positions mean nothing any more.
        chat.apply(joined_at("lobby", "e2", 0), 0);
        chat.not_recovered("lobby", "epoch_changed");
        assert_eq!(seqs(&chat), [None, None]);
        chat.apply(
            ServerMessage::Message(ChatMessage {
                seq: Some(1),
                ..at(1, "bob", "after")
            }),
            0,
        );
        let room = chat.room("lobby").expect("room");
        assert!(room.gap.as_deref().is_some_and(|gap| gap.contains("lost")));
        assert_eq!(texts(&chat, "lobby"), ["before", "after", "waiting"]);
        assert!(chat.start_reload("lobby"));
        assert_eq!(texts(&chat, "lobby"), ["waiting"]);
        assert_eq!(chat.room("lobby").and_then(|r| r.gap.clone()), None);
        chat.apply_history(History {
            room_id: "lobby".into(),
            epoch: "e2".into(),
            messages: vec![at(1, "bob", "after")],
            more: false,
        });
        assert_eq!(texts(&chat, "lobby"), ["after", "waiting"]);
        assert!(
            chat.room("lobby")
                .is_some_and(|r| r.lines.iter().any(|l| l.key == pending))
        );
    }

    #[test]
    fn joining_asks_for_the_member_list() {
        let mut chat = ChatState::default();
        assert!(chat.open_room("lobby"));
        assert!(!chat.room("lobby").is_some_and(|r| r.joined));
        assert_eq!(
            chat.apply(joined("lobby"), 0),
            [Followup::Presence("lobby".into())]
        );
        assert!(chat.room("lobby").is_some_and(|r| r.joined));
    }

    #[test]
    fn several_rooms_at_once_in_join_order() {
        let mut chat = ChatState::default();
        chat.open_room("a");
        chat.open_room("b");
        assert!(!chat.open_room("a"));
        let names: Vec<_> = chat.rooms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(chat.current.as_deref(), Some("a"));
    }

    #[test]
    fn leaving_the_shown_room_shows_the_next() {
        let mut chat = ChatState::default();
        chat.open_room("a");
        chat.open_room("b");
        chat.open_room("c");
        chat.select("b");
        chat.close_room("b");
        assert_eq!(chat.current.as_deref(), Some("c"));
        chat.close_room("c");
        assert_eq!(chat.current.as_deref(), Some("a"));
        chat.close_room("a");
        assert_eq!(chat.current, None);
    }

    #[test]
    fn own_message_is_pending_then_delivered_by_key() {
        let mut chat = in_lobby();
        let first = chat
            .add_own("lobby", "one", "c1".into(), 5)
            .expect("room exists");
        let second = chat
            .add_own("lobby", "two", "c2".into(), 6)
            .expect("room exists");
        let delivery = |chat: &ChatState| -> Vec<Delivery> {
            chat.room("lobby")
                .map(|r| r.lines.iter().map(|l| l.delivery.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(delivery(&chat), [Delivery::Pending, Delivery::Pending]);
        chat.set_delivery("lobby", second, Delivery::Delivered);
        assert_eq!(delivery(&chat), [Delivery::Pending, Delivery::Delivered]);
        chat.set_delivery("lobby", first, Delivery::Failed("timeout".into()));
        assert_eq!(
            chat.retry("lobby", first),
            Some(("one".into(), "c1".into()))
        );
        assert_eq!(delivery(&chat), [Delivery::Pending, Delivery::Delivered]);
        let line = &chat.room("lobby").expect("room").lines[0];
        assert!(line.mine);
        assert_eq!((line.name.as_str(), line.from.as_str()), ("Me", "me-id"));
    }

    #[test]
    fn retry_only_applies_to_failed_messages() {
        let mut chat = in_lobby();
        let key = chat
            .add_own("lobby", "hi", "c1".into(), 0)
            .expect("room exists");
        assert_eq!(chat.retry("lobby", key), None);
    }

    #[test]
    fn own_message_to_an_unknown_room_is_refused() {
        assert_eq!(
            ChatState::default().add_own("nowhere", "hi", "c1".into(), 0),
            None
        );
    }

    #[test]
    fn a_burst_of_messages_is_kept_whole_and_in_order() {
        let mut chat = in_lobby();
        for i in 0..200 {
            chat.apply(message("lobby", "b", Some("Bob"), &format!("m{i}")), 0);
        }
        let expected: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        assert_eq!(texts(&chat, "lobby"), expected);
    }

    #[test]
    fn messages_take_the_senders_name_or_the_member_lists() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "b", Some("Bob")), 0);
        chat.apply(message("lobby", "b", None, "hi"), 0);
        chat.apply(message("lobby", "c", None, "hey"), 0);
        let names: Vec<_> = chat
            .room("lobby")
            .expect("room")
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Message)
            .map(|l| l.name.clone())
            .collect();
        assert_eq!(names, ["Bob", "guest c"]);
    }

    fn user_left(room: &str, id: &str, name: Option<&str>) -> ServerMessage {
        ServerMessage::UserLeft(UserEvent {
            user_id: id.into(),
            room_id: room.into(),
            name: name.map(Into::into),
        })
    }

    #[test]
    fn joins_and_leaves_are_lines_in_the_conversation() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "b", Some("Bob")), 7);
        chat.apply(message("lobby", "b", Some("Bob"), "hi"), 8);
        // A leave without a name takes the member list's.
        chat.apply(user_left("lobby", "b", None), 9);
        assert_eq!(events(&chat, "lobby"), ["Bob joined", "Bob left"]);
        let room = chat.room("lobby").expect("room");
        let kinds: Vec<_> = room.lines.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, [LineKind::Joined, LineKind::Message, LineKind::Left]);
        assert_eq!(room.lines[0].timestamp, 7);
        assert_eq!(texts(&chat, "lobby"), ["hi"]);
    }

    #[test]
    fn joins_and_leaves_are_not_unread_messages_nor_announced() {
        let mut chat = in_lobby();
        chat.open_room("other");
        chat.apply(joined("other"), 0);
        chat.apply(user_joined("lobby", "b", Some("Bob")), 0);
        chat.apply(user_left("lobby", "b", Some("Bob")), 0);
        assert_eq!(chat.room("lobby").map(|r| r.unread), Some(0));
        assert_eq!(chat.announcement, "");
    }

    #[test]
    fn a_guest_join_takes_the_name_presence_brings() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "9d2c0000", None), 0);
        assert_eq!(events(&chat, "lobby"), ["guest 9d2c joined"]);
        chat.apply(
            presence(
                "lobby",
                &[("me-id", Some("Me")), ("9d2c0000", Some("Dana"))],
            ),
            0,
        );
        assert_eq!(events(&chat, "lobby"), ["Dana joined"]);
    }

    #[test]
    fn an_undelivered_message_can_be_removed_and_nothing_else() {
        let mut chat = in_lobby();
        chat.apply(message("lobby", "b", Some("Bob"), "theirs"), 0);
        let theirs = chat.room("lobby").expect("room").lines[0].key;
        let pending = chat
            .add_own("lobby", "pending", "c-pending".into(), 0)
            .expect("room exists");
        let failed = chat
            .add_own("lobby", "failed", "c-failed".into(), 0)
            .expect("room exists");
        let refused = chat
            .add_own("lobby", "refused", "c-refused".into(), 0)
            .expect("room exists");
        chat.set_delivery("lobby", failed, Delivery::Failed("timeout".into()));
        chat.set_delivery("lobby", refused, Delivery::Refused("too long".into()));
        assert!(!chat.remove_undelivered("lobby", theirs));
        assert!(!chat.remove_undelivered("lobby", pending));
        assert!(chat.remove_undelivered("lobby", failed));
        assert!(chat.remove_undelivered("lobby", refused));
        assert!(!chat.remove_undelivered("elsewhere", refused));
        assert_eq!(texts(&chat, "lobby"), ["theirs", "pending"]);
    }

    #[test]
    fn a_refused_message_cannot_be_retried() {
        let mut chat = in_lobby();
        let key = chat
            .add_own("lobby", "x", "c-x".into(), 0)
            .expect("room exists");
        chat.set_delivery("lobby", key, Delivery::Refused("too long".into()));
        assert_eq!(chat.retry("lobby", key), None);
    }

    #[test]
    fn typing_shows_for_three_seconds_and_a_message_ends_it() {
        let mut chat = in_lobby();
        chat.apply(typing("lobby", "b", "Bob"), 1_000);
        assert_eq!(chat.typing_names("lobby", 3_999), ["Bob"]);
        assert!(chat.typing_names("lobby", 4_000).is_empty());
        chat.apply(typing("lobby", "b", "Bob"), 5_000);
        chat.apply(message("lobby", "b", Some("Bob"), "done"), 5_100);
        assert!(chat.typing_names("lobby", 5_200).is_empty());
    }

    #[test]
    fn presence_replaces_the_member_list() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "old", Some("Old")), 0);
        chat.apply(
            ServerMessage::Presence(Presence {
                room_id: "lobby".into(),
                members: vec![
                    Member {
                        user_id: "me-id".into(),
                        name: Some("Me".into()),
                    },
                    Member {
                        user_id: "b".into(),
                        name: Some("Bob".into()),
                    },
                ],
                total: None,
            }),
            0,
        );
        let room = chat.room("lobby").expect("room");
        assert_eq!(room.members.len(), 2);
        assert_eq!(room.member_name("b"), Some("Bob"));
    }

    #[test]
    fn an_unnamed_member_joining_asks_for_presence() {
        let mut chat = in_lobby();
        assert_eq!(
            chat.apply(user_joined("lobby", "b", None), 0),
            [Followup::Presence("lobby".into())]
        );
        assert!(
            chat.apply(user_joined("lobby", "c", Some("Cy")), 0)
                .is_empty()
        );
    }

    fn presence(room: &str, members: &[(&str, Option<&str>)]) -> ServerMessage {
        ServerMessage::Presence(Presence {
            room_id: room.into(),
            members: members
                .iter()
                .map(|(id, name)| Member {
                    user_id: (*id).into(),
                    name: name.map(Into::into),
                })
                .collect(),
            total: None,
        })
    }

    #[test]
    fn an_unnamed_member_in_presence_is_asked_about_once_more() {
        let mut chat = in_lobby();
        let unnamed = presence("lobby", &[("me-id", Some("Me")), ("b", None)]);
        assert_eq!(
            chat.apply(unnamed.clone(), 0),
            [Followup::PresenceSoon("lobby".into())]
        );
        // Still unnamed the second time: a client that never identifies. No third ask.
        assert!(chat.apply(unnamed, 0).is_empty());
        chat.apply(presence("lobby", &[("b", Some("Bob"))]), 0);
        assert_eq!(
            chat.room("lobby").and_then(|r| r.member_name("b")),
            Some("Bob")
        );
    }

    #[test]
    fn a_named_message_or_typing_names_a_member_known_by_id_only() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "b", None), 0);
        chat.apply(typing("lobby", "b", "Bob"), 0);
        assert_eq!(
            chat.room("lobby").and_then(|r| r.member_name("b")),
            Some("Bob")
        );
        chat.apply(user_joined("lobby", "c", None), 0);
        chat.apply(message("lobby", "c", Some("Cy"), "hi"), 0);
        assert_eq!(
            chat.room("lobby").and_then(|r| r.member_name("c")),
            Some("Cy")
        );
    }

    #[test]
    fn a_member_leaving_is_removed_with_its_typing() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "b", Some("Bob")), 0);
        chat.apply(typing("lobby", "b", "Bob"), 0);
        chat.apply(
            ServerMessage::UserLeft(UserEvent {
                user_id: "b".into(),
                room_id: "lobby".into(),
                name: Some("Bob".into()),
            }),
            0,
        );
        let room = chat.room("lobby").expect("room");
        assert!(room.members.iter().all(|m| m.user_id != "b"));
        assert!(chat.typing_names("lobby", 1).is_empty());
    }

    #[test]
    fn messages_in_other_rooms_count_as_unread_until_shown() {
        let mut chat = in_lobby();
        chat.open_room("other");
        chat.apply(joined("other"), 0);
        chat.select("lobby");
        chat.apply(message("other", "b", Some("Bob"), "psst"), 0);
        chat.apply(message("lobby", "b", Some("Bob"), "hi"), 0);
        assert_eq!(chat.room("other").map(|r| r.unread), Some(1));
        assert_eq!(chat.room("lobby").map(|r| r.unread), Some(0));
        assert_eq!(chat.announcement, "Bob: hi");
        chat.select("other");
        assert_eq!(chat.room("other").map(|r| r.unread), Some(0));
    }

    #[test]
    fn a_disconnect_unjoins_every_room_until_the_rejoin_is_confirmed() {
        let mut chat = in_lobby();
        chat.apply(user_joined("lobby", "b", Some("Bob")), 0);
        chat.add_own("lobby", "kept", "c-kept".into(), 0);
        ChatState::on_close(1006)(&mut chat);
        let room = chat.room("lobby").expect("room");
        assert!(!room.joined);
        assert!(room.members.is_empty());
        assert_eq!(texts(&chat, "lobby"), ["kept"]);
        assert_eq!(chat.me, None);
        assert!(!chat.needs_sign_in);
        chat.apply(joined("lobby"), 0);
        assert!(chat.room("lobby").is_some_and(|r| r.joined));
    }

    /// `connected` with token auth, as the app takes it in: both halves.
    fn connected_with_token(chat: &mut ChatState, user: &str, name: &str) {
        chat.apply(
            ServerMessage::Connected(Connected {
                client_id: "conn-1".into(),
                resume_token: None,
                user_id: Some(user.into()),
                name: Some(name.into()),
            }),
            0,
        );
        chat.apply_identity(user.into(), Some(name.into()));
    }

    #[test]
    fn a_close_for_want_of_a_token_asks_for_a_sign_in_until_connected() {
        let mut chat = ChatState {
            nickname: Some("typed".into()),
            ..ChatState::default()
        };
        ChatState::on_close(4401)(&mut chat);
        assert!(chat.needs_sign_in);
        ChatState::on_close(1006)(&mut chat);
        assert!(chat.needs_sign_in, "still wanted after another close");
        connected_with_token(&mut chat, "dev-7a", "Ada");
        assert!(!chat.needs_sign_in);
    }

    #[test]
    fn with_a_token_one_is_the_token_s_user_by_the_token_s_name() {
        let mut chat = ChatState {
            nickname: Some("typed".into()),
            ..ChatState::default()
        };
        connected_with_token(&mut chat, "dev-7a", "Ada");
        assert_eq!(chat.me.as_deref(), Some("dev-7a"), "not the client id");
        assert_eq!(chat.nickname.as_deref(), Some("Ada"));
        chat.open_room("lobby");
        chat.apply(joined("lobby"), 0);
        // Another tab of the same user wrote this: it is one's own, under the token's name.
        chat.apply(
            message("lobby", "dev-7a", Some("Ada"), "from my other tab"),
            0,
        );
        chat.apply(message("lobby", "dev-b", Some("Bo"), "hi"), 0);
        let lines = &chat.room("lobby").expect("room").lines;
        let shown: Vec<_> = lines.iter().map(|l| (l.mine, l.name.as_str())).collect();
        assert_eq!(shown, [(true, "Ada"), (false, "Bo")]);
        let members = &chat.room("lobby").expect("room").members;
        assert!(members.iter().any(|m| m.user_id == "dev-7a"));
    }

    #[test]
    fn messages_for_rooms_not_joined_are_ignored() {
        let mut chat = in_lobby();
        chat.apply(message("elsewhere", "b", None, "hi"), 0);
        assert!(chat.room("elsewhere").is_none());
    }

    #[test]
    fn a_server_error_becomes_the_notice() {
        let mut chat = in_lobby();
        chat.apply(
            ServerMessage::Error(ErrorPayload {
                message: "room id is longer than 128 bytes".into(),
                code: None,
                retry_after_ms: None,
            }),
            0,
        );
        assert_eq!(
            chat.notice.as_deref(),
            Some("room id is longer than 128 bytes")
        );
    }

    #[test]
    fn html_in_a_message_is_kept_as_text() {
        let mut chat = in_lobby();
        let text = "<img src=x onerror=alert(1)>";
        chat.apply(message("lobby", "b", None, text), 0);
        assert_eq!(texts(&chat, "lobby"), [text]);
    }

    #[test]
    fn the_connection_half_takes_its_messages_and_hands_back_room_events() {
        let mut chat = ChatState::default();
        let connected = ServerMessage::Connected(Connected {
            client_id: "me-id".into(),
            resume_token: None,
            user_id: None,
            name: None,
        });
        assert_eq!(chat.apply_connection(connected), None);
        assert_eq!(chat.me.as_deref(), Some("me-id"));
        let error = ServerMessage::Error(ErrorPayload {
            message: "refused".into(),
            code: None,
            retry_after_ms: None,
        });
        assert_eq!(chat.apply_connection(error), None);
        assert_eq!(chat.notice.as_deref(), Some("refused"));
        let before = chat.clone();
        for event in [
            joined("lobby"),
            message("lobby", "b", None, "hi"),
            typing("lobby", "b", "B"),
        ] {
            assert_eq!(chat.apply_connection(event.clone()), Some(event));
        }
        assert_eq!(chat, before, "room events leave the connection half alone");
    }

    #[test]
    fn the_room_half_ignores_connection_messages() {
        let mut chat = in_lobby();
        let before = chat.clone();
        let connected = ServerMessage::Connected(Connected {
            client_id: "other-id".into(),
            resume_token: None,
            user_id: None,
            name: None,
        });
        assert_eq!(chat.apply_room(connected, 0), []);
        assert_eq!(chat, before);
    }
}
