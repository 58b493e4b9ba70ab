//! `SocketCore`: the class the package's `TetherSocket` drives, one per socket.

use crate::{
    Payload,
    js::{
        options::machine_options,
        status::{Op, input, send_status, state},
    },
    machine::{BadClose, Command, Event, Kind, Machine, check_close},
};
use core::time::Duration;
use wasm_bindgen::prelude::*;

/// A message the JavaScript side holds, in the order of the machine's queue; only its size
/// crosses. An [`Op::Send`] means "send the oldest one".
#[derive(Debug)]
pub(crate) struct Held(usize);

impl Payload for Held {
    fn size(&self) -> usize {
        self.0
    }
}

/// One socket's state machine, driven by the package's `TetherSocket` (see the
/// [module docs](crate::js)): everything that happens goes in through [`input`](Self::input),
/// and the machine's commands come out one by one through [`poll`](Self::poll), [`a`](Self::a),
/// [`b`](Self::b) and [`c`](Self::c).
///
/// Five methods rather than one per input: every export costs wasm-bindgen glue on both sides
/// of the boundary, and a number is all each of them passes.
///
/// Freed by wasm-bindgen's `FinalizationRegistry` once its `TetherSocket` is garbage. It holds
/// nothing of JavaScript's, so nothing here keeps a socket alive.
#[wasm_bindgen]
#[derive(Debug)]
pub struct SocketCore {
    machine: Machine<Held>,
    a: f64,
    b: f64,
    c: f64,
}

/// A size or count from JavaScript: clamped, never a wrap.
fn count(n: f64) -> usize {
    n.max(0.0) as usize
}

/// The longest a JavaScript timer waits: 2^31 − 1 ms.
fn millis(ms: f64) -> Duration {
    Duration::from_millis(ms.clamp(0.0, 2_147_483_647.0) as u64)
}

#[wasm_bindgen]
impl SocketCore {
    /// A closed socket; [`input::RECONNECT`] starts it. The options are numbers, in the order of
    /// [`NUMERIC`](crate::js::options::NUMERIC), `NaN` for one not given; `seed` (a
    /// `Math.random()`) seeds the jitter.
    // One argument per option: wasm-bindgen passes numbers as they are, where an array would
    // cost an allocation and its glue on both sides.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(constructor)]
    pub fn new(
        connect_timeout: f64,
        heartbeat: f64,
        heartbeat_interval: f64,
        heartbeat_timeout: f64,
        reconnect: f64,
        reconnect_interval: f64,
        reconnect_decay: f64,
        max_reconnect_interval: f64,
        reconnect_jitter: f64,
        max_reconnect_attempts: f64,
        min_uptime: f64,
        max_queued_messages: f64,
        max_queued_bytes: f64,
        high_water_mark: f64,
        rejoin: f64,
        recent: f64,
        seed: f64,
    ) -> SocketCore {
        let options = machine_options(&[
            connect_timeout,
            heartbeat,
            heartbeat_interval,
            heartbeat_timeout,
            reconnect,
            reconnect_interval,
            reconnect_decay,
            max_reconnect_interval,
            reconnect_jitter,
            max_reconnect_attempts,
            min_uptime,
            max_queued_messages,
            max_queued_bytes,
            high_water_mark,
            rejoin,
            recent,
        ]);
        SocketCore {
            machine: Machine::new(options, seed),
            a: 0.0,
            b: 0.0,
            c: 0.0,
        }
    }

    /// Tells the machine something, or asks it something: `op` is one of [`input`]'s, which
    /// says what `x`, `y`, `z` and `w` mean and what comes back. `now` is `Date.now()`,
    /// `buffered` the `WebSocket`'s `bufferedAmount` (0 without one). A number not given
    /// (`undefined`) arrives as `NaN`.
    #[allow(clippy::too_many_arguments)]
    pub fn input(
        &mut self,
        op: u8,
        now: f64,
        buffered: f64,
        x: f64,
        y: f64,
        z: f64,
        w: f64,
    ) -> f64 {
        let machine = &mut self.machine;
        let buffered = count(buffered).try_into().unwrap_or(u32::MAX);
        // Attempts, room keys and close codes are small integers; a fraction or a negative is
        // none of them (`as` saturates, and NaN is 0). The wrapper gives a room only once it has
        // found one (`x` 0 or more), but for `JOIN`.
        let attempt = x as u32;
        let room = attempt;
        let yes = |flag: f64| flag != 0.0;
        // A position, for `ACK` and `JOINED`: `seq` `y` in epoch `z`, if both are given.
        let at = (y >= 0.0 && z >= 0.0).then_some((z as u32, y as u64));
        let status = match op {
            input::STATE => return f64::from(state(machine.status())),
            input::QUEUED => return machine.queued().1 as f64,
            input::DEADLINE => return machine.deadline().unwrap_or(f64::INFINITY),
            input::ID => {
                let room = (y >= 0.0).then_some(y as u32);
                let kind = match (x as u8, room) {
                    (1, room) => Kind::Chat(room),
                    (2, Some(room)) => Kind::History(room),
                    _ => Kind::Plain,
                };
                return machine.reserve(kind) as f64;
            }
            input::CID => return machine.cid_prefix() as f64,
            input::JOIN => {
                return machine
                    .join((x >= 0.0).then_some(room))
                    .map_or(-1.0, f64::from);
            }
            input::PAGE => return machine.page(room).unwrap_or(0) as f64,
            input::LEAVE => {
                machine.leave(room);
                0
            }
            input::JOINED => {
                machine.joined(room, at, (!w.is_nan()).then(|| yes(w)));
                0
            }
            // A message without a seq is delivered.
            input::MESSAGE => u8::from(y.is_nan() || y < 0.0 || machine.message(room, y as u64)),
            input::POLICY => {
                machine.close_policy(x as u16, yes(y));
                0
            }
            input::RECONNECT => {
                machine.reconnect(yes(x));
                0
            }
            input::OPENING => u8::from(machine.opening(attempt, now)),
            input::FAILED => {
                machine.failed(attempt, now);
                0
            }
            input::OPENED => {
                machine.opened(now, buffered);
                0
            }
            input::RECEIVED => {
                machine.received(now);
                0
            }
            // A whole number (no `f64::fract` in `no_std`).
            input::ACK => u8::from(x >= 0.0 && x == (x as u64) as f64 && machine.ack(x as u64, at)),
            input::CLOSED => {
                machine.closed(now, x as u16, yes(y));
                0
            }
            input::TICK => {
                machine.tick(now, buffered);
                0
            }
            input::WAKE => {
                machine.wake(now);
                0
            }
            input::NETWORK => {
                machine.network(now, yes(x));
                0
            }
            input::SEND => send_status(machine.send(now, Held(count(x)), buffered)),
            input::REQUEST => {
                send_status(machine.request(now, x as u64, millis(z), count(y), buffered))
            }
            input::CLOSE => {
                // `[Clamp] unsigned short`, as the browser reads it (rounded: `+ 0.5` and a
                // truncating cast, as `f64::round` is std's).
                let code = (x.clamp(0.0, 65535.0) + 0.5) as u16;
                match check_close(code, count(y)) {
                    Err(BadClose::Code) => 1,
                    Err(BadClose::Reason) => 2,
                    Ok(()) if machine.close() => 3,
                    Ok(()) => 0,
                }
            }
            // Not an input: nothing to do.
            _ => 0,
        };
        f64::from(status)
    }

    /// The next step for the driver (an [`Op`]), its arguments in [`a`](Self::a),
    /// [`b`](Self::b) and [`c`](Self::c); [`Op::Done`] when there is none.
    pub fn poll(&mut self) -> u8 {
        loop {
            let Some(command) = self.machine.poll() else {
                return Op::Done as u8;
            };
            self.c = 0.0;
            let (op, a, b) = match command {
                Command::Connect(attempt) => (Op::Connect, f64::from(attempt), 0.0),
                Command::Detach { dead } => (Op::Detach, f64::from(u8::from(dead)), 0.0),
                Command::Send(_) => (Op::Send, 0.0, 0.0),
                Command::Request(id) => (Op::Request, id as f64, 0.0),
                Command::Ping => (Op::Ping, 0.0, 0.0),
                Command::Join(room) => {
                    let join = self.machine.join_of(room);
                    let (seq, c) = match join.since {
                        Some((epoch, seq)) => (seq as f64, f64::from(epoch)),
                        None => (-1.0, f64::from(join.recent)),
                    };
                    self.c = c;
                    (Op::Join, f64::from(room), seq)
                }
                Command::Settle(id, failure) => (Op::Settle, id as f64, f64::from(failure as u8)),
                Command::Emit(event) => match event {
                    Event::State(s) => (Op::State, f64::from(state(s)), 0.0),
                    Event::Open { reconnected } => {
                        (Op::Open, f64::from(u8::from(reconnected)), 0.0)
                    }
                    Event::Error => (Op::Error, 0.0, 0.0),
                    Event::Close {
                        code,
                        clean,
                        reason,
                    } => (
                        Op::Close,
                        f64::from(code),
                        f64::from(reason as u8 * 2 + u8::from(clean)),
                    ),
                    Event::Reconnecting { attempt, delay } => (
                        Op::Reconnecting,
                        f64::from(attempt),
                        delay.as_secs_f64() * 1000.0,
                    ),
                    Event::HeartbeatTimeout => (Op::HeartbeatTimeout, 0.0, 0.0),
                    // The `statechange` to `closed` that follows says it.
                    Event::GaveUp => continue,
                    Event::RoomNotRecovered(room) => (Op::RoomNotRecovered, f64::from(room), 0.0),
                },
            };
            self.a = a;
            self.b = b;
            return op as u8;
        }
    }

    /// The first argument of the last [`poll`](Self::poll).
    #[wasm_bindgen(getter)]
    pub fn a(&self) -> f64 {
        self.a
    }

    /// The second argument of the last [`poll`](Self::poll).
    #[wasm_bindgen(getter)]
    pub fn b(&self) -> f64 {
        self.b
    }

    /// The third argument of the last [`poll`](Self::poll).
    #[wasm_bindgen(getter)]
    pub fn c(&self) -> f64 {
        self.c
    }
}
