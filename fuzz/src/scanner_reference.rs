//! The frame-length rule written the plain way: a whole stream in one slice, no state.

use tether_server::frame_guard::{BadLength, FrameScanner};

/// Where in `stream` the first header that breaks the rule ends (the offset of its last byte),
/// or `None` when every complete header in it is minimal. A header or payload cut off by the end
/// of the stream is not an error: more may come.
pub fn first_bad_header(stream: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let rest = &stream[at..];
        if rest.len() < 2 {
            return None;
        }
        let extended = match rest[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header = 2 + extended + if rest[1] & 0x80 != 0 { 4 } else { 0 };
        if rest.len() < header {
            return None;
        }
        let len = match extended {
            2 => {
                let len = u64::from(u16::from_be_bytes([rest[2], rest[3]]));
                if len < 126 {
                    return Some(at + header - 1);
                }
                len
            }
            8 => {
                let len = u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes"));
                if len <= u64::from(u16::MAX) || len >> 63 != 0 {
                    return Some(at + header - 1);
                }
                len
            }
            _ => u64::from(rest[1] & 0x7F),
        };
        let after = (at + header) as u64 + len;
        if after >= stream.len() as u64 {
            return None;
        }
        at = after as usize;
    }
}

/// Feeds `stream` to a [`FrameScanner`] in pieces of `sizes` (cycled), and checks it against
/// [`first_bad_header`]: the scanner must accept every piece before the one holding the end of
/// the first bad header, refuse that piece, and whatever it is fed after refusing, must not panic
/// (the guard it sits in is read again while the connection closes).
pub fn check_scanner(stream: &[u8], sizes: &[usize]) {
    let bad = first_bad_header(stream);
    let mut scanner = FrameScanner::new();
    let mut start = 0;
    let mut refused = None;
    for size in sizes.iter().copied().cycle() {
        if start >= stream.len() {
            break;
        }
        let end = (start + size.max(1)).min(stream.len());
        let result = scanner.scan(&stream[start..end]);
        if refused.is_none() {
            match (result, bad) {
                (Ok(()), Some(bad)) => {
                    assert!(
                        bad >= end,
                        "the scanner passed a bad header ending at {bad}"
                    )
                }
                (Ok(()), None) => {}
                (Err(BadLength), Some(bad)) => {
                    assert!(
                        (start..end).contains(&bad),
                        "the scanner refused bytes {start}..{end}, the bad header ends at {bad}"
                    );
                    refused = Some(start);
                }
                (Err(BadLength), None) => {
                    panic!("the scanner refused bytes {start}..{end} of a valid stream")
                }
            }
        }
        start = end;
    }
    assert_eq!(
        refused.is_some(),
        bad.is_some(),
        "the scanner and the reference disagree on {stream:?}"
    );
}
