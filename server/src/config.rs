//! Server configuration: command-line flags, environment variables and their defaults.

use clap::{ArgAction, Parser};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Everything the server can be told. Every field has a flag and an environment variable; the
/// defaults (see [`Config::default`]) run a development server on `127.0.0.1:8080` with no
/// configuration at all.
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

    /// How often the server sends a WebSocket ping. A client that has not answered the previous
    /// ping when the next one is due is disconnected, so a dead client is found within two
    /// intervals.
    #[arg(long, env = "TETHER_HEARTBEAT_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
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

    /// How many bytes may wait to be sent to one client. Typing notices are dropped first when it
    /// fills; a client that still cannot keep up is closed with 1013 (a slow consumer).
    #[arg(long, env = "TETHER_MAX_QUEUE_BYTES", default_value_t = 512 * 1024)]
    pub max_queue_bytes: usize,

    /// How long one write to a client may stall before the client is closed as a slow consumer.
    #[arg(long, env = "TETHER_WRITE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub write_timeout: Duration,

    /// Origins allowed to open a WebSocket besides the server's own origin, comma-separated
    /// (`https://chat.example.com`), or `*` for any. Browsers send `Origin`; a request from a
    /// foreign one gets 403 (Cross-Site WebSocket Hijacking). Clients that send no `Origin`
    /// (non-browsers) are always allowed.
    #[arg(
        long = "allow-origin",
        env = "TETHER_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Whether pages served from localhost, 127.0.0.1 or [::1] (on any port) may connect, for
    /// development with `trunk serve`.
    #[arg(long, env = "TETHER_ALLOW_LOCALHOST", default_value_t = true, action = ArgAction::Set)]
    pub allow_localhost: bool,

    /// How long shutdown (SIGINT, SIGTERM) waits for clients to answer the 1001 close before it
    /// drops them and exits.
    #[arg(long, env = "TETHER_SHUTDOWN_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// The listen backlog: how many connections may wait to be accepted. Tokio's default (128 here)
    /// overflows in a reconnect storm, and every dropped SYN costs the client a 1 s retransmit.
    #[arg(long, env = "TETHER_BACKLOG", default_value_t = 4096)]
    pub backlog: u32,

    /// Lets `/ws?fault=...` simulate a hung server, a close code or an echo, for the browser
    /// client's tests. Never turn this on in production.
    #[arg(long, env = "TETHER_TEST_MODE", default_value_t = false, hide = true)]
    pub test_mode: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            static_dir: PathBuf::from("dist"),
            heartbeat_interval: Duration::from_secs(30),
            max_message_bytes: 64 * 1024,
            max_text_bytes: 8 * 1024,
            max_room_id_bytes: 128,
            max_name_bytes: 64,
            max_rooms_per_client: 100,
            max_queue_bytes: 512 * 1024,
            write_timeout: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            allow_localhost: true,
            shutdown_grace: Duration::from_secs(5),
            backlog: 4096,
            test_mode: false,
        }
    }
}

impl Config {
    /// Sets the address to listen on.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets the folder of the built app served on `/`.
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = dir.into();
        self
    }

    /// Sets how often the server pings each client.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets the largest message a client may send, in bytes.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets the longest chat text, in bytes.
    pub fn max_text_bytes(mut self, bytes: usize) -> Self {
        self.max_text_bytes = bytes;
        self
    }

    /// Sets the longest room id, in bytes.
    pub fn max_room_id_bytes(mut self, bytes: usize) -> Self {
        self.max_room_id_bytes = bytes;
        self
    }

    /// Sets the longest display name, in bytes.
    pub fn max_name_bytes(mut self, bytes: usize) -> Self {
        self.max_name_bytes = bytes;
        self
    }

    /// Sets how many rooms one connection may be in.
    pub fn max_rooms_per_client(mut self, rooms: usize) -> Self {
        self.max_rooms_per_client = rooms;
        self
    }

    /// Sets how many bytes may wait to be sent to one client.
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// Sets how long a write may stall before the client is closed as a slow consumer.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Allows one more origin (`scheme://host[:port]`), or any with `*`.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Sets whether pages on localhost may connect.
    pub fn allow_localhost(mut self, allow: bool) -> Self {
        self.allow_localhost = allow;
        self
    }

    /// Sets how long shutdown waits for clients.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets the listen backlog.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Enables the `/ws?fault=...` switches used by tests.
    pub fn test_mode(mut self, enabled: bool) -> Self {
        self.test_mode = enabled;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_defaults_equal_default() {
        assert_eq!(Config::parse_from(["tether-server"]), Config::default());
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
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }
}
