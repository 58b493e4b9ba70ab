//! What a display name may be: visible text that reads the same for everyone.

use crate::{Refusal, refusal::too_long};
use tether_protocol::ErrorCode;

/// Checks a name sent with `identify` and returns it trimmed.
///
/// Refused: a blank name, one over `max_bytes`, and one holding characters that change how the
/// rest is shown without showing themselves: control characters, bidirectional overrides and
/// isolates (which can make "evil" display as "live", or turn a name around), and invisible or
/// zero-width characters (which make two names that look alike differ, so one member could pass
/// for another). Refusing, rather than stripping them, keeps the name the client shows its user
/// the same as the one everyone else sees.
pub fn check(name: &str, max_bytes: usize) -> Result<&str, Refusal> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Refusal::new(ErrorCode::Empty, "name is blank"));
    }
    if name.len() > max_bytes {
        return Err(too_long("name", max_bytes));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::InvalidPayload,
            "name contains control characters",
        ));
    }
    if let Some(c) = first_hidden(name) {
        return Err(Refusal::new(
            ErrorCode::InvalidPayload,
            format!(
                "name contains an invisible or direction-changing character (U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(name)
}

/// The first hidden character of `name`, if any. The two that emoji are built with are allowed
/// where they build one: the zero-width joiner between two pictographs (👩‍💻), and the
/// emoji-style variation selector after one (❤️).
fn first_hidden(name: &str) -> Option<char> {
    let chars: Vec<char> = name.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let after_pictograph = i
            .checked_sub(1)
            .is_some_and(|p| is_pictograph(chars[p]) || chars[p] == '\u{FE0F}');
        let allowed = match c {
            '\u{FE0F}' => after_pictograph,
            '\u{200D}' => after_pictograph && chars.get(i + 1).is_some_and(|&n| is_pictograph(n)),
            _ => !is_hidden_format(c),
        };
        (!allowed).then_some(c)
    })
}

/// Emoji and pictographic symbols (the blocks emoji sequences are made of).
fn is_pictograph(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}')
}

/// Characters that are not drawn but change the text around them or pad it invisibly.
fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        // Soft hyphen, Arabic letter mark, Mongolian vowel separator.
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        // Zero-width space, non-joiner, joiner; left-to-right and right-to-left marks.
        | '\u{200B}'..='\u{200F}'
        // Line and paragraph separators; bidirectional embeddings and overrides.
        | '\u{2028}'..='\u{202E}'
        // Word joiner, invisible operators, bidirectional isolates, deprecated format controls.
        | '\u{2060}'..='\u{206F}'
        // Hangul fillers, which render as blanks.
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        // Variation selectors.
        | '\u{FE00}'..='\u{FE0F}'
        // Zero-width no-break space (byte order mark); interlinear annotation controls.
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
        // Tag characters, invisible.
        | '\u{E0000}'..='\u{E007F}'
        // Braille pattern blank, which renders as a blank.
        | '\u{2800}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_trimmed() {
        for name in [
            "Alice",
            "  Bob ",
            "José",
            "李雷",
            "Ölçü",
            "مرحبا",
            "שלום",
            "👩‍💻 dev",
            "❤️ fan",
        ] {
            assert_eq!(check(name, 64).expect(name), name.trim());
        }
    }

    #[test]
    fn emoji_joiners_are_refused_outside_emoji() {
        assert!(check("bo\u{200D}b", 64).is_err());
        assert!(check("\u{200D}👩", 64).is_err());
        assert!(check("b\u{FE0F}", 64).is_err());
    }

    #[test]
    fn hidden_characters_are_refused_and_named() {
        for (name, code) in [
            ("ad\u{202E}nimi", "U+202E"),
            ("bob\u{200B}", "U+200B"),
            ("\u{2066}alice\u{2069}", "U+2066"),
            ("al\u{00AD}ice", "U+00AD"),
            ("\u{3164}", "U+3164"),
            ("x\u{FEFF}", "U+FEFF"),
            ("a\u{E0041}", "U+E0041"),
        ] {
            let refusal = check(name, 64).expect_err(name);
            assert_eq!(refusal.code, ErrorCode::InvalidPayload);
            assert!(
                refusal.message.contains(code),
                "{name}: {}",
                refusal.message
            );
        }
    }

    #[test]
    fn blank_long_and_control_names_are_refused() {
        assert_eq!(check("   ", 64).unwrap_err().code, ErrorCode::Empty);
        assert_eq!(
            check(&"x".repeat(65), 64).unwrap_err().code,
            ErrorCode::TooLong
        );
        assert_eq!(
            check("a\u{7}b", 64).unwrap_err().code,
            ErrorCode::InvalidPayload
        );
    }
}
