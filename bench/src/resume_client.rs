//! One client of the [resume storm](crate::resume_storm): how it comes back to each server, and
//! what it checks at the end.
//!
//! - **Tether**: it reconnects to `/ws?resume=<token>` with the token of its last `connected`
//!   (and expects its client id back), then joins its room with `since`: the room's epoch and
//!   the highest `seq` it has seen (messages, `joined`, the acks of its own messages). The
//!   server answers `joined` with `recovered`, the messages after `since`, then the join's ack.
//! - **Socket.IO** with connection-state recovery: it reconnects presenting, in its connect
//!   packet, the session id (`pid`) of its last connect and the offset of the last broadcast it
//!   received, as socket.io-client 4 does. A recovered session gets the broadcasts it missed
//!   (before the connect packet) and its rooms back; otherwise the client joins again.
//!
//! A publisher sends `p<client>:<n>` with an ack (Tether: with `cid` `c<client>.<n>`), keeps
//! what was not acked, and after reconnecting sends it all again in order, as socket.io-client's
//! `retries` or an application's resend after `emitWithAck` does; Tether's `cid` makes the
//! server store each once.

use crate::{BenchSocket, Dialect, Endpoint, dialect::SessionFrame};
use anyhow::{Context, Result, bail, ensure};
use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    time::{Instant, Interval, interval_at},
};

/// How often a client retries a refused connection, and how long it waits in between.
const RETRIES: usize = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// tungstenite's read buffer per connection: thousands of connections, small frames.
const READ_BUFFER: usize = 1024;

/// The request id of a join; messages use their number (from 1), the history check its own.
const JOIN_ID: u64 = 0;
const HISTORY_ID: u64 = 1 << 40;

/// How long the history check at the end may take.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the storm tells its clients: one value they all watch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Control {
    /// Publishers send.
    pub(crate) publishing: bool,
    /// Publishing is over: a publisher reports [`Event::Drained`] once all it sent is acked.
    pub(crate) quiet: bool,
    /// Bumped once the killed server listens again: a client that lost a server of an older
    /// generation may reconnect.
    pub(crate) server_generation: u32,
    /// Bumped to make every client reset its connection and reconnect at once.
    pub(crate) drops: u32,
    /// The run is over: check what arrived and stop.
    pub(crate) stop: bool,
}

/// What clients report while the storm runs.
#[derive(Debug)]
pub(crate) enum Event {
    /// In the room for the first time.
    Joined,
    /// The server went away.
    Lost,
    /// A connection attempt failed and will be retried.
    Retried,
    /// Back in the room, with everything missed received (as far as the server sends it).
    Back {
        /// When.
        at: Instant,
    },
    /// A publisher, publishing over, has every message acked.
    Drained,
}

/// What the clients share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Where they connect.
    pub(crate) endpoint: Endpoint,
    /// Handshakes in flight, as reconnecting clients spread by backoff would make them.
    pub(crate) handshakes: Semaphore,
    /// Where they report.
    pub(crate) events: mpsc::UnboundedSender<Event>,
    /// Members per room.
    pub(crate) room_size: usize,
    /// The first this many members of each room publish.
    pub(crate) publishers_per_room: usize,
    /// Between two messages of one publisher.
    pub(crate) period: Duration,
    /// Tether: the highest `seq` acked in each room; the room's last stored message once every
    /// publisher has drained (each message is acked in the end, a duplicate with its original's
    /// `seq`).
    pub(crate) room_tops: Vec<AtomicU64>,
    /// How many messages each client published (numbered 1 to this), kept up to date: final
    /// once publishing stops.
    pub(crate) published: Vec<AtomicU64>,
}

impl Shared {
    /// Whether client `index` publishes.
    pub(crate) fn publishes(&self, index: usize) -> bool {
        index % self.room_size < self.publishers_per_room
    }

    fn room_of(&self, index: usize) -> usize {
        index / self.room_size
    }

    /// The clients of room `room`.
    fn members(&self, room: usize) -> std::ops::Range<usize> {
        let start = room * self.room_size;
        start..(start + self.room_size).min(self.published.len())
    }
}

/// What one client counted and found; summed into the storm's result.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub(crate) published: u64,
    pub(crate) unacked_at_fault: u64,
    pub(crate) resent: u64,
    pub(crate) unacked_at_end: u64,
    pub(crate) acked_duplicate: u64,
    pub(crate) refused: u64,
    pub(crate) expected: u64,
    pub(crate) delivered: u64,
    pub(crate) replayed: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) seq_gaps: u64,
    pub(crate) seq_repeats: u64,
    pub(crate) not_recovered: u64,
    pub(crate) reasons: BTreeMap<String, u64>,
    pub(crate) new_identity: u64,
    pub(crate) store_top_mismatches: u64,
}

impl Tally {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &Tally) {
        self.published += other.published;
        self.unacked_at_fault += other.unacked_at_fault;
        self.resent += other.resent;
        self.unacked_at_end += other.unacked_at_end;
        self.acked_duplicate += other.acked_duplicate;
        self.refused += other.refused;
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.replayed += other.replayed;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.seq_gaps += other.seq_gaps;
        self.seq_repeats += other.seq_repeats;
        self.not_recovered += other.not_recovered;
        for (reason, count) in &other.reasons {
            *self.reasons.entry(reason.clone()).or_default() += count;
        }
        self.new_identity += other.new_identity;
        self.store_top_mismatches += other.store_top_mismatches;
    }
}

/// A message as a member received it.
#[derive(Debug, Clone, Copy)]
struct Received {
    seq: Option<u64>,
    publisher: u32,
    n: u32,
}

/// How a connection ended.
enum Ending {
    /// The server went away.
    Lost,
    /// The storm said to drop it; the new `drops` count.
    Dropped(u32),
    /// The run is over.
    Stop,
}

/// One client: its identity, its position, what it received and, for a publisher, what it sent.
#[derive(Debug)]
pub(crate) struct Client {
    index: usize,
    room: String,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
    publisher: bool,
    dialect: Dialect,
    // Who it is, to the server: Tether's id and token, Socket.IO's session id and offset.
    client_id: Option<String>,
    token: Option<String>,
    pid: Option<String>,
    offset: Option<String>,
    // Tether: the room's epoch, the `seq` of its first join, and the highest it has seen.
    epoch: Option<String>,
    first_seq: Option<u64>,
    last_seq: u64,
    received: Vec<Received>,
    // Publisher: the last message number given out, what is not acked yet (in order), the
    // `seq`s its own messages were acked with, and when to send the next.
    last_n: u32,
    pending: VecDeque<u32>,
    own_seqs: Vec<(u32, u64)>,
    pace: Option<Interval>,
    drained: bool,
    stored_top: Option<u64>,
    tally: Tally,
}

impl Client {
    /// Client `index`, in room `index / room_size`.
    pub(crate) fn new(
        index: usize,
        shared: Arc<Shared>,
        control: watch::Receiver<Control>,
    ) -> Self {
        let room = format!("bench-resume-{}", shared.room_of(index));
        Self {
            index,
            room,
            publisher: shared.publishes(index),
            dialect: shared.endpoint.dialect(),
            shared,
            control,
            client_id: None,
            token: None,
            pid: None,
            offset: None,
            epoch: None,
            first_seq: None,
            last_seq: 0,
            received: Vec::new(),
            last_n: 0,
            pending: VecDeque::new(),
            own_seqs: Vec::new(),
            pace: None,
            drained: false,
            stored_top: None,
            tally: Tally::default(),
        }
    }

    /// Joins, publishes or listens, loses its connection and comes back as the storm says, and
    /// returns what it found.
    pub(crate) async fn run(mut self) -> Result<Tally> {
        let mut resuming = false;
        let mut seen_drops = 0;
        // The storm may end while a client is still trying to come back.
        let mut stop = self.control.clone();
        loop {
            let generation = self.control.borrow().server_generation;
            let mut socket = tokio::select! {
                socket = self.connect(resuming) => socket?,
                stopped = stop.wait_for(|c| c.stop) => {
                    stopped.context("the run was abandoned")?;
                    break;
                }
            };
            let event = if resuming {
                Event::Back { at: Instant::now() }
            } else {
                Event::Joined
            };
            let _ = self.shared.events.send(event);
            match self.session(&mut socket, seen_drops, resuming).await? {
                Ending::Stop => {
                    if self.finish(&mut socket).await.is_err() {
                        // The store could not be asked: counted as not matching.
                        self.tally.store_top_mismatches += 1;
                    }
                    socket.close().await;
                    break;
                }
                Ending::Dropped(drops) => {
                    seen_drops = drops;
                    self.tally.unacked_at_fault += self.pending.len() as u64;
                    socket.abort();
                }
                Ending::Lost => {
                    self.tally.unacked_at_fault += self.pending.len() as u64;
                    drop(socket);
                    let _ = self.shared.events.send(Event::Lost);
                    let stop = self
                        .control
                        .wait_for(|c| c.server_generation > generation || c.stop)
                        .await
                        .context("the run was abandoned")?
                        .stop;
                    if stop {
                        break;
                    }
                }
            }
            resuming = true;
        }
        Ok(self.check())
    }

    /// Connects (resuming its session) and joins, retrying refused attempts; returns once the
    /// client is back in its room with what the server replays.
    async fn connect(&mut self, resuming: bool) -> Result<BenchSocket> {
        let shared = Arc::clone(&self.shared);
        let _permit = shared.handshakes.acquire().await?;
        let mut attempt = 0;
        loop {
            match self.try_connect(resuming).await {
                Ok(socket) => return Ok(socket),
                Err(err) if attempt == RETRIES => {
                    return Err(err.context(format!("client {} could not connect", self.index)));
                }
                Err(_) => {
                    attempt += 1;
                    let _ = self.shared.events.send(Event::Retried);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    async fn try_connect(&mut self, resuming: bool) -> Result<BenchSocket> {
        match self.dialect {
            Dialect::Guide => self.connect_tether(resuming).await,
            Dialect::SocketIo => self.connect_socket_io(resuming).await,
        }
    }

    async fn connect_tether(&mut self, resuming: bool) -> Result<BenchSocket> {
        let query = self.token.as_ref().map(|token| format!("resume={token}"));
        let endpoint = self.shared.endpoint.clone();
        let mut socket = endpoint
            .open(self.index, READ_BUFFER, query.as_deref())
            .await?;
        loop {
            let text = socket.recv().await?;
            match self.dialect.parse_session(&text).0 {
                SessionFrame::Connected {
                    client_id,
                    resume_token,
                    ..
                } => {
                    let client_id = client_id.context("connected without a clientId")?;
                    if resuming && self.client_id.as_deref() != Some(client_id) {
                        self.tally.new_identity += 1;
                    }
                    self.client_id = Some(client_id.to_owned());
                    self.token = resume_token.map(str::to_owned);
                    break;
                }
                SessionFrame::Error => bail!("refused: {text}"),
                _ => {}
            }
        }
        let since = match (&self.epoch, resuming) {
            (Some(epoch), true) => Some((epoch.as_str(), self.last_seq)),
            _ => None,
        };
        socket
            .send(self.dialect.join_since(&self.room, since, JOIN_ID))
            .await?;
        // `joined`, then (resuming) the messages after `since` up to the `seq` it gives, then
        // live ones, then the join's ack.
        let mut until = None;
        loop {
            let text = socket.recv().await?;
            match self.dialect.parse_session(&text).0 {
                SessionFrame::Joined {
                    epoch,
                    seq,
                    recovered,
                    reason,
                } => {
                    let seq = seq.context("joined without a seq")?;
                    self.epoch = Some(epoch.context("joined without an epoch")?.to_owned());
                    self.first_seq.get_or_insert(seq);
                    self.last_seq = self.last_seq.max(seq);
                    until = Some(seq);
                    if resuming && recovered != Some(true) {
                        self.tally.not_recovered += 1;
                        let reason = reason.unwrap_or("none given").to_owned();
                        *self.tally.reasons.entry(reason).or_default() += 1;
                    }
                }
                SessionFrame::Ack {
                    id: JOIN_ID, ok, ..
                } => {
                    ensure!(ok, "join refused: {text}");
                    ensure!(until.is_some(), "the join was acked before joined");
                    return Ok(socket);
                }
                SessionFrame::Error => bail!("refused: {text}"),
                frame @ SessionFrame::Message { seq, .. } => {
                    if resuming && seq.is_some_and(|seq| until.is_some_and(|u| seq <= u)) {
                        self.tally.replayed += 1;
                    }
                    self.on_frame(frame);
                }
                frame => self.on_frame(frame),
            }
        }
    }

    async fn connect_socket_io(&mut self, resuming: bool) -> Result<BenchSocket> {
        let endpoint = self.shared.endpoint.clone();
        let mut socket = endpoint.open(self.index, READ_BUFFER, None).await?;
        let open = socket.recv().await?;
        ensure!(
            self.dialect.parse_session(&open).0 == SessionFrame::Open,
            "expected Engine.IO's open packet, got {open}"
        );
        let connect = match &self.pid {
            Some(pid) => Dialect::socket_io_connect(pid, self.offset.as_deref()),
            None => Dialect::SOCKET_IO_CONNECT.to_owned(),
        };
        socket.send(connect).await?;
        // A recovered session's missed broadcasts come first, then the connect packet.
        let recovered = loop {
            let text = socket.recv().await?;
            let (frame, offset) = self.dialect.parse_session(&text);
            self.track_offset(offset);
            match frame {
                SessionFrame::Connected { pid, .. } => {
                    let recovered = pid.is_some() && pid == self.pid.as_deref();
                    self.pid = pid.map(str::to_owned);
                    break recovered;
                }
                SessionFrame::Error => bail!("refused: {text}"),
                frame @ SessionFrame::Message { .. } => {
                    if resuming {
                        self.tally.replayed += 1;
                    }
                    self.on_frame(frame);
                }
                frame => self.on_frame(frame),
            }
        };
        if recovered {
            return Ok(socket);
        }
        if resuming {
            self.tally.not_recovered += 1;
        }
        socket.send(self.dialect.join(&self.room)).await?;
        loop {
            let text = socket.recv().await?;
            let (frame, offset) = self.dialect.parse_session(&text);
            self.track_offset(offset);
            match frame {
                SessionFrame::Joined { .. } => return Ok(socket),
                SessionFrame::Error => bail!("refused: {text}"),
                frame => self.on_frame(frame),
            }
        }
    }

    /// In the room: sends again what was not acked, then publishes (when it does), reads, and
    /// follows the storm's orders until the connection ends.
    async fn session(
        &mut self,
        socket: &mut BenchSocket,
        seen_drops: u32,
        resuming: bool,
    ) -> Result<Ending> {
        if resuming && !self.pending.is_empty() {
            self.tally.resent += self.pending.len() as u64;
            for &n in &self.pending {
                if socket.feed(self.message(n)).await.is_err() {
                    return Ok(Ending::Lost);
                }
            }
            if socket.flush().await.is_err() {
                return Ok(Ending::Lost);
            }
        }
        loop {
            let control = *self.control.borrow_and_update();
            if control.stop {
                return Ok(Ending::Stop);
            }
            if control.drops > seen_drops {
                // A publisher's next message leaves just before the network goes: it may reach
                // the server, but its ack cannot come back.
                if self.publisher && control.publishing && !control.quiet {
                    self.next_message();
                    let _ = socket.send(self.message(self.last_n)).await;
                }
                return Ok(Ending::Dropped(control.drops));
            }
            if self.publisher && control.quiet && self.pending.is_empty() && !self.drained {
                self.drained = true;
                let _ = self.shared.events.send(Event::Drained);
            }
            let publishing = self.publisher && control.publishing && !control.quiet;
            if publishing && self.pace.is_none() {
                // Publishers spread over the period, so that the room's traffic is steady.
                let spread = self
                    .shared
                    .period
                    .mul_f64((self.index % 997) as f64 / 997.0);
                self.pace = Some(interval_at(Instant::now() + spread, self.shared.period));
            }
            tokio::select! {
                changed = self.control.changed() => changed.context("the run was abandoned")?,
                text = socket.recv() => match text {
                    Ok(text) => {
                        let (frame, offset) = self.dialect.parse_session(&text);
                        self.track_offset(offset);
                        self.on_frame(frame);
                    }
                    Err(_) => return Ok(Ending::Lost),
                },
                _ = tick(&mut self.pace), if publishing => {
                    self.next_message();
                    if socket.send(self.message(self.last_n)).await.is_err() {
                        return Ok(Ending::Lost);
                    }
                }
            }
        }
    }

    /// Numbers a new message and keeps it until it is acked.
    fn next_message(&mut self) {
        self.last_n += 1;
        self.pending.push_back(self.last_n);
        self.shared.published[self.index].store(u64::from(self.last_n), Ordering::Relaxed);
    }

    /// The frame that publishes message `n`.
    fn message(&self, n: u32) -> String {
        let text = format!("p{}:{n}", self.index);
        let cid = format!("c{}.{n}", self.index);
        self.dialect
            .message_acked(&self.room, &text, &cid, u64::from(n))
    }

    fn track_offset(&mut self, offset: Option<&str>) {
        if let Some(offset) = offset {
            self.offset = Some(offset.to_owned());
        }
    }

    fn on_frame(&mut self, frame: SessionFrame<'_>) {
        match frame {
            SessionFrame::Message { text, seq } => {
                self.tally.delivered += 1;
                if let Some(seq) = seq {
                    self.last_seq = self.last_seq.max(seq);
                }
                if let Some((publisher, n)) = parse_text(text) {
                    self.received.push(Received { seq, publisher, n });
                }
            }
            SessionFrame::Ack {
                id,
                ok,
                seq,
                duplicate,
                ..
            } if (1..HISTORY_ID).contains(&id) => {
                let n = id as u32;
                if let Some(at) = self.pending.iter().position(|&p| p == n) {
                    self.pending.remove(at);
                }
                if !ok {
                    self.tally.refused += 1;
                    return;
                }
                if duplicate {
                    self.tally.acked_duplicate += 1;
                }
                if let Some(seq) = seq {
                    self.own_seqs.push((n, seq));
                    self.last_seq = self.last_seq.max(seq);
                    let room = self.shared.room_of(self.index);
                    self.shared.room_tops[room].fetch_max(seq, Ordering::Relaxed);
                }
            }
            SessionFrame::History { last_seq } => self.stored_top = Some(last_seq.unwrap_or(0)),
            _ => {}
        }
    }

    /// At the end, a Tether publisher asks for its room's latest stored message, to hold the
    /// acks against the store itself.
    async fn finish(&mut self, socket: &mut BenchSocket) -> Result<()> {
        if self.dialect != Dialect::Guide || !self.index.is_multiple_of(self.shared.room_size) {
            return Ok(());
        }
        socket
            .send(self.dialect.latest_stored(&self.room, HISTORY_ID))
            .await?;
        tokio::time::timeout(HISTORY_TIMEOUT, async {
            while self.stored_top.is_none() {
                let text = socket.recv().await?;
                let (frame, _) = self.dialect.parse_session(&text);
                self.on_frame(frame);
            }
            anyhow::Ok(())
        })
        .await
        .context("no answer to history")?
    }

    /// What this client saw against what its room published.
    fn check(mut self) -> Tally {
        let shared = &self.shared;
        let room = shared.room_of(self.index);
        self.tally.published = u64::from(self.last_n);
        self.tally.unacked_at_end = self.pending.len() as u64;
        // By message: every message of every other publisher of the room, once.
        let mut counts: HashMap<(u32, u32), u64> = HashMap::new();
        for r in &self.received {
            if r.publisher as usize != self.index {
                *counts.entry((r.publisher, r.n)).or_default() += 1;
            }
        }
        for publisher in shared.members(room).filter(|&i| shared.publishes(i)) {
            if publisher == self.index {
                continue;
            }
            let published = shared.published[publisher].load(Ordering::Relaxed);
            self.tally.expected += published;
            for n in 1..=published {
                if !counts.contains_key(&(publisher as u32, n as u32)) {
                    self.tally.lost += 1;
                }
            }
        }
        self.tally.duplicated += counts.values().map(|&c| c - 1).sum::<u64>();
        // Its own messages, each stored at one `seq`.
        let mut own: HashMap<u32, HashSet<u64>> = HashMap::new();
        for &(n, seq) in &self.own_seqs {
            own.entry(n).or_default().insert(seq);
        }
        self.tally.duplicated += own.values().map(|seqs| seqs.len() as u64 - 1).sum::<u64>();
        // By position (Tether): every `seq` from the first join's to the room's last, once.
        if let Some(first) = self.first_seq {
            let top = shared.room_tops[room].load(Ordering::Relaxed);
            let mut seen: HashSet<u64> = HashSet::new();
            for seq in self.received.iter().filter_map(|r| r.seq) {
                if !seen.insert(seq) {
                    self.tally.seq_repeats += 1;
                }
            }
            seen.extend(self.own_seqs.iter().map(|&(_, seq)| seq));
            self.tally.seq_gaps += (first + 1..=top).filter(|s| !seen.contains(s)).count() as u64;
            if self.stored_top.is_some_and(|stored| stored != top) {
                self.tally.store_top_mismatches += 1;
            }
        }
        self.tally
    }
}

/// Waits for the pace's next tick; never resolves without one.
async fn tick(pace: &mut Option<Interval>) {
    match pace {
        Some(pace) => {
            pace.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// `p<client>:<n>` → `(client, n)`.
fn parse_text(text: &str) -> Option<(u32, u32)> {
    let (publisher, n) = text.strip_prefix('p')?.split_once(':')?;
    Some((publisher.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_name_their_publisher_and_number() {
        assert_eq!(parse_text("p12:7"), Some((12, 7)));
        assert_eq!(parse_text("b1:2:3"), None);
        assert_eq!(parse_text("p:1"), None);
    }
}
