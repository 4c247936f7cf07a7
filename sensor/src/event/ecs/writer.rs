//! A compact JSON serializer into a caller's buffer: what serde_json writes, byte for byte
//! ([`tests`] compare the two). The event line is written field by field (`line.rs` and the
//! section modules); this serializer writes the few rare sections that keep their serde form
//! (`agent_sensor.baseline`, `agent_sensor.peer`), and stands for serde_json where a `Serialize`
//! value must become a line. Only what those types use is implemented; the rest is an error.

use std::fmt::{self, Write as _};

use serde::{
    Serialize, Serializer,
    ser::{self, Impossible},
};

use super::escape::{Escaping, write_str};

/// What the serializer refuses (a type the event line never holds).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WriteError(String);

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

/// Appends `value` as compact JSON to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), WriteError> {
    value.serialize(&mut Json { out })
}

struct Json<'a> {
    out: &'a mut Vec<u8>,
}

impl Json<'_> {
    fn integer(&mut self, value: impl itoa::Integer) {
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// `null` for NaN and the infinities, as serde_json writes them.
    fn float(&mut self, value: impl zmij::Float, finite: bool) {
        if finite {
            self.out
                .extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
    }

    fn open<'s>(&'s mut self, opening: &[u8], closing: &'static [u8]) -> Compound<'s, Self> {
        self.out.extend_from_slice(opening);
        Compound {
            json: self,
            first: true,
            closing,
        }
    }
}

/// An array or an object being written; `closing` ends it.
struct Compound<'s, J> {
    json: &'s mut J,
    first: bool,
    closing: &'static [u8],
}

impl<'a> Compound<'_, Json<'a>> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.json.out.push(b',');
        }
    }

    /// A struct's field or a variant's name: a Rust identifier or a plain renaming of one
    /// (`@timestamp`), which needs no escaping (the tests compare every line with serde_json's).
    fn field_name(&mut self, name: &str) {
        let out = &mut *self.json.out;
        out.reserve(name.len() + 4);
        if !std::mem::take(&mut self.first) {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    }

    fn close(self) {
        self.json.out.extend_from_slice(self.closing);
    }
}

impl<'a, 's> Serializer for &'s mut Json<'a> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Compound<'s, Json<'a>>;
    type SerializeTuple = Compound<'s, Json<'a>>;
    type SerializeTupleStruct = Compound<'s, Json<'a>>;
    type SerializeTupleVariant = Compound<'s, Json<'a>>;
    type SerializeMap = Compound<'s, Json<'a>>;
    type SerializeStruct = Compound<'s, Json<'a>>;
    type SerializeStructVariant = Compound<'s, Json<'a>>;

    fn serialize_bool(self, value: bool) -> Result<(), WriteError> {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, value: i8) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_i16(self, value: i16) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_i32(self, value: i32) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_i64(self, value: i64) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_i128(self, value: i128) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_u16(self, value: u16) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_u32(self, value: u32) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_u64(self, value: u64) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_u128(self, value: u128) -> Result<(), WriteError> {
        self.integer(value);
        Ok(())
    }
    fn serialize_f32(self, value: f32) -> Result<(), WriteError> {
        self.float(value, value.is_finite());
        Ok(())
    }
    fn serialize_f64(self, value: f64) -> Result<(), WriteError> {
        self.float(value, value.is_finite());
        Ok(())
    }
    fn serialize_char(self, value: char) -> Result<(), WriteError> {
        write_str(self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Result<(), WriteError> {
        write_str(self.out, value);
        Ok(())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result<(), WriteError> {
        let mut seq = self.open(b"[", b"]");
        for byte in value {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        seq.close();
        Ok(())
    }
    fn serialize_none(self) -> Result<(), WriteError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), WriteError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), WriteError> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        let mut object = self.open(b"{", b"}");
        object.field_name(variant);
        value.serialize(&mut *object.json)?;
        object.close();
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, WriteError> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, WriteError> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, WriteError> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        self.out.push(b'{');
        write_str(self.out, variant);
        Ok(self.open(b":[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, WriteError> {
        Ok(self.open(b"{", b"}"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, WriteError> {
        Ok(self.open(b"{", b"}"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        self.out.push(b'{');
        write_str(self.out, variant);
        Ok(self.open(b":{", b"}}"))
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        self.out.push(b'"');
        write!(Escaping(self.out), "{value}").map_err(|_| ser::Error::custom("a Display implementation failed"))?;
        self.out.push(b'"');
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.separate();
        value.serialize(&mut *self.json)
    }
    fn end(self) -> Result<(), WriteError> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WriteError> {
        self.separate();
        key.serialize(KeyWriter(&mut *self.json.out))?;
        self.json.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(&mut *self.json)
    }
    fn end(self) -> Result<(), WriteError> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), WriteError> {
        self.field_name(key);
        value.serialize(&mut *self.json)
    }
    fn end(self) -> Result<(), WriteError> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, Json<'_>> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), WriteError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), WriteError> {
        self.close();
        Ok(())
    }
}

/// A map key: JSON keys are strings, so numbers are quoted, as serde_json does.
struct KeyWriter<'a>(&'a mut Vec<u8>);

impl KeyWriter<'_> {
    fn quoted(self, value: impl itoa::Integer) -> Result<(), WriteError> {
        self.0.push(b'"');
        self.0.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self.0.push(b'"');
        Ok(())
    }
}

fn not_a_key() -> WriteError {
    ser::Error::custom("a map key must be a string or an integer")
}

impl Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Impossible<(), WriteError>;
    type SerializeTuple = Impossible<(), WriteError>;
    type SerializeTupleStruct = Impossible<(), WriteError>;
    type SerializeTupleVariant = Impossible<(), WriteError>;
    type SerializeMap = Impossible<(), WriteError>;
    type SerializeStruct = Impossible<(), WriteError>;
    type SerializeStructVariant = Impossible<(), WriteError>;

    fn serialize_str(self, value: &str) -> Result<(), WriteError> {
        write_str(self.0, value);
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), WriteError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }
    fn serialize_char(self, value: char) -> Result<(), WriteError> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }
    fn serialize_i8(self, value: i8) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_i16(self, value: i16) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_i32(self, value: i32) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_i64(self, value: i64) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_u8(self, value: u8) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_u16(self, value: u16) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_u32(self, value: u32) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn serialize_u64(self, value: u64) -> Result<(), WriteError> {
        self.quoted(value)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        self.0.push(b'"');
        write!(Escaping(self.0), "{value}").map_err(|_| ser::Error::custom("a Display implementation failed"))?;
        self.0.push(b'"');
        Ok(())
    }
    fn serialize_bool(self, _value: bool) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_f32(self, _value: f32) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_f64(self, _value: f64) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_bytes(self, _value: &[u8]) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_none(self) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_unit(self) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), WriteError> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, WriteError> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, WriteError> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, WriteError> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        Err(not_a_key())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, WriteError> {
        Err(not_a_key())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, WriteError> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        Err(not_a_key())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn ours<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        write(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text, control characters, quotes, backslashes and non-ASCII included, is
        /// written as serde_json writes it.
        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(text in "(?s).{0,64}|[\\x00-\\x7f]{0,40}|[\"\\\\\\n\\x01a-c]{0,20}") {
            prop_assert_eq!(ours(&text), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn numbers_and_collections_are_written_as_serde_json_writes_them(
            signed in any::<i64>(),
            unsigned in any::<u64>(),
            float in any::<f64>(),
            short in any::<f32>(),
            list in proptest::collection::vec(".{0,8}", 0..4),
            map in proptest::collection::btree_map(".{0,6}", any::<u32>(), 0..4),
        ) {
            let value = (signed, unsigned, float, short, Some(true), None::<u8>, list, map);
            prop_assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
        }
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(u8, &'static str),
        Struct { side: u32 },
    }

    #[test]
    fn variants_and_integer_keys_are_written_as_serde_json_writes_them() {
        let shapes = vec![
            Shape::Unit,
            Shape::Newtype(3),
            Shape::Tuple(1, "a"),
            Shape::Struct { side: 2 },
        ];
        assert_eq!(ours(&shapes), serde_json::to_string(&shapes).unwrap());
        let keyed: BTreeMap<u32, char> = [(1, 'x'), (20, '"')].into();
        assert_eq!(ours(&keyed), serde_json::to_string(&keyed).unwrap());
        assert_eq!(
            ours(&format_args!("a\"{}\n", 5)),
            serde_json::to_string(&"a\"5\n").unwrap()
        );
    }

    #[test]
    fn a_key_that_is_not_a_string_is_refused() {
        let keyed: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(write(&mut Vec::new(), &keyed).is_err());
    }
}
