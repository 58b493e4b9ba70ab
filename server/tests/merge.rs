//! The merge of a resuming client's replay with live traffic, over random interleavings: however
//! publishes, the held join, the store read and the opening of the gate interleave, the client
//! gets every message after its position exactly once, in order.

use futures_util::FutureExt;
use proptest::prelude::*;
use std::{sync::Arc, time::Duration};
use tether_server::{
    ClientId, Frame, MemoryRooms, MemoryStore, Outbox, Peer, Retention, Rooms, Store,
    store::{Appended, NewMessage},
};

fn peer() -> Arc<Peer> {
    Arc::new(Peer::new(ClientId::random(), Outbox::new(64 << 20)))
}

/// What the test can do next.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The writer stores a message and publishes it.
    Publish,
    /// A message is published again (a second path delivering it, as a backplane may).
    Republish,
    /// The resuming client is subscribed, held.
    Join,
    /// Its missed messages are read from the store and its gate opened.
    Open,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Publish),
        1 => Just(Step::Republish),
        1 => Just(Step::Join),
        1 => Just(Step::Open),
    ]
}

/// Stores a message and publishes what the store settled, as the session's writer callback does.
fn publish(store: &MemoryStore, rooms: &Arc<MemoryRooms>, sent: &mut Vec<Frame>) {
    let rooms = Arc::clone(rooms);
    let (tx, rx) = std::sync::mpsc::channel();
    store.append(
        NewMessage {
            room: Arc::from("r"),
            from: "writer".into(),
            sender: tether_server::ClientId::random(),
            name: None,
            text: "t".into(),
            timestamp: 0,
            cid: None,
        },
        Box::new(move |settled| {
            let Ok(Appended::Stored { entry, .. }) = settled else {
                panic!("stored");
            };
            let frame = Frame::raw("m").with_seq(entry.seq);
            rooms.publish("r", &frame, None);
            tx.send(frame).expect("sent");
        }),
    );
    sent.push(rx.recv().expect("settled"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_resume_gets_every_message_after_its_position_once_in_order(
        before in 0u64..20,
        since in 0u64..20,
        steps in prop::collection::vec(step(), 0..120),
    ) {
        let store = MemoryStore::new(Retention {
            messages: 10_000,
            age: Duration::from_secs(3600),
            dedupe_window: Duration::from_secs(600),
        });
        let rooms = Arc::new(MemoryRooms::new());
        let writer = peer();
        rooms.join("r", &writer, 0, &|_| Frame::raw("joined"));
        let mut sent = Vec::new();
        for _ in 0..before {
            publish(&store, &rooms, &mut sent);
        }
        let since = since.min(before);
        let client = peer();
        let mut held: Option<u64> = None;
        let mut open = false;
        let mut republish = 0usize;
        for step in steps {
            match step {
                Step::Publish => publish(&store, &rooms, &mut sent),
                Step::Republish => {
                    if !sent.is_empty() {
                        republish = (republish + 7) % sent.len();
                        rooms.publish("r", &sent[republish], None);
                    }
                }
                Step::Join if held.is_none() => {
                    held = Some(rooms.join_held("r", &client, 0).seq);
                }
                Step::Open if held.is_some() && !open => {
                    open_gate(&store, &rooms, &client, since, held.unwrap_or(0));
                    open = true;
                }
                Step::Join | Step::Open => {}
            }
        }
        let until = match held {
            Some(until) => until,
            None => rooms.join_held("r", &client, 0).seq,
        };
        if !open {
            open_gate(&store, &rooms, &client, since, until);
        }
        let top = store.head("r").now_or_never().expect("ready").expect("head").seq;
        let seqs: Vec<u64> = client.outbox().take().iter().filter_map(Frame::seq).collect();
        prop_assert_eq!(seqs, (since + 1..=top).collect::<Vec<_>>());
    }
}

/// What the catch-up does: read `since < seq <= until` from the store, then open the gate with it.
fn open_gate(store: &MemoryStore, rooms: &MemoryRooms, client: &Arc<Peer>, since: u64, until: u64) {
    let replay = store
        .range("r", since, until, usize::MAX)
        .now_or_never()
        .expect("ready")
        .expect("read");
    let frames = replay
        .iter()
        .map(|entry| Frame::raw("m").with_seq(entry.seq))
        .collect();
    rooms.open_gate("r", client.id(), frames);
}
