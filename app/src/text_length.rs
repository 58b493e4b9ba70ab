//! `TextLength`: how a message's text stands against the server's limit, and what the composer
//! says about it.

/// The longest text the server takes by default (`--max-text-bytes`), in UTF-8 bytes; it refuses
/// a longer one with `too_long`.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// From this close to [`MAX_TEXT_BYTES`], the composer says how much room is left.
pub const WARN_BYTES_LEFT: usize = 1024;

/// How a draft stands against [`MAX_TEXT_BYTES`]. What counts is the text as it will be sent:
/// trimmed, in UTF-8 bytes (most letters take one or two, emoji four).
///
/// ```
/// use tether_app::text_length::TextLength;
///
/// assert_eq!(TextLength::of("hello"), TextLength::Fits);
/// assert_eq!(TextLength::of(&"a".repeat(8000)), TextLength::Near { left: 192 });
/// assert_eq!(TextLength::of(&"a".repeat(10_000)), TextLength::Over { by: 1808 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLength {
    /// Well within the limit: nothing to say.
    Fits,
    /// Within the limit, with `left` bytes to spare, fewer than [`WARN_BYTES_LEFT`].
    Near {
        /// Bytes that may still be added.
        left: usize,
    },
    /// Over the limit by `by` bytes: the server would refuse it, so it is not sent.
    Over {
        /// Bytes to remove.
        by: usize,
    },
}

impl TextLength {
    /// Where `text` stands.
    pub fn of(text: &str) -> Self {
        let bytes = text.trim().len();
        match MAX_TEXT_BYTES.checked_sub(bytes) {
            None => Self::Over {
                by: bytes - MAX_TEXT_BYTES,
            },
            Some(left) if left < WARN_BYTES_LEFT => Self::Near { left },
            Some(_) => Self::Fits,
        }
    }

    /// Whether it may be sent.
    pub fn fits(self) -> bool {
        !matches!(self, Self::Over { .. })
    }

    /// What the composer says under the field, if anything.
    pub fn message(self) -> Option<String> {
        let max = thousands(MAX_TEXT_BYTES);
        match self {
            Self::Fits => None,
            Self::Near { left } => Some(format!("{} of {max} bytes left.", thousands(left))),
            Self::Over { by } => Some(format!(
                "Too long to send: {} bytes over the {max}-byte limit. Shorten it or split it.",
                thousands(by)
            )),
        }
    }
}

/// `n` with a comma between thousands: 8,192.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_says_nothing() {
        assert_eq!(TextLength::of("hi").message(), None);
        assert_eq!(
            TextLength::of(&"a".repeat(MAX_TEXT_BYTES - WARN_BYTES_LEFT)),
            TextLength::Fits
        );
    }

    #[test]
    fn near_the_limit_it_counts_what_is_left() {
        let near = TextLength::of(&"a".repeat(MAX_TEXT_BYTES - WARN_BYTES_LEFT + 1));
        assert_eq!(near, TextLength::Near { left: 1023 });
        assert!(near.fits());
        assert_eq!(
            near.message().as_deref(),
            Some("1,023 of 8,192 bytes left.")
        );
        let full = TextLength::of(&"a".repeat(MAX_TEXT_BYTES));
        assert_eq!(full, TextLength::Near { left: 0 });
        assert!(full.fits());
    }

    #[test]
    fn over_the_limit_it_cannot_be_sent_and_says_by_how_much() {
        let over = TextLength::of(&"a".repeat(10_000));
        assert_eq!(over, TextLength::Over { by: 1808 });
        assert!(!over.fits());
        assert_eq!(
            over.message().as_deref(),
            Some(
                "Too long to send: 1,808 bytes over the 8,192-byte limit. Shorten it or split it."
            )
        );
    }

    #[test]
    fn counts_utf8_bytes_of_the_trimmed_text() {
        // 2,048 four-byte emoji are exactly the limit; spaces around are not sent.
        assert!(TextLength::of(&format!("  {}  ", "😀".repeat(2048))).fits());
        assert_eq!(
            TextLength::of(&"😀".repeat(2049)),
            TextLength::Over { by: 4 }
        );
        // 10,000 characters of Hebrew, two bytes each.
        assert_eq!(
            TextLength::of(&"ש".repeat(10_000)),
            TextLength::Over { by: 11_808 }
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
