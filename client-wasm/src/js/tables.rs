//! `tether-socket.js` holds copies of the numbers that cross into wasm, of the options' order, of
//! the events' names and of the heartbeat's default texts: JavaScript cannot import them from
//! Rust without glue that costs bytes. These tests read the file and check every copy against
//! the Rust original, so that the two drivers' tables cannot drift apart.

use super::{
    options::{NUMERIC, machine_options},
    status::{Op, input, state},
};
use crate::{ConnectionState, HeartbeatOptions, machine::MachineOptions, machine::Reason};
use std::collections::HashMap;

const DRIVER: &str = include_str!("../../npm/package/tether-socket.js");

/// The driver's top-level `const NAME = VALUE;` lines, by name (the value as written).
fn constants() -> HashMap<&'static str, &'static str> {
    DRIVER
        .lines()
        .filter_map(|line| {
            line.strip_prefix("const ")?
                .strip_suffix(';')?
                .split_once(" = ")
        })
        .collect()
}

fn number(name: &str) -> Option<u32> {
    constants().get(name)?.parse().ok()
}

/// A one-line array of strings or numbers; a hole (`[, , 'x']`) is an empty item.
fn array(name: &str) -> Vec<String> {
    let value = constants()
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("tether-socket.js has no const {name}"));
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{name} is not a one-line array: {value}"));
    inner
        .split(',')
        .map(|item| item.trim().trim_matches('\'').to_owned())
        .collect()
}

fn string(name: &str) -> String {
    let value = constants()[name];
    value.trim_matches('\'').to_owned()
}

/// Every input, under the name the driver gives it.
const INPUTS: [(&str, u8); 24] = [
    ("STATE", input::STATE),
    ("QUEUED", input::QUEUED),
    ("DEADLINE", input::DEADLINE),
    ("POLICY", input::POLICY),
    ("RECONNECT", input::RECONNECT),
    ("OPENING", input::OPENING),
    ("FAILED", input::FAILED),
    ("OPENED", input::OPENED),
    ("RECEIVED", input::RECEIVED),
    ("ACK", input::ACK),
    ("CLOSED", input::CLOSED),
    ("TICK", input::TICK),
    ("WAKE", input::WAKE),
    ("NETWORK", input::NETWORK),
    ("SEND", input::SEND),
    ("REQUEST", input::REQUEST),
    ("CLOSE", input::CLOSE),
    ("ID", input::ID),
    ("CID", input::CID),
    ("JOIN", input::JOIN),
    ("LEAVE", input::LEAVE),
    ("JOINED", input::JOINED),
    ("MESSAGE", input::MESSAGE),
    ("PAGE", input::PAGE),
];

const OPS: [Op; 15] = [
    Op::Done,
    Op::Connect,
    Op::Detach,
    Op::Send,
    Op::Ping,
    Op::Join,
    Op::Request,
    Op::Settle,
    Op::State,
    Op::Open,
    Op::Error,
    Op::Close,
    Op::Reconnecting,
    Op::HeartbeatTimeout,
    Op::RoomNotRecovered,
];

/// An op's name in the driver, and for an event op the DOM event it dispatches. A match, so
/// that a new op does not compile until it is named here.
fn js_name(op: Op) -> (&'static str, Option<&'static str>) {
    match op {
        Op::Done => ("OP_DONE", None),
        Op::Connect => ("OP_CONNECT", None),
        Op::Detach => ("OP_DETACH", None),
        Op::Send => ("OP_SEND", None),
        Op::Ping => ("OP_PING", None),
        Op::Join => ("OP_JOIN", None),
        Op::Request => ("OP_REQUEST", None),
        Op::Settle => ("OP_SETTLE", None),
        Op::State => ("OP_STATE", Some("statechange")),
        Op::Open => ("OP_OPEN", Some("open")),
        Op::Error => ("OP_ERROR", Some("error")),
        Op::Close => ("OP_CLOSE", Some("close")),
        Op::Reconnecting => ("OP_RECONNECTING", Some("reconnecting")),
        Op::HeartbeatTimeout => ("OP_HEARTBEAT_TIMEOUT", Some("heartbeattimeout")),
        Op::RoomNotRecovered => ("OP_ROOM_NOT_RECOVERED", Some("roomnotrecovered")),
    }
}

#[test]
fn the_drivers_inputs_and_ops_are_the_machines() {
    let inputs: HashMap<&str, u8> = INPUTS.into_iter().collect();
    let ops: HashMap<&str, u8> = OPS
        .map(|op| (js_name(op).0, op as u8))
        .into_iter()
        .collect();
    let mut checked = 0;
    for (name, value) in constants() {
        let Ok(value) = value.parse::<u32>() else {
            continue;
        };
        let rust = if name.starts_with("OP_") {
            ops.get(name)
        } else {
            inputs.get(name)
        };
        if let Some(rust) = rust {
            assert_eq!(value, u32::from(*rust), "{name} in tether-socket.js");
            checked += 1;
        } else {
            assert!(
                !name.starts_with("OP_"),
                "{name} in tether-socket.js is no op"
            );
        }
    }
    // Every input is used by the driver.
    for (name, _) in INPUTS {
        assert!(number(name).is_some(), "tether-socket.js lacks {name}");
    }
    assert!(
        checked >= INPUTS.len() + 5,
        "only {checked} numbers checked"
    );
}

#[test]
fn the_drivers_events_follow_the_event_ops_in_order() {
    let events = array("EVENTS");
    let first = number("OP_STATE").expect("OP_STATE");
    let event_ops: Vec<Op> = OPS
        .into_iter()
        .filter(|op| js_name(*op).1.is_some())
        .collect();
    assert_eq!(events.len(), event_ops.len());
    for op in event_ops {
        let index = (op as u32 - first) as usize;
        assert_eq!(Some(events[index].as_str()), js_name(op).1, "{op:?}");
    }
}

#[test]
fn the_drivers_states_and_close_reasons_are_the_machines() {
    let names = array("STATES");
    let ready = array("READY_STATES");
    for (s, name) in [
        (ConnectionState::Connecting, "connecting"),
        (ConnectionState::Open, "open"),
        (ConnectionState::Closing, "closing"),
        (
            ConnectionState::Reconnecting { attempt: 1, at: 0 },
            "reconnecting",
        ),
        (ConnectionState::Offline, "offline"),
        (ConnectionState::Closed, "closed"),
    ] {
        let n = usize::from(state(s));
        assert_eq!(names[n], name);
        assert_eq!(ready[n], s.ready_state().as_u16().to_string(), "{name}");
    }
    assert_eq!(names.len(), 6);
    let reasons = array("REASONS");
    for reason in [
        Reason::Browser,
        Reason::Failed,
        Reason::ConnectTimeout,
        Reason::HeartbeatTimeout,
    ] {
        assert_eq!(
            reasons[reason as usize],
            reason.text().unwrap_or_default(),
            "{reason:?}"
        );
    }
}

#[test]
fn the_drivers_options_and_heartbeat_texts_are_the_rusts() {
    assert_eq!(array("NUMERIC"), NUMERIC);
    let defaults = HeartbeatOptions::default();
    assert_eq!(string("PING"), defaults.ping);
    let pongs = array("PONGS");
    assert_eq!(pongs.len(), 2);
    for pong in &pongs {
        assert!((defaults.is_pong)(pong), "{pong}");
    }
}

#[test]
fn options_not_given_keep_the_rust_defaults() {
    let given = machine_options(&[f64::NAN; NUMERIC.len()]);
    let ours = MachineOptions::default();
    assert_eq!(given.heartbeat, ours.heartbeat);
    assert_eq!(given.reconnect, ours.reconnect);
    assert_eq!((given.rejoin, given.recent), (ours.rejoin, ours.recent));
    let mut numbers = [f64::NAN; NUMERIC.len()];
    numbers[NUMERIC.len() - 1] = 20.0;
    assert_eq!(machine_options(&numbers).recent, 20);
}
