//! Checking a nickname before it goes to the server as `identify`.

/// The longest nickname the server takes by default (`--max-name-bytes`), in bytes.
pub const MAX_NICKNAME_BYTES: usize = 64;

/// Trims `input` and checks it as the server would: not blank, at most [`MAX_NICKNAME_BYTES`]
/// bytes, no control characters. The server checks again; this only saves a round trip and
/// gives the form a message at once.
///
/// ```
/// use tether_app::nickname::parse_nickname;
///
/// assert_eq!(parse_nickname("  Alice "), Ok("Alice".to_owned()));
/// assert!(parse_nickname("   ").is_err());
/// ```
pub fn parse_nickname(input: &str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() {
        return Err("Pick a nickname first.".to_owned());
    }
    if name.len() > MAX_NICKNAME_BYTES {
        return Err(format!(
            "That nickname is too long (at most {MAX_NICKNAME_BYTES} bytes)."
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("A nickname cannot contain control characters.".to_owned());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_a_plain_name() {
        assert_eq!(parse_nickname(" Bob\t"), Ok("Bob".into()));
    }

    #[test]
    fn refuses_blank_long_and_control_characters() {
        assert!(parse_nickname("").is_err());
        assert!(parse_nickname(&"x".repeat(65)).is_err());
        assert!(parse_nickname("a\u{7}b").is_err());
    }

    #[test]
    fn counts_bytes_not_characters() {
        assert!(parse_nickname(&"é".repeat(32)).is_ok());
        assert!(parse_nickname(&"é".repeat(33)).is_err());
    }
}
