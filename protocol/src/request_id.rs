//! The optional id that turns a client message into a request.

use serde::{Deserialize, Deserializer, Serialize, de};
use std::fmt;

/// The id of a request: any client message that carries `"id"` next to `type` and `payload` is
/// answered by an [`Ack`](crate::Ack) with the same id once the server has handled it.
///
/// Numbers (as Socket.IO's acks use) and strings (for clients that prefer UUIDs) are both
/// accepted, and the ack echoes the id back in the form it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A non-negative integer id.
    Number(u64),
    /// A string id.
    Text(String),
}

// By hand rather than `#[serde(untagged)]`: the derived version buffers the value into serde's
// generic `Content` first, which multiplies the decoder's code size in the browser for no gain
// here, where a number or a string is told apart by the JSON token itself.
impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = RequestId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a string")
            }

            fn visit_u64<E: de::Error>(self, id: u64) -> Result<RequestId, E> {
                Ok(RequestId::Number(id))
            }

            fn visit_i64<E: de::Error>(self, id: i64) -> Result<RequestId, E> {
                u64::try_from(id)
                    .map(RequestId::Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(id), &self))
            }

            fn visit_str<E: de::Error>(self, id: &str) -> Result<RequestId, E> {
                Ok(RequestId::Text(id.to_owned()))
            }

            fn visit_string<E: de::Error>(self, id: String) -> Result<RequestId, E> {
                Ok(RequestId::Text(id))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl From<u64> for RequestId {
    fn from(id: u64) -> Self {
        Self::Number(id)
    }
}

impl From<String> for RequestId {
    fn from(id: String) -> Self {
        Self::Text(id)
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> Self {
        Self::Text(id.to_owned())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}
