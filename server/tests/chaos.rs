//! Nothing said is lost, with real processes: clients chat in three rooms while the server is
//! killed with SIGKILL and restarted every few seconds and clients drop their own connections at
//! random. At the end every client's view of every room is the server's history: the same
//! messages in the same order, no gap, nothing twice, every acked message there.
//!
//! The same runs against a cluster: three nodes on one Redis behind HAProxy, a node killed at
//! a time, its clients coming back through HAProxy to the others.
//!
//! The clients do what a resilient client does (what `tether-client`'s machine does in the
//! browser): keep each room's position, rejoin with `since`, give every message a `cid`, and send
//! again after a reconnect what was not acked.

mod common;

use common::{free_port, redis::Redis};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

const CLIENTS: usize = 20;
const ROOMS: [&str; 3] = ["alpha", "beta", "gamma"];
const MESSAGES_PER_CLIENT: usize = 1000;
/// Unacked messages a client keeps in flight.
const WINDOW: usize = 8;
/// A client sends a new message at most this often: 20 clients then chat for about 30 s, long
/// enough for the server to be killed a dozen times and every client to drop its connection
/// several times.
const PACE: Duration = Duration::from_millis(30);
/// The whole test gives up after this long.
const LIMIT: Duration = Duration::from_secs(240);

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// What the clients chat with, and what the test kills.
trait Target: Send + 'static {
    /// Where clients connect.
    fn url(&self) -> String;
    /// Kills a server process with SIGKILL and starts it again.
    fn fault(&mut self, seed: &mut u64) -> impl Future<Output = ()> + Send;
    /// Stops every server process.
    fn stop(&mut self);
    /// The room's whole stored history.
    fn history(&self, room: &str) -> BTreeMap<u64, String>;
}

/// The server binary, killed and restarted on the same port and data folder.
struct Server {
    port: u16,
    // The data folder, or the Redis URL of a cluster's node.
    data: PathBuf,
    redis: Option<String>,
    child: Option<Child>,
}

impl Server {
    fn start(data: &Path) -> Self {
        let mut server = Self {
            port: free_port(),
            data: data.to_owned(),
            redis: None,
            child: None,
        };
        server.spawn();
        server
    }

    fn node(redis: &str) -> Self {
        let mut server = Self {
            port: free_port(),
            data: PathBuf::new(),
            redis: Some(redis.to_owned()),
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tether-server"));
        match &self.redis {
            // Behind HAProxy, which says who each client is (send-proxy-v2).
            Some(url) => command.args(["--redis", url, "--proxy-protocol"]),
            None => command.arg("--data-dir").arg(&self.data),
        };
        let child = command
            .args(["--addr", &format!("127.0.0.1:{}", self.port)])
            .args(["--static-dir", "/nonexistent/tether-test-dist"])
            // Clients here send in bursts after every reconnect, all from one address; the
            // limits are not under test.
            .args(["--message-rate", "0", "--join-rate", "0"])
            .args(["--address-message-rate", "0", "--address-connect-rate", "0"])
            .args(["--address-text-byte-rate", "0"])
            .args(["--max-replay", "100000"])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("tether-server starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One server on SQLite, killed and restarted.
struct Alone {
    server: Server,
    dir: tempfile::TempDir,
}

impl Target for Alone {
    fn url(&self) -> String {
        self.server.url()
    }

    async fn fault(&mut self, _seed: &mut u64) {
        self.server.kill();
        sleep(Duration::from_millis(100)).await;
        self.server.spawn();
    }

    fn stop(&mut self) {
        self.server.kill();
    }

    /// Read from its database after it is stopped.
    fn history(&self, room: &str) -> BTreeMap<u64, String> {
        let db = rusqlite::Connection::open(self.dir.path().join("tether.sqlite3"))
            .expect("the database");
        let mut select = db
            .prepare(
                "SELECT m.seq, m.text FROM messages m JOIN rooms r ON r.id = m.room
                 WHERE r.name = ?1 ORDER BY m.seq",
            )
            .expect("a query");
        select
            .query_map([room], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get(1)?))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read")
    }
}

/// Three nodes on one Redis behind HAProxy (round robin, health-checked on /healthz); a fault
/// kills one node and starts it again a second later.
struct Cluster {
    redis: Redis,
    nodes: Vec<Server>,
    haproxy: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let redis = Redis::start_volatile().await;
        let nodes: Vec<Server> = (0..3).map(|_| Server::node(&redis.url())).collect();
        let port = free_port();
        let servers: Vec<String> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("    server n{i} 127.0.0.1:{}", n.port))
            .collect();
        // scripts/cluster.sh's configuration, with this test's port and nodes.
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            include_str!("../../scripts/haproxy.cfg.in")
                .replace(
                    "@SOCKET@",
                    &dir.path().join("haproxy.sock").display().to_string(),
                )
                .replace("@PORT@", &port.to_string())
                .replace("@SERVERS@", &servers.join("\n")),
        )
        .expect("the HAProxy config");
        let haproxy = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .expect("haproxy runs (scripts/setup.sh test installs it)");
        let cluster = Self {
            redis,
            nodes,
            haproxy,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio_tungstenite::connect_async(cluster.url())
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the cluster did not start");
            sleep(Duration::from_millis(50)).await;
        }
        cluster
    }
}

impl Target for Cluster {
    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    async fn fault(&mut self, seed: &mut u64) {
        let node = &mut self.nodes[(next_random(seed) % 3) as usize];
        node.kill();
        sleep(Duration::from_millis(1000)).await;
        node.spawn();
    }

    fn stop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }

    /// Read from the room's stream in Redis.
    fn history(&self, room: &str) -> BTreeMap<u64, String> {
        use redis::Commands;
        let mut redis = redis::Client::open(self.redis.url())
            .and_then(|c| c.get_connection())
            .expect("Redis");
        let entries: Vec<(String, Vec<(String, String)>)> = redis
            .xrange_all(format!("tether:{{{room}}}:log"))
            .expect("the stream");
        entries
            .into_iter()
            .map(|(id, fields)| {
                let seq = id.split('-').next().and_then(|s| s.parse().ok());
                let text = fields.into_iter().find(|(f, _)| f == "t").map(|(_, t)| t);
                (seq.expect("a seq id"), text.expect("a text"))
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One room as a client sees it.
#[derive(Debug, Default)]
struct RoomView {
    epoch: String,
    // The highest seq delivered as a message (not an ack).
    delivered: u64,
    // Where a rejoin resumes, as tether-client's machine keeps it: a delivered message moves
    // it, an ack of one's own message only when it is the next. In a cluster an ack can come
    // before messages of other nodes' clients with lower seqs; resuming after the ack's seq
    // would skip them.
    position: u64,
    // Every message the client has, by seq: from others, and its own once acked.
    messages: BTreeMap<u64, String>,
}

impl RoomView {
    fn last(&self) -> u64 {
        self.messages.keys().next_back().copied().unwrap_or(0)
    }
}

/// A chatting client's whole state, kept across its connections.
struct Chatter {
    name: String,
    rooms: HashMap<String, RoomView>,
    // Sent, not acked yet: cid → (room, text). Resent after every reconnect.
    pending: BTreeMap<String, (String, String)>,
    next: usize,
    // When the next new message may go.
    next_at: Instant,
    token: Option<String>,
    // A message delivered out of order or twice: the test fails on any.
    faults: Vec<String>,
    // One server: every message and ack arrives in seq order, so any jump is a gap. A
    // cluster delivers others' messages in order, but a client's own ack may come before an
    // earlier message from another node: there, only the order of delivered messages and the
    // final view are checked.
    strict: bool,
}

impl Chatter {
    fn new(index: usize, strict: bool) -> Self {
        Self {
            strict,
            name: format!("c{index:02}"),
            rooms: HashMap::new(),
            pending: BTreeMap::new(),
            next: 0,
            next_at: Instant::now(),
            token: None,
            faults: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        self.next == MESSAGES_PER_CLIENT && self.pending.is_empty()
    }

    fn deliver(&mut self, room: &str, seq: u64, text: String) {
        self.add(room, seq, text, true);
    }

    fn add(&mut self, room: &str, seq: u64, text: String, delivered: bool) {
        let view = self.rooms.entry(room.to_owned()).or_default();
        if (delivered && seq > view.position) || seq == view.position + 1 {
            view.position = seq;
        }
        if delivered && !self.strict {
            if seq <= view.delivered && view.messages.get(&seq) != Some(&text) {
                self.faults
                    .push(format!("{room}: seq {seq} after {}", view.delivered));
            }
            view.delivered = view.delivered.max(seq);
        }
        match view.messages.get(&seq) {
            Some(known) if *known == text => {}
            Some(known) => self
                .faults
                .push(format!("{room} seq {seq}: {known} and {text}")),
            None => {
                if self.strict && seq != view.last() + 1 {
                    self.faults
                        .push(format!("{room}: seq {seq} after {} (a gap)", view.last()));
                }
                view.messages.insert(seq, text);
            }
        }
    }

    /// One connection's life: joins (resuming), resends, sends, reads; returns when the
    /// connection ends or the client is done.
    async fn session(&mut self, url: &str, drop_after: Duration) -> Result<(), String> {
        let url = match &self.token {
            Some(token) => format!("{url}?resume={token}"),
            None => url.to_owned(),
        };
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .map_err(|e| e.to_string())?;
        let connected = recv(&mut ws).await?;
        self.token = connected["payload"]["resumeToken"]
            .as_str()
            .map(str::to_owned);
        for room in ROOMS {
            // The first time, from the beginning: whoever started sending first, every client
            // must end up with the whole room.
            let since = self.rooms.get(room).map_or_else(
                || json!({"epoch": "", "seq": 0}),
                |v| json!({"epoch": v.epoch, "seq": v.position}),
            );
            let payload = json!({"roomId": room, "since": since});
            send(&mut ws, json!({"type": "join", "payload": payload})).await?;
        }
        // Acks find their message by request id; the cid is the id.
        let resend: Vec<(String, (String, String))> = self
            .pending
            .iter()
            .map(|(c, m)| (c.clone(), m.clone()))
            .collect();
        let mut joined = 0;
        let ended_at = Instant::now() + drop_after;
        let mut resent = false;
        loop {
            if joined == ROOMS.len() && !resent {
                for (cid, (room, text)) in &resend {
                    send(&mut ws, chat(room, text, cid)).await?;
                }
                resent = true;
            }
            while resent
                && self.pending.len() < WINDOW
                && self.next < MESSAGES_PER_CLIENT
                && Instant::now() >= self.next_at
            {
                self.next_at = self.next_at.max(Instant::now() - PACE) + PACE;
                let room = ROOMS[self.next % ROOMS.len()];
                let text = format!("{}-{}", self.name, self.next);
                let cid = text.clone();
                self.next += 1;
                self.pending
                    .insert(cid.clone(), (room.to_owned(), text.clone()));
                send(&mut ws, chat(room, &text, &cid)).await?;
            }
            if self.done() {
                let _ = ws.close(None).await;
                return Ok(());
            }
            // The client drops its own connection, without a close, when its time is up, even
            // while messages keep coming.
            let now = Instant::now();
            if now >= ended_at {
                return Err("dropped on purpose".into());
            }
            let sending = self.next < MESSAGES_PER_CLIENT && self.pending.len() < WINDOW;
            let wake = if sending {
                ended_at.min(self.next_at.max(now))
            } else {
                ended_at
            };
            let Ok(message) = timeout(wake - now, recv(&mut ws)).await else {
                // Time to send, or to drop: the loop's top decides.
                continue;
            };
            let message = message?;
            let payload = &message["payload"];
            match message["type"].as_str() {
                Some("joined") => {
                    let room = payload["roomId"].as_str().unwrap_or_default().to_owned();
                    if payload["recovered"] == false {
                        self.faults
                            .push(format!("{room} not recovered: {}", payload["reason"]));
                    }
                    let view = self.rooms.entry(room).or_default();
                    view.epoch = payload["epoch"].as_str().unwrap_or_default().to_owned();
                    joined += 1;
                }
                Some("message") => {
                    let room = payload["roomId"].as_str().unwrap_or_default().to_owned();
                    let seq = payload["seq"].as_u64().unwrap_or(0);
                    let text = payload["text"].as_str().unwrap_or_default().to_owned();
                    self.deliver(&room, seq, text);
                }
                Some("ack") => {
                    let cid = payload["id"].as_str().unwrap_or_default().to_owned();
                    if payload["ok"] != true {
                        return Err(format!("refused: {payload}"));
                    }
                    if let Some((room, text)) = self.pending.remove(&cid) {
                        let seq = payload["seq"].as_u64().unwrap_or(0);
                        self.add(&room, seq, text, false);
                    }
                }
                _ => {}
            }
        }
    }
}

fn chat(room: &str, text: &str, cid: &str) -> Value {
    json!({"type": "message", "payload": {"roomId": room, "text": text, "cid": cid}, "id": cid})
}

async fn send(ws: &mut Ws, value: Value) -> Result<(), String> {
    ws.send(Message::text(value.to_string()))
        .await
        .map_err(|e| e.to_string())
}

async fn recv(ws: &mut Ws) -> Result<Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).map_err(|e| e.to_string());
            }
            Some(Ok(Message::Close(_))) | None => return Err("closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.to_string()),
        }
    }
}

/// What a client's view lacks, has too much of, or has otherwise, the first few of each.
fn difference(view: &BTreeMap<u64, String>, stored: &BTreeMap<u64, String>) -> String {
    let missing: Vec<_> = stored
        .keys()
        .filter(|s| !view.contains_key(s))
        .take(10)
        .collect();
    let extra: Vec<_> = view
        .keys()
        .filter(|s| !stored.contains_key(s))
        .take(10)
        .collect();
    let other: Vec<_> = view
        .iter()
        .filter(|(s, t)| stored.get(s).is_some_and(|st| st != *t))
        .take(10)
        .collect();
    format!(
        "{} messages stored, {} seen; missing {missing:?}, extra {extra:?}, other {other:?}",
        stored.len(),
        view.len()
    )
}

/// A small deterministic generator for the drops (seeded per client).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_survives_kill_9_and_dropped_connections() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = Server::start(dir.path());
    chaos(Alone { server, dir }, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_conversation_survives_nodes_killed_and_dropped_connections() {
    chaos(Cluster::start().await, false).await;
}

async fn chaos(mut target: impl Target, strict: bool) {
    let url = target.url();
    let started = Instant::now();
    let kills = Arc::new(AtomicU64::new(0));
    let drops = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for index in 0..CLIENTS {
        let (url, drops) = (url.clone(), Arc::clone(&drops));
        clients.push(tokio::spawn(async move {
            let mut chatter = Chatter::new(index, strict);
            let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1);
            while !chatter.done() {
                assert!(
                    started.elapsed() < LIMIT,
                    "{}: not done in time",
                    chatter.name
                );
                let drop_after = Duration::from_millis(1500 + next_random(&mut seed) % 4000);
                match chatter.session(&url, drop_after).await {
                    Ok(()) => {}
                    Err(why) => {
                        if why == "dropped on purpose" {
                            drops.fetch_add(1, Ordering::Relaxed);
                        }
                        sleep(Duration::from_millis(50 + next_random(&mut seed) % 200)).await;
                    }
                }
            }
            chatter
        }));
    }
    // SIGKILL a server every 2–4 s while the clients chat, and start it again.
    let killer = {
        let (kills, finished) = (Arc::clone(&kills), Arc::clone(&finished));
        let mut seed = 0xD1B5_4A32_D192_ED03u64;
        tokio::spawn(async move {
            while !finished.load(Ordering::Relaxed) {
                sleep(Duration::from_millis(2000 + next_random(&mut seed) % 2000)).await;
                if finished.load(Ordering::Relaxed) {
                    break;
                }
                target.fault(&mut seed).await;
                kills.fetch_add(1, Ordering::Relaxed);
            }
            target
        })
    };
    let mut chatters = Vec::new();
    for client in clients {
        chatters.push(client.await.expect("a client task"));
    }
    finished.store(true, Ordering::Relaxed);
    let mut target = killer.await.expect("the killer");
    // One last pass so every client has every message: each rejoins, resuming, and reads.
    let mut last = Vec::new();
    for mut chatter in chatters {
        let url = url.clone();
        last.push(tokio::spawn(async move {
            chatter.catch_up(&url).await;
            chatter
        }));
    }
    let mut chatters = Vec::new();
    for client in last {
        chatters.push(client.await.expect("a client task"));
    }
    target.stop();

    let mut total = 0;
    for room in ROOMS {
        let stored = target.history(room);
        total += stored.len();
        let seqs: Vec<u64> = stored.keys().copied().collect();
        assert_eq!(
            seqs,
            (1..=stored.len() as u64).collect::<Vec<_>>(),
            "{room}: no gap"
        );
        for chatter in &chatters {
            assert!(
                chatter.faults.is_empty(),
                "{}: {:?}",
                chatter.name,
                chatter.faults
            );
            let view = &chatter.rooms[room].messages;
            assert!(
                *view == stored,
                "{}'s view of {room} is not the server's history: {}",
                chatter.name,
                difference(view, &stored)
            );
        }
    }
    assert_eq!(
        total,
        CLIENTS * MESSAGES_PER_CLIENT,
        "every message once, nothing more"
    );
    // Test output, shown with --nocapture: the counts for the record.
    eprintln!(
        "chaos: {total} messages in {} rooms by {CLIENTS} clients, {} kill -9, {} dropped connections, {:?}",
        ROOMS.len(),
        kills.load(Ordering::Relaxed),
        drops.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert!(
        kills.load(Ordering::Relaxed) >= 2,
        "the server was killed while they chatted"
    );
    assert!(
        drops.load(Ordering::Relaxed) >= CLIENTS as u64,
        "clients dropped their own connections while they chatted"
    );
}

impl Chatter {
    /// Rejoins every room with its position and reads until it has the room's latest message.
    async fn catch_up(&mut self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: could not catch up",
                self.name
            );
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
                sleep(Duration::from_millis(100)).await;
                continue;
            };
            let mut tops = HashMap::new();
            let ok = async {
                recv(&mut ws).await?;
                for room in ROOMS {
                    let view = &self.rooms[room];
                    let since = json!({"epoch": view.epoch, "seq": view.position});
                    send(
                        &mut ws,
                        json!({"type": "join", "payload": {"roomId": room, "since": since}}),
                    )
                    .await?;
                }
                while tops.len() < ROOMS.len()
                    || ROOMS.iter().any(|r| self.rooms[*r].last() < tops[*r])
                {
                    let message = recv(&mut ws).await?;
                    let payload = &message["payload"];
                    let room = payload["roomId"].as_str().unwrap_or_default().to_owned();
                    match message["type"].as_str() {
                        Some("joined") => {
                            if payload["recovered"] == false {
                                self.faults.push(format!("{room} not recovered at the end"));
                            }
                            tops.insert(room, payload["seq"].as_u64().unwrap_or(0));
                        }
                        Some("message") => {
                            let seq = payload["seq"].as_u64().unwrap_or(0);
                            let text = payload["text"].as_str().unwrap_or_default().to_owned();
                            self.deliver(&room, seq, text);
                        }
                        _ => {}
                    }
                }
                Ok::<_, String>(())
            }
            .await;
            if ok.is_ok() {
                return;
            }
        }
    }
}
