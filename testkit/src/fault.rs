//! The faults a connection through the proxy can ask for, and how a URL names them.

/// A simulated misbehaviour of the server, chosen per connection with the query of the proxy's
/// URL: `?fault=mute`, `?fault=close&code=1008`, `?fault=echo`. Browser tests use these to
/// provoke what a real server does only under failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Pass everything through: the real server, unchanged.
    #[default]
    None,
    /// After the server's first message (`connected`), send the client nothing at all, pongs
    /// included: a server that hangs. What the client sends still reaches the server.
    Mute,
    /// After the server's first message, close the client's connection with this code.
    Close(u16),
    /// Send every data frame back unchanged (text as text, binary as binary), with no server
    /// behind it at all.
    Echo,
}

impl Fault {
    /// The fault a query string (without its `?`) asks for. An unknown name, `close` without a
    /// code, and any malformed query mean no fault, so that no query can make a plain connection
    /// fail: the same rule the server's own switch had.
    pub(crate) fn from_query(query: Option<&str>) -> Self {
        let Some(query) = query else {
            return Self::None;
        };
        let mut name = None;
        let mut code = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "fault" => &mut name,
                "code" => &mut code,
                _ => continue,
            };
            // A repeated key is ambiguous: which one did the test mean? Neither.
            if slot.replace(value).is_some() {
                return Self::None;
            }
        }
        // A code that is not a number spoils the whole query, as it did when a deserializer read it.
        let code = match code.map(str::parse::<u16>) {
            Some(Ok(code)) => Some(code),
            Some(Err(_)) => return Self::None,
            None => None,
        };
        match (name, code) {
            (Some("mute"), _) => Self::Mute,
            (Some("close"), Some(code)) => Self::Close(code),
            (Some("echo"), _) => Self::Echo,
            _ => Self::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn names_the_three_faults() {
        assert_eq!(Fault::from_query(Some("fault=mute")), Fault::Mute);
        assert_eq!(Fault::from_query(Some("fault=echo")), Fault::Echo);
        assert_eq!(
            Fault::from_query(Some("fault=close&code=4000")),
            Fault::Close(4000)
        );
        assert_eq!(
            Fault::from_query(Some("code=1008&fault=close")),
            Fault::Close(1008)
        );
    }

    #[test]
    fn no_query_or_other_keys_are_no_fault() {
        assert_eq!(Fault::from_query(None), Fault::None);
        assert_eq!(Fault::from_query(Some("")), Fault::None);
        assert_eq!(Fault::from_query(Some("room=a&x")), Fault::None);
    }

    #[test]
    fn an_unknown_fault_is_no_fault() {
        assert_eq!(Fault::from_query(Some("fault=explode")), Fault::None);
    }

    #[test]
    fn close_without_a_code_is_no_fault() {
        assert_eq!(Fault::from_query(Some("fault=close")), Fault::None);
    }

    #[test]
    fn a_malformed_query_is_no_fault() {
        assert_eq!(
            Fault::from_query(Some("fault=close&code=loud")),
            Fault::None
        );
        assert_eq!(
            Fault::from_query(Some("fault=mute&code=70000")),
            Fault::None
        );
        assert_eq!(
            Fault::from_query(Some("fault=mute&fault=echo")),
            Fault::None
        );
    }
}
