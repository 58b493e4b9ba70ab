//! Request heads through the real server, and through the handshake in process.
//!
//! Each input is written to a new TCP connection to a real server (`tether_server::run`, started
//! once per process), the sending side is closed, and the answer is read until the server closes:
//! the server must answer or close within seconds, never panic (any panic aborts the process),
//! answer with a well-formed response that is never a 500 and never serves a file outside its
//! folder, and upgrade exactly what the in-process `Handshake::accept` and `OriginPolicy`
//! accept. The first head is also checked in process on its own (see
//! `tether_fuzz::http_check::check_in_process`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_fuzz::{
    http_check::{RequestHead, check_answer, check_in_process},
    test_server::{HalfClose, server},
};

fuzz_target!(|data: &[u8]| {
    let head = RequestHead::parse(data);
    let in_process = head
        .as_ref()
        .and_then(|head| Some((head, check_in_process(head)?)));
    let half_close = match &head {
        Some(head) => HalfClose::AfterFirstAnswer {
            head_only: head.is_head_method(),
        },
        None => HalfClose::Immediately,
    };
    let answer = server().exchange(data, half_close);
    check_answer(in_process, &answer);
});
