//! `ChatClient`: joins [`UseSocket`] and [`ChatState`]: it folds every server message into the
//! state and turns user actions into protocol messages.

use crate::{
    browser_store::Session,
    chat_line::Delivery,
    chat_state::{ChatState, Followup, PRESENCE_RETRY},
    clock::now_ms,
    decode::{decode_connection, decode_identity, decode_room},
    room::PAGE,
    throttle::Throttle,
    use_socket::UseSocket,
};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use std::time::Duration;
use tether_client::{
    Incoming, JsonValue, RequestError, SendError, SocketEvent,
    protocol::{Identify, RoomRef, ServerMessage},
};

/// How long a message waits for its ack before it shows as not delivered. Long enough to cover a
/// reconnect (a message sent while reconnecting waits in the queue and its clock runs); one that
/// timed out is sent again, with its `cid`, after the next reconnect.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a page of history may take.
pub const HISTORY_TIMEOUT: Duration = Duration::from_secs(15);

/// At most one `typing` notice per this long while the user types.
pub const TYPING_THROTTLE: Duration = Duration::from_secs(2);

/// The `performance.mark` set whenever the server says `connected`; the first one is the page's
/// time from load to connected, which the end-to-end test reads.
pub const CONNECTED_MARK: &str = "tether:connected";

/// The room half of the client, which the chat screen hands over when it loads (see
/// [`ChatClient::handle_room_events`]): until then there are no rooms, and the first page does
/// not carry what only rooms need (decoding room messages, sending chat messages).
#[derive(Debug, Clone, Copy)]
pub struct RoomEvents {
    /// A server message: [`ChatClient::receive_room`].
    pub receive: fn(ChatClient, &JsonValue),
    /// The connection came back: [`ChatClient::resend_failed`].
    pub reconnected: fn(ChatClient),
    /// A room's missed messages could not be recovered: [`ChatClient::not_recovered`].
    pub not_recovered: fn(ChatClient, &str, &str),
    /// The server said `connected`: [`ChatClient::identified`], true if a token names this
    /// client (then no `identify`).
    pub connected: fn(ChatClient, &JsonValue) -> bool,
}

impl RoomEvents {
    /// The room half of [`ChatClient`].
    pub const CHAT: Self = Self {
        receive: ChatClient::receive_room,
        reconnected: ChatClient::resend_failed,
        not_recovered: ChatClient::not_recovered,
        connected: ChatClient::identified,
    };
}

/// The chat's state and actions over one socket. `Copy`, so handlers capture it freely.
#[derive(Debug, Clone, Copy)]
pub struct ChatClient {
    /// The connection.
    pub socket: UseSocket,
    /// Everything the chat shows.
    pub state: RwSignal<ChatState>,
    typing: StoredValue<Throttle>,
    room_events: StoredValue<Option<RoomEvents>>,
    // This page's `cid`s: a random prefix and a count.
    cid_prefix: u32,
    sent: StoredValue<u64>,
}

impl ChatClient {
    /// Starts following `socket` for as long as the current owner lives.
    pub fn new(socket: UseSocket) -> Self {
        let client = Self {
            socket,
            state: RwSignal::new(ChatState::default()),
            typing: StoredValue::new(Throttle::new(TYPING_THROTTLE)),
            room_events: StoredValue::new(None),
            // 32 random bits: two pages of one client draw the same with odds of one in four
            // billion, and a clash costs a message only within the server's dedupe window.
            cid_prefix: (js_sys::Math::random() * f64::from(u32::MAX)) as u32,
            sent: StoredValue::new(0),
        };
        socket.on_event(move |event| match event {
            SocketEvent::Message(message) => client.receive(message),
            // tether-client rejoins the rooms by itself before this event. (The nickname is said
            // again when the server says `connected`.)
            SocketEvent::Open { reconnected: true } => {
                if let Some(rooms) = client.room_events.try_get_value().flatten() {
                    (rooms.reconnected)(client);
                }
            }
            SocketEvent::RoomNotRecovered { room, reason } => {
                if let Some(rooms) = client.room_events.try_get_value().flatten() {
                    (rooms.not_recovered)(client, room, reason);
                }
            }
            // A function rather than a closure with the code: one `update` fewer to compile
            // into the first page.
            SocketEvent::Close(close) => client.state.update(ChatState::on_close(close.code)),
            _ => {}
        });
        client
    }

    fn receive(&self, message: &Incoming) {
        // The server sends text frames only.
        let Some(message) = message.as_text().and_then(JsonValue::parse) else {
            return;
        };
        match decode_connection(&message) {
            Some(connection) => {
                let connected = matches!(connection, ServerMessage::Connected(_));
                if let ServerMessage::Connected(connected) = &connection {
                    mark_connected();
                    // For a reload of this tab: the socket presents the token on its own
                    // reconnects, the next page only if it finds it here.
                    if let Some(token) = &connected.resume_token {
                        Session::save_token(token);
                    }
                }
                // It hands nothing back for these two. `try_`: the owner may be gone.
                let _ = self
                    .state
                    .try_update(|state| state.apply_connection(connection));
                // The server forgot the nickname with the last connection: say it again, unless
                // a token names this client (only the chat screen, which signs in, can tell).
                let rooms = self.room_events.try_get_value().flatten();
                if connected && !rooms.is_some_and(|rooms| (rooms.connected)(*self, &message)) {
                    self.identify();
                }
            }
            // Before the chat screen there are no rooms, and `apply_room` would ignore an event
            // for a room it does not have anyway.
            None => {
                if let Some(rooms) = self.room_events.try_get_value().flatten() {
                    (rooms.receive)(*self, &message);
                }
            }
        }
    }

    /// Takes in a server message about rooms: folds it into the state
    /// ([`ChatState::apply_room`]) and sends what that asks for. A type this version does not
    /// know is skipped, as PROTOCOL.md asks of clients. Reached only through the chat screen
    /// ([`RoomEvents`]), so that all of it travels in the screen's module.
    pub fn receive_room(self, message: &JsonValue) {
        let Some(event) = decode_room(message) else {
            return;
        };
        let followups = self
            .state
            .try_update(|state| state.apply_room(event, now_ms()))
            .unwrap_or_default();
        for followup in followups {
            match followup {
                Followup::Presence(room) => self.ask_presence(room),
                Followup::PresenceSoon(room) => {
                    let client = self;
                    leptos::task::spawn_local(async move {
                        TimeoutFuture::new(millis(PRESENCE_RETRY)).await;
                        client.ask_presence(room);
                    });
                }
            }
        }
    }

    fn ask_presence(&self, room: String) {
        // Only while still in the room (the answer would be `not_in_room` otherwise), and best
        // effort: if it cannot go out, the next join asks again.
        let joined = self
            .state
            .try_with_untracked(|state| state.room(&room).is_some_and(|r| r.joined))
            .unwrap_or(false);
        if joined {
            let _ = self.socket.send("presence", &RoomRef::new(room));
        }
    }

    /// With token auth, takes in who `connected` says this client is
    /// ([`ChatState::apply_identity`]) and says true: the name is the token's, and `identify` may
    /// not be sent. False without a token. Reached through [`RoomEvents`] only: a client signs
    /// in from the chat screen, so the screen's module is there for every `connected` that
    /// carries a token.
    pub fn identified(self, message: &JsonValue) -> bool {
        let Some((user, name)) = decode_identity(message) else {
            return false;
        };
        let named = name.is_some();
        let _ = self
            .state
            .try_update(|state| state.apply_identity(user, name));
        named
    }

    /// Takes in room events from now on, with the room half of the client ([`RoomEvents`]).
    /// Until then only connection messages are: the first page does not carry the room logic.
    pub fn handle_room_events(&self, rooms: RoomEvents) {
        self.room_events.set_value(Some(rooms));
    }

    /// Sets the nickname, and tells the server (`identify`) now if connected; otherwise, and
    /// after every reconnect, it goes when the server says `connected`. With token auth the
    /// token's name replaces it ([`ChatState::nickname`]), and the chat screen signs in with it.
    pub fn set_nickname(&self, name: String) -> Result<(), String> {
        if self.state.with_untracked(|state| state.me.is_some()) {
            self.socket
                .send("identify", &Identify { name: name.clone() })
                .map_err(|e| format!("Could not set the nickname: {}", send_failure_text(&e)))?;
        }
        self.state.update(|state| state.nickname = Some(name));
        Ok(())
    }

    fn identify(&self) {
        if let Some(name) = self.state.with_untracked(|state| state.nickname.clone()) {
            // A failure here means the socket closed again; the next `connected` sends it again.
            let _ = self.socket.send("identify", &Identify { name });
        }
    }

    /// Joins `room` (a name [`parse_room_name`](crate::room::parse_room_name) let through) and
    /// shows it.
    pub fn join(&self, room: &str) -> Result<(), String> {
        self.state.update(|state| {
            state.open_room(room);
        });
        let joined = self.socket.join(room).map_err(|e| {
            self.state.update(|state| state.close_room(room));
            format!("Could not join {room}: {}", send_failure_text(&e))
        });
        self.remember_rooms();
        joined
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) {
        // Fails only when the socket is closed for good, and then the server has already
        // dropped this client from every room.
        let _ = self.socket.leave(room);
        self.state.update(|state| state.close_room(room));
        self.remember_rooms();
    }

    /// Shows a room.
    pub fn select(&self, room: &str) {
        self.state.update(|state| state.select(room));
        self.remember_rooms();
    }

    /// Keeps the rooms open, and the one shown, for a reload of this tab.
    fn remember_rooms(&self) {
        self.state.with_untracked(|state| {
            Session::save_rooms(
                state.current.as_deref(),
                state.rooms.iter().map(|room| room.name.as_str()),
            );
        });
    }

    /// Sends `text` to the room shown: it appears at once as pending, and turns delivered when
    /// the server acks it.
    pub fn send(&self, text: &str) -> Result<(), String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let room = self
            .state
            .with_untracked(|state| state.current.clone())
            .ok_or("Join a room first.")?;
        let cid = self.new_cid();
        let key = self
            .state
            .try_update(|state| state.add_own(&room, text, cid.clone(), now_ms()))
            .flatten()
            .ok_or("That room is gone.")?;
        self.typing.update_value(Throttle::reset);
        self.deliver(room, key, text.to_owned(), cid);
        Ok(())
    }

    /// A `cid` no other message of this page or any other has: a random prefix drawn once per
    /// page, and a count.
    fn new_cid(&self) -> String {
        let count = self.sent.try_update_value(|n| {
            *n += 1;
            *n
        });
        format!("{}-{}", self.cid_prefix, count.unwrap_or_default())
    }

    /// Sends a message that failed once more.
    pub fn retry(&self, key: u64) {
        let Some(room) = self.state.with_untracked(|state| state.current.clone()) else {
            return;
        };
        if let Some((text, cid)) = self
            .state
            .try_update(|state| state.retry(&room, key))
            .flatten()
        {
            self.deliver(room, key, text, cid);
        }
    }

    /// After a reconnect: sends again, with their `cid`s, one's own messages that failed for a
    /// reason that may have passed (a timeout while the server was away, say). Reached through
    /// [`RoomEvents`] only.
    pub fn resend_failed(self) {
        let again = self
            .state
            .try_update(ChatState::take_failed)
            .unwrap_or_default();
        for (room, key, text, cid) in again {
            self.deliver(room, key, text, cid);
        }
    }

    /// Says in `room` that the messages missed there could not be recovered (`reason`, the
    /// server's). Reached through [`RoomEvents`] only.
    pub fn not_recovered(self, room: &str, reason: &str) {
        let _ = self
            .state
            .try_update(|state| state.not_recovered(room, reason));
    }

    /// Asks for a page of the shown room's messages older than those shown, unless one is on
    /// its way or there are none.
    pub fn load_older(&self) {
        let Some((room, before)) = self
            .state
            .try_update(|state| {
                let room = state.current.clone()?;
                let before = state.start_loading_older(&room)?;
                Some((room, before))
            })
            .flatten()
        else {
            return;
        };
        self.fetch_history(room, Some(before));
    }

    /// Shows the latest page of a room's history afresh: for a room whose missed messages
    /// could not be recovered.
    pub fn reload_history(&self, room: &str) {
        if self.state.try_update(|state| state.start_reload(room)) == Some(true) {
            self.fetch_history(room.to_owned(), None);
        }
    }

    fn fetch_history(&self, room: String, before: Option<u64>) {
        let page = self.socket.history(&room, before, PAGE, HISTORY_TIMEOUT);
        let state = self.state;
        leptos::task::spawn_local(async move {
            let page = page.await;
            // The owner may be gone, and the room left, while the page was on its way.
            let _ = state.try_update(|state| match page {
                Ok(page) => state.apply_history(page),
                Err(_) => state.history_failed(&room),
            });
        });
    }

    /// Removes a message of the room shown that was not delivered.
    pub fn remove(&self, key: u64) {
        self.state.update(|state| {
            if let Some(room) = state.current.clone() {
                state.remove_undelivered(&room, key);
            }
        });
    }

    fn deliver(&self, room: String, key: u64, text: String, cid: String) {
        let reply = self.socket.send_message(&room, &text, &cid, ACK_TIMEOUT);
        let state = self.state;
        leptos::task::spawn_local(async move {
            let result = reply.await;
            // The line may have been removed, or its room left, while the ack was on its way.
            let _ = state.try_update(|state| match result {
                Ok(posted) => state.delivered(&room, key, posted.seq),
                Err(error) => {
                    let code = match &error {
                        RequestError::Refused { code, .. } => *code,
                        _ => None,
                    };
                    state.set_delivery(&room, key, Delivery::failed(code, failure_text(error)));
                }
            });
        });
    }

    /// The user typed in the composer: tells the room, at most once per [`TYPING_THROTTLE`].
    pub fn typing(&self) {
        let Some(room) = self.state.with_untracked(|state| {
            state
                .current_room()
                .filter(|room| room.joined)
                .map(|room| room.name.clone())
        }) else {
            return;
        };
        if self.typing.try_update_value(|t| t.ready(now_ms())) == Some(true) {
            // Typing notices are best effort: one that cannot go out is not worth an error.
            let _ = self.socket.send("typing", &RoomRef::new(room));
        }
    }

    /// Clears the notice.
    pub fn dismiss_notice(&self) {
        self.state.update(|state| state.notice = None);
    }
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// Why a message was not delivered, for people. Written out rather than the errors' `Display`,
/// which formats durations with `Debug` and would add that machinery to the .wasm.
fn failure_text(error: RequestError) -> String {
    match error {
        RequestError::Send(error) => send_failure_text(&error).to_owned(),
        RequestError::Timeout(_) => "no answer from the server in time".to_owned(),
        RequestError::Closed => "the connection dropped before the server answered".to_owned(),
        RequestError::Refused { message, .. } => message,
        _ => "not delivered".to_owned(),
    }
}

/// Why a send was refused, for people.
fn send_failure_text(error: &SendError) -> &'static str {
    match error {
        SendError::QueueFull { .. } => "too many messages are waiting for the connection.",
        SendError::Closed => "the connection is closed; press \"Reconnect now\".",
        _ => "the browser refused to send it.",
    }
}

/// Marks the moment the server said `connected`, for the page-load-to-connected figure.
fn mark_connected() {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        // A browser without user timing loses only the measurement.
        let _ = performance.mark(CONNECTED_MARK);
    }
}
