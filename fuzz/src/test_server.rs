//! One real Tether server per fuzzing process, and one TCP exchange with it per input.
//!
//! The server runs as the binary runs it (`tether_server::run` on a listener), on its own thread
//! and current-thread runtime; the fuzzer's thread talks to it with blocking sockets. A panic in
//! any server task aborts the process (libfuzzer-sys's panic hook), and the exchange waits until
//! the server has closed the connection, so a crash is charged to the input that caused it.

use std::{
    fs,
    io::{self, ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    sync::OnceLock,
    thread::JoinHandle,
    time::{Duration, Instant},
};
use tether_server::{Config, config::StoreKind};

/// How long the server may take to answer an input and close the connection. Every exchange
/// ends with the client's FIN, so nothing legitimate waits for a timer; the margin is for a
/// machine shared with other builds.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The most bytes the server may send back for one input (at most 16 KiB of requests, each
/// answered in a few KiB).
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

/// The origin the server is configured to allow (localhost pages are allowed too).
pub const ALLOWED_ORIGIN: &str = "https://chat.example";

/// Written next to the static folder, never in it: no answer may ever contain it.
pub const SECRET: &str = "tether-fuzz-secret-7f3a9c: outside the static folder";

/// A server running for the rest of the process.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    // The thread that runs `tether_server::run`; it never returns unless the server stops.
    thread: JoinHandle<io::Result<()>>,
}

/// What the server sent back for one input.
#[derive(Debug)]
pub struct Answer {
    /// Every byte read until the server closed.
    pub bytes: Vec<u8>,
    /// Whether the server reset the connection (after unread input) rather than closing it.
    pub reset: bool,
}

/// The process's server, started on first use.
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| TestServer::start().expect("start the server"))
}

impl TestServer {
    fn start() -> io::Result<Self> {
        ignore_sigpipe();
        // Every input is a new connection from 127.0.0.1, thousands a second: the limits on
        // connections per address would answer nearly all of them with 429 unread.
        let config = Config::default()
            .store(StoreKind::Memory)
            .address_connect_rate(0)
            .max_connections_per_ip(0)
            .static_dir(static_dir()?)
            .allow_origin(ALLOWED_ORIGIN)
            .shutdown_grace(Duration::from_secs(1));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tether_server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 1024)?
        };
        let addr = listener.local_addr()?;
        let thread = std::thread::Builder::new()
            .name("tether-server".into())
            .spawn(move || {
                runtime.block_on(tether_server::run(listener, config, std::future::pending()))
            })?;
        let server = Self { addr, thread };
        let health = server.exchange(
            b"GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n",
            HalfClose::AfterFirstAnswer { head_only: false },
        );
        assert!(
            health.bytes.starts_with(b"HTTP/1.1 200 "),
            "the server does not answer /healthz: {:?}",
            String::from_utf8_lossy(&health.bytes)
        );
        Ok(server)
    }

    /// Sends `input` on a new connection, ends the sending side when `half_close` says, and
    /// reads until the server closes. Panics when the server takes longer than
    /// [`ANSWER_WITHIN`] (a hang), sends more than [`MAX_ANSWER_BYTES`], or has stopped.
    pub fn exchange(&self, input: &[u8], half_close: HalfClose) -> Answer {
        assert!(!self.thread.is_finished(), "the server has stopped");
        let mut tcp = TcpStream::connect_timeout(&self.addr, ANSWER_WITHIN).expect("connect");
        // Reset, not FIN, on close: the connection leaves no TIME_WAIT behind, so a long run does
        // not use up the ephemeral ports.
        socket2::SockRef::from(&tcp)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        tcp.set_write_timeout(Some(ANSWER_WITHIN))
            .expect("write timeout");
        match tcp.write_all(input) {
            Ok(()) => {}
            // The server answered and closed before reading everything: allowed.
            Err(err) if is_closed(&err) => {}
            Err(err) => panic!("the server stopped reading the input: {err}"),
        }
        let mut answer = Answer {
            bytes: Vec::new(),
            reset: false,
        };
        if let HalfClose::AfterFirstAnswer { head_only } = half_close {
            let quiet = Instant::now() + FIRST_ANSWER_QUIET;
            while !first_answer_whole(&answer.bytes, head_only) {
                match read_some(&mut tcp, &mut answer.bytes, quiet) {
                    Got::Some => {}
                    Got::Closed { reset } => return Answer { reset, ..answer },
                    Got::Quiet => break,
                }
            }
        }
        let _ = tcp.shutdown(Shutdown::Write);
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            match read_some(&mut tcp, &mut answer.bytes, deadline) {
                Got::Some => {}
                Got::Closed { reset } => return Answer { reset, ..answer },
                Got::Quiet => panic!(
                    "no close within {ANSWER_WITHIN:?} of the input's end; answered so far: {:?}",
                    String::from_utf8_lossy(&answer.bytes)
                ),
            }
            assert!(
                answer.bytes.len() <= MAX_ANSWER_BYTES,
                "more than {MAX_ANSWER_BYTES} bytes in answer to {} bytes",
                input.len()
            );
        }
    }
}

/// When the client ends its sending side.
///
/// Hyper closes a connection whose client has ended its side while a request is still being
/// answered (it does not allow half-closed connections), and the answer is lost. An answer that
/// is ready at once (a refusal, `/healthz`, the upgrade) is not; a file (read on another thread)
/// usually is. So for an input that starts with a complete request head, the client waits for
/// the first answer before it ends its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfClose {
    /// Right after the input.
    Immediately,
    /// Once the first answer is whole, or the server has sent nothing for
    /// [`FIRST_ANSWER_QUIET`]. `head_only`: the first request is a HEAD, whose answer has no
    /// body whatever its `Content-Length` says.
    AfterFirstAnswer {
        /// The first request is a HEAD.
        head_only: bool,
    },
}

/// How long the client waits for a first answer before it ends its side anyway.
pub const FIRST_ANSWER_QUIET: Duration = Duration::from_millis(50);

enum Got {
    Some,
    Closed { reset: bool },
    Quiet,
}

/// Reads what is there into `bytes`, waiting until `until` at most.
fn read_some(tcp: &mut TcpStream, bytes: &mut Vec<u8>, until: Instant) -> Got {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Got::Quiet;
        }
        tcp.set_read_timeout(Some(left)).expect("read timeout");
        match tcp.read(&mut buffer) {
            Ok(0) => return Got::Closed { reset: false },
            Ok(n) => {
                bytes.extend_from_slice(&buffer[..n]);
                return Got::Some;
            }
            Err(err) if is_closed(&err) => return Got::Closed { reset: true },
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) => {}
            Err(err) => panic!("reading the answer failed: {err}"),
        }
    }
}

/// Whether `bytes` hold a whole final answer (after any `100 Continue`), or something that is no
/// answer at all (which the checks will refuse).
fn first_answer_whole(mut bytes: &[u8], head_only: bool) -> bool {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(bytes) {
            Ok(httparse::Status::Complete(head)) => head,
            Ok(httparse::Status::Partial) => return false,
            Err(_) => return true,
        };
        let status = response.code.unwrap_or_default();
        if status == 100 {
            bytes = &bytes[head..];
            continue;
        }
        if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
            return true;
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case(name))
                .map(|header| header.value)
        };
        let body = &bytes[head..];
        if let Some(length) = header("content-length") {
            return std::str::from_utf8(length)
                .ok()
                .and_then(|length| length.trim().parse::<usize>().ok())
                .is_none_or(|length| body.len() >= length);
        }
        if header("transfer-encoding").is_some() {
            return body.windows(5).any(|window| window == b"0\r\n\r\n");
        }
        return true;
    }
}

fn is_closed(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// A static folder with an index, a hashed asset and its gzipped twin, and [`SECRET`] beside it.
/// Shared by every fuzzing process on the machine; the files are the same in each.
fn static_dir() -> io::Result<PathBuf> {
    let root = std::env::temp_dir().join("tether-fuzz-static");
    let public = root.join("public");
    fs::create_dir_all(&public)?;
    write_once(&root.join("secret.txt"), SECRET)?;
    write_once(
        &public.join("index.html"),
        "<!doctype html><title>Tether</title><script src=app-0123456789abcdef.js></script>",
    )?;
    write_once(
        &public.join("app-0123456789abcdef.js"),
        "console.log('tether')",
    )?;
    // Not real gzip: the server picks the file by its name and never decodes it.
    write_once(
        &public.join("app-0123456789abcdef.js.gz"),
        "gzip: not really",
    )?;
    Ok(public)
}

/// Writes `text` unless the file already holds it: another fuzzing process may be serving it.
fn write_once(path: &Path, text: &str) -> io::Result<()> {
    if fs::read(path).is_ok_and(|held| held == text.as_bytes()) {
        return Ok(());
    }
    fs::write(path, text)
}

/// As Rust's own `main` does (and libFuzzer's `main` does not): a write to a closed socket
/// returns `EPIPE` instead of killing the process.
fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler; it is done once,
    // before the server's threads start.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
