//! Server configuration: command-line flags, environment variables and their defaults.

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Everything the server can be told. Every field has a flag and an environment variable; the
/// defaults run a development server on `127.0.0.1:8080` with no configuration at all.
///
/// The flag definitions below are the one place a default is written: [`Config::default`] is
/// the command line with no flags and no environment, so the two cannot drift.
///
/// Library users start from [`Config::default`] and change what they need with the setters:
///
/// ```
/// use std::time::Duration;
/// use tether_server::Config;
///
/// let config = Config::default()
///     .heartbeat_interval(Duration::from_secs(10))
///     .allow_origin("https://chat.example.com");
/// assert_eq!(config.max_message_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "tether-server",
    version,
    about = "Tether's room server: the chat protocol over WebSockets on /ws, the built app on /.",
    long_about = None
)]
pub struct Config {
    /// The address to listen on.
    #[arg(long, env = "TETHER_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The folder holding the built app (trunk's `dist/`), served on `/`. When it does not exist,
    /// `/` shows a short note instead.
    #[arg(long, env = "TETHER_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Where room history is kept: `sqlite` (a database in `--data-dir`, kept across restarts and
    /// crashes) or `memory` (lost on exit; a new epoch for every room on each start).
    #[arg(long, env = "TETHER_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// Run as one node of a cluster: rooms, history, positions and `cid`s on the Redis at this
    /// URL (`redis://host:port/db`), shared with every node on it. The store and the data
    /// folder are then not used.
    #[arg(long, env = "TETHER_REDIS_URL")]
    pub redis: Option<String>,

    /// Token auth with HS256 JWTs signed with this secret: every connection must present a
    /// valid token (`/ws?token=`). Off when neither this nor `--jwt-public-key` is given.
    #[arg(long, env = "TETHER_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Token auth with JWTs signed by the private half of this PEM public key (RSA: RS256,
    /// P-256: ES256, Ed25519: EdDSA).
    #[arg(long, env = "TETHER_JWT_PUBLIC_KEY", conflicts_with = "jwt_secret")]
    pub jwt_public_key: Option<PathBuf>,

    /// With token auth: the audience (`aud`) every token must name.
    #[arg(long, env = "TETHER_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// DEVELOPMENT ONLY: serve `POST /dev/token`, which gives anyone a token for any name. Turns
    /// token auth on with `--jwt-secret` or, without one, a random secret for this process (with
    /// `--redis`, one that every node on that Redis shares, so a token works on all).
    #[arg(long, env = "TETHER_DEV_ISSUE_TOKENS", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", conflicts_with = "jwt_public_key")]
    pub dev_issue_tokens: bool,

    /// DEVELOPMENT ONLY, with `--dev-issue-tokens`: how long a token from `POST /dev/token` lasts
    /// when the request names no `ttl` (at most a day). Short ones show a client renewing its
    /// token: the server closes a connection whose token expired with 4419 at its next heartbeat.
    #[arg(long, env = "TETHER_DEV_TOKEN_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub dev_token_ttl: Duration,

    /// Every connection starts with a PROXY protocol header (version 1 or 2) from a load
    /// balancer (HAProxy: `send-proxy-v2`), which says who the client is: the per-address
    /// limits and the logs then see each client, not the balancer. A connection without one is
    /// closed. Only for a server that nothing but the balancer can reach.
    #[arg(long, env = "TETHER_PROXY_PROTOCOL", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub proxy_protocol: bool,

    /// The folder for the server's files: the history database (`tether.sqlite3`). Created if
    /// missing; one server at a time may use it.
    #[arg(long, env = "TETHER_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The most messages kept per room; older ones are dropped.
    #[arg(long, env = "TETHER_HISTORY_MESSAGES", default_value_t = 10_000)]
    pub history_messages: usize,

    /// How long messages are kept (more than zero).
    #[arg(long, env = "TETHER_HISTORY_AGE", default_value = "30days", value_parser = positive_duration)]
    pub history_age: Duration,

    /// How long a message's `cid` is remembered: a message sent again with the same `cid` within
    /// this time is not stored or delivered again.
    #[arg(long, env = "TETHER_DEDUPE_WINDOW", default_value = "10m", value_parser = humantime::parse_duration)]
    pub dedupe_window: Duration,

    /// The most messages a resuming join (`since`) replays; a client further behind gets
    /// `recovered: false` and pages back with `history` instead.
    #[arg(long, env = "TETHER_MAX_REPLAY", default_value_t = 1000)]
    pub max_replay: u64,

    /// How long a disconnected client stays in its rooms: one that comes back within it (with its
    /// resume token) shows its rooms no `user:left` and `user:joined`. 0: leave at once.
    #[arg(long, env = "TETHER_REJOIN_GRACE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub rejoin_grace: Duration,

    /// How often the server sends a WebSocket ping. A client that has not answered the previous
    /// ping when the next one is due is disconnected, so a dead client is found within two
    /// intervals.
    #[arg(long, env = "TETHER_HEARTBEAT_INTERVAL", default_value = "30s", value_parser = positive_duration)]
    pub heartbeat_interval: Duration,

    /// The largest WebSocket message (and frame) a client may send, in bytes. A larger one closes
    /// the connection with 1009.
    #[arg(long, env = "TETHER_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// The longest chat text, in bytes (UTF-8). A longer one is refused with an `error`.
    #[arg(long, env = "TETHER_MAX_TEXT_BYTES", default_value_t = 8 * 1024)]
    pub max_text_bytes: usize,

    /// The longest room id, in bytes.
    #[arg(long, env = "TETHER_MAX_ROOM_ID_BYTES", default_value_t = 128)]
    pub max_room_id_bytes: usize,

    /// The longest display name, in bytes.
    #[arg(long, env = "TETHER_MAX_NAME_BYTES", default_value_t = 64)]
    pub max_name_bytes: usize,

    /// How many rooms one connection may be in at once.
    #[arg(long, env = "TETHER_MAX_ROOMS_PER_CLIENT", default_value_t = 100)]
    pub max_rooms_per_client: usize,

    /// The most members one `presence` answer lists; a larger room's answer lists this many and
    /// gives the full count in `total`. Keeps the answer well inside the asker's queue.
    #[arg(long, env = "TETHER_MAX_PRESENCE_MEMBERS", default_value_t = 1000)]
    pub max_presence_members: usize,

    /// How many bytes may wait to be sent to one client. Typing notices are dropped first when it
    /// fills; a client that still cannot keep up is closed with 1013 (a slow consumer).
    #[arg(long, env = "TETHER_MAX_QUEUE_BYTES", default_value_t = 512 * 1024)]
    pub max_queue_bytes: usize,

    /// How many bytes of control frames (pongs, pings, the close) may wait for a client that does
    /// not read. Past it, the replies to its pings are coalesced into one pong (RFC 6455 allows
    /// answering only the latest ping), so a ping flood cannot grow the server.
    #[arg(long, env = "TETHER_MAX_CONTROL_BYTES", default_value_t = 4096)]
    pub max_control_bytes: usize,

    /// How long one write to a client may stall before the client is closed as a slow consumer.
    #[arg(long, env = "TETHER_WRITE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub write_timeout: Duration,

    /// How long a connection may take to send a complete HTTP request head: from the moment it is
    /// accepted (so a connection that never sends a byte is closed after this long) and again
    /// for each request on a kept-alive connection.
    #[arg(long, env = "TETHER_REQUEST_HEAD_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_head_timeout: Duration,

    /// The largest HTTP request head (request line and headers), in bytes; at least 8192. A larger
    /// one is answered with 431.
    #[arg(long, env = "TETHER_MAX_REQUEST_HEAD_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_request_head_bytes: u32,

    /// The most TCP connections open at once, WebSockets and plain HTTP together; one more is
    /// answered with 503 and closed. 0: the process's open-file limit, less a reserve.
    #[arg(long, env = "TETHER_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// The most TCP connections one IP address may hold open at once; one more is answered with
    /// 429 and closed. 0: no limit (behind a proxy on the same host, every client has the
    /// proxy's address).
    #[arg(long, env = "TETHER_MAX_CONNECTIONS_PER_IP", default_value_t = 1024)]
    pub max_connections_per_ip: usize,

    /// Messages one connection may send per second on average (every message but `typing` and
    /// `join`, which have their own rates, and WebSocket pings). Over it, a message is refused
    /// with `rate_limited` and a `retryAfterMs`. 0: no limit.
    #[arg(long, env = "TETHER_MESSAGE_RATE", default_value_t = 50)]
    pub message_rate: u32,

    /// How many messages one connection may send at once above its rate (after a reconnect, a
    /// client flushes what it queued while offline).
    #[arg(long, env = "TETHER_MESSAGE_BURST", default_value_t = 300)]
    pub message_burst: u32,

    /// Messages all connections from one IP address may send per second together (as
    /// `--message-rate`, shared): a client that reconnects after every close gets no fresh budget.
    /// 0: no limit.
    #[arg(long, env = "TETHER_ADDRESS_MESSAGE_RATE", default_value_t = 200)]
    pub address_message_rate: u32,

    /// Messages all connections from one address may send at once above their rate.
    #[arg(long, env = "TETHER_ADDRESS_MESSAGE_BURST", default_value_t = 600)]
    pub address_message_burst: u32,

    /// Bytes of chat text (room and private messages) all connections from one address may send
    /// per second together: what a sender makes every member of its rooms read. Over it, a
    /// message is refused with `rate_limited`. 0: no limit.
    #[arg(long, env = "TETHER_ADDRESS_TEXT_BYTE_RATE", default_value_t = 64 * 1024)]
    pub address_text_byte_rate: u32,

    /// Bytes of chat text all connections from one address may send at once above their rate
    /// (at least the longest text; half the default queue).
    #[arg(long, env = "TETHER_ADDRESS_TEXT_BYTE_BURST", default_value_t = 256 * 1024)]
    pub address_text_byte_burst: u32,

    /// New connections one address may open per second; over it, 429. 0: no limit.
    #[arg(long, env = "TETHER_ADDRESS_CONNECT_RATE", default_value_t = 20)]
    pub address_connect_rate: u32,

    /// New connections one address may open at once above its rate (a reconnect storm behind
    /// one NAT).
    #[arg(long, env = "TETHER_ADDRESS_CONNECT_BURST", default_value_t = 200)]
    pub address_connect_burst: u32,

    /// Typing notices one connection may send per second; the rest are dropped silently.
    /// 0: no limit.
    #[arg(long, env = "TETHER_TYPING_RATE", default_value_t = 2)]
    pub typing_rate: u32,

    /// Typing notices one connection may send at once above its rate.
    #[arg(long, env = "TETHER_TYPING_BURST", default_value_t = 5)]
    pub typing_burst: u32,

    /// Joins one connection may make per second; over it, a join is refused with `rate_limited`.
    /// 0: no limit.
    #[arg(long, env = "TETHER_JOIN_RATE", default_value_t = 10)]
    pub join_rate: u32,

    /// Joins one connection may make at once above its rate (a reconnecting client rejoins all its
    /// rooms at once: keep it at least `--max-rooms-per-client`).
    #[arg(long, env = "TETHER_JOIN_BURST", default_value_t = 100)]
    pub join_burst: u32,

    /// Refusals for rate one connection may collect within 10 seconds. One more, and it is closed
    /// with 1008 ("rate limit exceeded"): a client that keeps flooding after being told to wait.
    #[arg(long, env = "TETHER_FLOOD_STRIKES", default_value_t = 200)]
    pub flood_strikes: u32,

    /// The public origins of the chat: the pages allowed to open a WebSocket, comma-separated
    /// (`https://chat.example.com`), or `*` for any. Browsers send `Origin`; a request from
    /// another gets 403 (Cross-Site WebSocket Hijacking, DNS rebinding). The request's own `Host`
    /// is never trusted for this. Clients that send no `Origin` (non-browsers) are allowed.
    #[arg(
        long = "allow-origin",
        visible_alias = "public-origin",
        env = "TETHER_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Whether pages served from localhost, 127.0.0.1 or [::1] (on any port) may connect, for
    /// development with `trunk serve` and for the chat served by this server on localhost.
    #[arg(long, env = "TETHER_ALLOW_LOCALHOST", default_value_t = true, action = ArgAction::Set)]
    pub allow_localhost: bool,

    /// How long shutdown (SIGINT, SIGTERM) waits for clients to answer the 1001 close, and for
    /// unfinished HTTP requests, before it drops them and exits.
    #[arg(long, env = "TETHER_SHUTDOWN_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// The listen backlog: how many connections may wait to be accepted. Tokio's default (128 here)
    /// overflows in a reconnect storm, and every dropped SYN costs the client a 1 s retransmit.
    #[arg(long, env = "TETHER_BACKLOG", default_value_t = 4096)]
    pub backlog: u32,
}

/// Where room history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite, in the data folder: durable.
    Sqlite,
    /// In memory: gone with the process.
    Memory,
}

impl Default for Config {
    /// The command line with no flags, read without the environment.
    fn default() -> Self {
        let command = Self::command().mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["tether-server"])
            .expect("every flag has a default");
        Self::from_arg_matches(&matches).expect("the defaults parse")
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

impl Config {
    setters! {
        /// Sets the address to listen on.
        addr: SocketAddr;
        /// Sets where room history is kept.
        store: StoreKind;
        /// Sets the most messages kept per room.
        history_messages: usize;
        /// Sets how long messages are kept.
        history_age: Duration;
        /// Sets how long a `cid` is remembered.
        dedupe_window: Duration;
        /// Sets the most messages a resuming join replays.
        max_replay: u64;
        /// Sets how long a disconnected client stays in its rooms.
        rejoin_grace: Duration;
        /// Sets how often the server pings each client.
        heartbeat_interval: Duration;
        /// Sets how long a token from `POST /dev/token` lasts unless the request says.
        dev_token_ttl: Duration;
        /// Sets the largest message a client may send, in bytes.
        max_message_bytes: usize;
        /// Sets the longest chat text, in bytes.
        max_text_bytes: usize;
        /// Sets the longest room id, in bytes.
        max_room_id_bytes: usize;
        /// Sets the longest display name, in bytes.
        max_name_bytes: usize;
        /// Sets how many rooms one connection may be in.
        max_rooms_per_client: usize;
        /// Sets the most members one `presence` answer lists.
        max_presence_members: usize;
        /// Sets how many bytes may wait to be sent to one client.
        max_queue_bytes: usize;
        /// Sets how many bytes of control frames may wait for one client.
        max_control_bytes: usize;
        /// Sets how long a write may stall before the client is closed as a slow consumer.
        write_timeout: Duration;
        /// Sets how long a connection may take to send a request head.
        request_head_timeout: Duration;
        /// Sets the largest request head, in bytes (at least 8192).
        max_request_head_bytes: u32;
        /// Sets the most connections open at once (0: the open-file limit less a reserve).
        max_connections: usize;
        /// Sets the most connections one IP address may hold (0: no limit).
        max_connections_per_ip: usize;
        /// Sets the messages per second one connection may send (0: no limit).
        message_rate: u32;
        /// Sets how many messages may come at once above the rate.
        message_burst: u32;
        /// Sets the messages per second all connections of one address may send (0: no limit).
        address_message_rate: u32;
        /// Sets how many messages one address may send at once above its rate.
        address_message_burst: u32;
        /// Sets the bytes of chat text per second one address may send (0: no limit).
        address_text_byte_rate: u32;
        /// Sets how many bytes of chat text one address may send at once above its rate.
        address_text_byte_burst: u32;
        /// Sets the new connections per second one address may open (0: no limit).
        address_connect_rate: u32;
        /// Sets how many connections one address may open at once above its rate.
        address_connect_burst: u32;
        /// Sets the typing notices per second one connection may send (0: no limit).
        typing_rate: u32;
        /// Sets how many typing notices may come at once above the rate.
        typing_burst: u32;
        /// Sets the joins per second one connection may make (0: no limit).
        join_rate: u32;
        /// Sets how many joins may come at once above the rate.
        join_burst: u32;
        /// Sets how many refusals for rate within 10 s close a connection.
        flood_strikes: u32;
        /// Sets whether pages on localhost may connect.
        allow_localhost: bool;
        /// Sets whether every connection starts with a PROXY protocol header.
        proxy_protocol: bool;
        /// Sets how long shutdown waits for clients and unfinished requests.
        shutdown_grace: Duration;
        /// Sets the listen backlog.
        backlog: u32;
    }

    /// Sets the folder of the built app served on `/`.
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = dir.into();
        self
    }

    /// Sets the folder for the server's files.
    pub fn jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.jwt_secret = Some(secret.into());
        self
    }

    /// Sets the audience every token must name.
    pub fn jwt_audience(mut self, audience: impl Into<String>) -> Self {
        self.jwt_audience = Some(audience.into());
        self
    }

    /// Sets whether `POST /dev/token` issues tokens (development only).
    pub fn dev_issue_tokens(mut self, on: bool) -> Self {
        self.dev_issue_tokens = on;
        self
    }

    /// Makes the server a node of the cluster on the Redis at `url`.
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// Sets the folder for the server's files.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = dir.into();
        self
    }

    /// What the history keeps, as the stores take it.
    pub fn retention(&self) -> crate::Retention {
        crate::Retention {
            messages: self.history_messages.max(1),
            age: self.history_age,
            dedupe_window: self.dedupe_window,
        }
    }

    /// Allows one more origin (`scheme://host[:port]`), or any with `*`.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Turns every rate limit off, per connection and per address: for load generators and
    /// benchmarks, which send far faster than any person.
    pub fn unlimited_rates(self) -> Self {
        self.message_rate(0)
            .typing_rate(0)
            .join_rate(0)
            .address_message_rate(0)
            .address_text_byte_rate(0)
            .address_connect_rate(0)
    }
}

/// A duration that is not zero (a heartbeat every 0 s is not a heartbeat; history kept for 0 s
/// is none).
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be more than zero".into()),
        Ok(duration) => Ok(duration),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_flag_defaults() {
        let config = Config::default();
        assert_eq!(config.addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(30));
        assert_eq!(config.max_queue_bytes, 512 * 1024);
        assert_eq!(config.max_request_head_bytes, 16 * 1024);
        assert!(config.allow_localhost);
        assert!(config.allowed_origins.is_empty());
    }

    #[test]
    fn default_reads_no_environment_variable() {
        // `Default` parses an empty command line with every flag's `env` removed, so a variable
        // set for the binary can never leak into a library user's defaults.
        let command = Config::command().mut_args(|arg| arg.env(None));
        assert!(command.get_arguments().all(|arg| arg.get_env().is_none()));
    }

    #[test]
    fn flags_parse_durations_and_lists() {
        let config = Config::parse_from([
            "tether-server",
            "--heartbeat-interval",
            "500ms",
            "--allow-origin",
            "https://a.example,https://b.example",
            "--allow-localhost",
            "false",
        ]);
        assert_eq!(config.heartbeat_interval, Duration::from_millis(500));
        assert_eq!(
            config.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(!config.allow_localhost);
    }

    #[test]
    fn a_heartbeat_or_history_age_of_zero_is_refused() {
        for flag in ["--heartbeat-interval", "--history-age"] {
            assert!(Config::try_parse_from(["tether-server", flag, "0s"]).is_err());
            assert!(Config::try_parse_from(["tether-server", flag, "1s"]).is_ok());
        }
    }

    #[test]
    fn a_request_head_limit_under_8192_is_refused() {
        assert!(
            Config::try_parse_from(["tether-server", "--max-request-head-bytes", "4096"]).is_err()
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        Config::command().debug_assert();
    }
}
