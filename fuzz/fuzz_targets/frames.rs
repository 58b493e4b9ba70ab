//! What a client sends after the upgrade, through the server's real connection task.
//!
//! The input (see `tether_fuzz::wire_input`) is written into one end of an in-memory pipe, whose
//! other end is wrapped as the server wraps an upgraded connection (`FrameGuard`, tungstenite in
//! the server role, the server's WebSocket limits) and served by `connection::run` with a real
//! `Session` and `MemoryRooms`, on a runtime whose clock only moves when every task waits. The
//! input ends with the pipe's close, so the connection must end before its first heartbeat, by
//! the client's close or a protocol ending, never hang or panic, and write only whole, valid
//! frames that end with the close code its ending calls for.
//!
//! The same bytes go through `FrameScanner::scan` in three splits, held to a reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::{
    net::Ipv4Addr,
    sync::{Arc, OnceLock},
    time::Duration,
};
use tether_fuzz::{
    scanner_reference::check_scanner,
    server_frames::{self, ServerFrame},
    wire_input::WireInput,
};
use tether_protocol::{CloseCode, ServerMessage};
use tether_server::{
    ClientId, Config, MemoryRooms, MemoryStore, Metrics, Outbox, Peer, Rooms, Session,
    backplane::LocalBackplane,
    config::StoreKind,
    connection::{self, Ending},
    frame_guard::FrameGuard,
    rates::AddressRates,
    session::Shared,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::timeout,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::protocol::{Role, WebSocketConfig},
};

/// How long (on the paused clock) a connection may take to end once its input has ended: less
/// than [`HEARTBEAT`], so a connection the heartbeat would have to end is a hang.
const ENDS_WITHIN: Duration = Duration::from_secs(20);

/// The most bytes the server may write for one input of at most a few KiB.
const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// The server's limits, small enough for a few KiB of input to reach each of them; history in
/// memory.
fn config() -> &'static Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Arc::new(
            Config::default()
                .store(StoreKind::Memory)
                .heartbeat_interval(HEARTBEAT)
                .rejoin_grace(Duration::from_secs(5))
                .max_message_bytes(2048)
                .max_text_bytes(256)
                .max_room_id_bytes(32)
                .max_name_bytes(16)
                .max_rooms_per_client(4)
                .max_presence_members(3)
                .max_control_bytes(256)
                .message_burst(20)
                .join_burst(8)
                .typing_burst(3)
                .flood_strikes(8),
        )
    })
}

/// The heartbeat interval: the connection must end well before its first ping.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Shared by every input: building the registry for each would cost more than the input.
fn metrics() -> &'static Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| Arc::new(Metrics::default()))
}

/// Tungstenite's limits as `server.rs` sets them for an upgraded connection.
fn websocket_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes))
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_write_buffer_size(config.max_control_bytes.max(1))
}

/// Serves `input` on one connection until it ends, then lets what the session left behind (its
/// rooms' grace) run out; returns how it ended and what it wrote.
///
/// Each input gets its own runtime, rooms and store, so that nothing one input leaves running
/// can act during the next; the paused clock makes timers free and the runs repeatable.
fn serve(input: WireInput) -> (Ending, Vec<u8>) {
    let config = config();
    let metrics = metrics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let rooms = Arc::new(MemoryRooms::new());
        let shared = Arc::new(Shared {
            rooms: Arc::clone(&rooms) as Arc<dyn Rooms>,
            backplane: Arc::new(LocalBackplane::new(Arc::clone(&rooms) as Arc<dyn Rooms>)),
            store: Arc::new(MemoryStore::new(config.retention())),
            auth: None,
            config: Arc::clone(config),
            metrics: Arc::clone(metrics),
            addresses: AddressRates::new(config),
        });
        let (client, server) = tokio::io::duplex(input.read_size);
        let mut socket = WebSocketStream::from_raw_socket(
            FrameGuard::new(server),
            Role::Server,
            Some(websocket_config(config)),
        )
        .await;
        let outbox = Outbox::new(config.max_queue_bytes);
        let peer = Arc::new(Peer::new(ClientId::random(), outbox));
        let session = Session::start(peer, &shared, Ipv4Addr::LOCALHOST.into(), None);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            // The server may stop reading (and drop its end) before taking it all.
            let _ = to_server.write_all(&input.bytes).await;
            let _ = to_server.shutdown().await;
        });
        let reader = tokio::spawn(async move {
            let mut output = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                match from_server.read(&mut buffer).await {
                    Ok(0) | Err(_) => break output,
                    Ok(n) => output.extend_from_slice(&buffer[..n]),
                }
                assert!(output.len() <= MAX_OUTPUT_BYTES, "unbounded output");
            }
        });
        let ending = timeout(
            ENDS_WITHIN,
            connection::run(&mut socket, session, config, metrics),
        )
        .await
        .unwrap_or_else(|_| panic!("the connection did not end within {ENDS_WITHIN:?}"));
        drop(socket);
        writer.await.expect("the writer");
        let output = reader.await.expect("the reader");
        // The session's rooms are left once the grace has passed.
        tokio::time::sleep(config.rejoin_grace + Duration::from_secs(1)).await;
        assert_eq!(rooms.room_count(), 0, "rooms left behind by a gone client");
        (ending, output)
    })
}

/// The close code an ending sends, when it sends one the server chose.
fn close_code(ending: Ending) -> Option<u16> {
    let code = match ending {
        Ending::ProtocolError => CloseCode::PROTOCOL_ERROR,
        Ending::TooBig => CloseCode::MESSAGE_TOO_BIG,
        Ending::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
        Ending::Flood => CloseCode::POLICY_VIOLATION,
        _ => return None,
    };
    Some(code.0)
}

fn check_output(ending: Ending, output: &[u8]) {
    let frames = server_frames::parse(output)
        .unwrap_or_else(|err| panic!("the server wrote {err} (ending {ending:?})"));
    match ending {
        Ending::ClientClosed | Ending::Broken => {}
        // Tungstenite reports a stream that ends without a close frame as a protocol error, and
        // no frame can be sent after it: the 1002 is there for every other protocol error.
        Ending::ProtocolError => {
            if let Some(last) = frames.last().filter(|frame| frame.opcode == 8) {
                assert_eq!(
                    last.close_code(),
                    close_code(ending),
                    "the close for {ending:?}"
                );
            }
        }
        Ending::TooBig | Ending::InvalidUtf8 | Ending::Flood => {
            let last = frames.last().and_then(ServerFrame::close_code);
            assert_eq!(last, close_code(ending), "the close for {ending:?}");
        }
        // Nobody shuts down or takes the client's place, no Redis loses a room, the client reads
        // everything, the input ends long before a heartbeat is due, and there is no token to
        // expire.
        Ending::Shutdown
        | Ending::HistoryLost
        | Ending::SlowConsumer
        | Ending::HeartbeatTimeout
        | Ending::Replaced
        | Ending::TokenExpired => {
            panic!("the connection ended with {ending:?}")
        }
    }
    if ending == Ending::Broken {
        assert!(
            frames.last().is_none_or(|frame| frame.opcode != 8),
            "a close frame on a broken connection"
        );
    }
    if let Some(first) = frames.iter().find(|frame| frame.opcode == 1) {
        let first: ServerMessage = serde_json::from_slice(&first.payload).expect("checked JSON");
        assert!(
            matches!(first, ServerMessage::Connected(_)),
            "the first message is {first:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let input = WireInput::new(data);
    let stream = &input.bytes;
    check_scanner(stream, &[stream.len()]);
    check_scanner(stream, &[1]);
    let sizes: Vec<usize> = data.iter().map(|&b| usize::from(b % 16) + 1).collect();
    check_scanner(stream, &sizes);
    let (ending, output) = serve(input);
    check_output(ending, &output);
});
