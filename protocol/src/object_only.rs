//! Payloads are JSON objects, never arrays.
//!
//! serde's derived `Deserialize` for a struct accepts a sequence as well as a map, so
//! `{"type":"join","payload":["x"]}` would join room `x`. Nothing in the protocol is positional;
//! reading an array as a struct only lets malformed input through, so every payload is read as
//! a map alone.

use serde::{Deserialize, Deserializer, de::Visitor, forward_to_deserialize_any};

/// Deserializes a payload struct from a map only (a JSON object): for `deserialize_with`.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(ObjectOnly(deserializer))
}

/// A deserializer that asks for a map where a struct is expected, and passes everything else on.
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}
