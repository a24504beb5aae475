//! JSON as `serde_json::Serializer` writes it, byte for byte, with a faster string escape.
//!
//! serde_json looks every byte of a string up in its escape table one at a time; strings are
//! most of the flows JSON (240 MB at 100,000 flows) and of the cloud documents, and that loop
//! was a third of the flows target's instructions. Here a string is tested eight bytes at a
//! time and only a word holding a byte to escape is looked at byte by byte. Everything else
//! (layout, numbers, escapes) is left to the same `serde_json::ser::Formatter` serde_json would
//! call, in the same order, so the output is the same.

use std::io::Write;

use serde::ser::{self, Serialize};
use serde_json::ser::{CharEscape, Formatter};

/// Serialise `value` as JSON into `w`, laid out by `formatter` ([`super::PrettyJson`] or
/// `serde_json::ser::CompactFormatter`).
pub fn to_writer<W: Write, F: Formatter, T: Serialize + ?Sized>(
    w: W,
    formatter: F,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut Serializer { w, f: formatter })
}

pub struct Serializer<W, F> {
    w: W,
    f: F,
}

fn io(e: std::io::Error) -> serde_json::Error {
    serde_json::Error::io(e)
}

/// Whether a word has a byte below 0x20, a `"` or a `\` (exact: no false positives or misses).
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero(quote) | zero(backslash)) & HIGH != 0
}

/// The escape serde_json writes for a byte, if any.
#[inline]
fn escape_of(b: u8) -> Option<CharEscape> {
    Some(match b {
        b'"' => CharEscape::Quote,
        b'\\' => CharEscape::ReverseSolidus,
        0x08 => CharEscape::Backspace,
        0x0c => CharEscape::FormFeed,
        b'\n' => CharEscape::LineFeed,
        b'\r' => CharEscape::CarriageReturn,
        b'\t' => CharEscape::Tab,
        0..=0x1f => CharEscape::AsciiControl(b),
        _ => return None,
    })
}

/// Whether any byte of `s` is one to escape: a word at a time (the last word overlapping the
/// one before), short strings through a table without a branch per byte.
fn has_escape(s: &[u8]) -> bool {
    if s.len() < 8 {
        return s
            .iter()
            .fold(false, |any, &b| any | ESCAPED[usize::from(b)]);
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("eight bytes"));
    let mut words = s.chunks_exact(8);
    if words.any(|c| needs_escape(word(c))) {
        return true;
    }
    needs_escape(word(&s[s.len() - 8..]))
}

const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

fn write_str<W: Write, F: Formatter>(w: &mut W, f: &mut F, s: &str) -> serde_json::Result<()> {
    f.begin_string(w).map_err(io)?;
    let bytes = s.as_bytes();
    if !has_escape(bytes) {
        f.write_string_fragment(w, s).map_err(io)?;
        return f.end_string(w).map_err(io);
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(esc) = escape_of(b) {
            if start < i {
                f.write_string_fragment(w, &s[start..i]).map_err(io)?;
            }
            f.write_char_escape(w, esc).map_err(io)?;
            start = i + 1;
        }
    }
    if start < bytes.len() {
        f.write_string_fragment(w, &s[start..]).map_err(io)?;
    }
    f.end_string(w).map_err(io)
}

#[derive(PartialEq, Eq)]
enum State {
    Empty,
    First,
    Rest,
}

/// An array or object being written; `variant` when it is the value of an enum variant's
/// `{"Variant": ...}` wrapper, which closes with it.
pub struct Compound<'a, W, F> {
    ser: &'a mut Serializer<W, F>,
    state: State,
    array: bool,
    variant: bool,
}

impl<W: Write, F: Formatter> Serializer<W, F> {
    /// `{"variant": `: what serde_json writes before a variant's value.
    fn key_then(&mut self, variant: &str) -> serde_json::Result<()> {
        let (w, f) = (&mut self.w, &mut self.f);
        f.begin_object(w).map_err(io)?;
        f.begin_object_key(w, true).map_err(io)?;
        write_str(w, f, variant)?;
        f.end_object_key(w).map_err(io)?;
        f.begin_object_value(w).map_err(io)
    }

    fn end_variant(&mut self) -> serde_json::Result<()> {
        self.f.end_object_value(&mut self.w).map_err(io)?;
        self.f.end_object(&mut self.w).map_err(io)
    }

    /// `[`/`{` (`open`) or `]`/`}`.
    fn bracket(&mut self, array: bool, open: bool) -> serde_json::Result<()> {
        let (w, f) = (&mut self.w, &mut self.f);
        match (array, open) {
            (true, true) => f.begin_array(w),
            (true, false) => f.end_array(w),
            (false, true) => f.begin_object(w),
            (false, false) => f.end_object(w),
        }
        .map_err(io)
    }

    /// An array or object opened; one known to be empty is closed at once, as serde_json does.
    fn open(
        &mut self,
        array: bool,
        len: Option<usize>,
        variant: bool,
    ) -> serde_json::Result<Compound<'_, W, F>> {
        self.bracket(array, true)?;
        let state = if len == Some(0) {
            self.bracket(array, false)?;
            State::Empty
        } else {
            State::First
        };
        Ok(Compound {
            ser: self,
            state,
            array,
            variant,
        })
    }
}

macro_rules! write_num {
    ($($name:ident: $t:ty => $write:ident),* $(,)?) => {
        $(fn $name(self, v: $t) -> serde_json::Result<()> {
            self.f.$write(&mut self.w, v).map_err(io)
        })*
    };
}

impl<'a, W: Write, F: Formatter> ser::Serializer for &'a mut Serializer<W, F> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Compound<'a, W, F>;
    type SerializeTuple = Compound<'a, W, F>;
    type SerializeTupleStruct = Compound<'a, W, F>;
    type SerializeTupleVariant = Compound<'a, W, F>;
    type SerializeMap = Compound<'a, W, F>;
    type SerializeStruct = Compound<'a, W, F>;
    type SerializeStructVariant = Compound<'a, W, F>;

    write_num! {
        serialize_bool: bool => write_bool,
        serialize_i8: i8 => write_i8, serialize_i16: i16 => write_i16,
        serialize_i32: i32 => write_i32, serialize_i64: i64 => write_i64,
        serialize_i128: i128 => write_i128,
        serialize_u8: u8 => write_u8, serialize_u16: u16 => write_u16,
        serialize_u32: u32 => write_u32, serialize_u64: u64 => write_u64,
        serialize_u128: u128 => write_u128,
    }

    fn serialize_f32(self, v: f32) -> serde_json::Result<()> {
        match v.is_finite() {
            true => self.f.write_f32(&mut self.w, v).map_err(io),
            false => self.f.write_null(&mut self.w).map_err(io),
        }
    }

    fn serialize_f64(self, v: f64) -> serde_json::Result<()> {
        match v.is_finite() {
            true => self.f.write_f64(&mut self.w, v).map_err(io),
            false => self.f.write_null(&mut self.w).map_err(io),
        }
    }

    fn serialize_char(self, v: char) -> serde_json::Result<()> {
        write_str(&mut self.w, &mut self.f, v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> serde_json::Result<()> {
        write_str(&mut self.w, &mut self.f, v)
    }

    fn serialize_bytes(self, v: &[u8]) -> serde_json::Result<()> {
        self.f.write_byte_array(&mut self.w, v).map_err(io)
    }

    fn serialize_none(self) -> serde_json::Result<()> {
        self.f.write_null(&mut self.w).map_err(io)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> serde_json::Result<()> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> serde_json::Result<()> {
        self.f.write_null(&mut self.w).map_err(io)
    }

    fn serialize_unit_struct(self, _: &'static str) -> serde_json::Result<()> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> serde_json::Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> serde_json::Result<()> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> serde_json::Result<()> {
        self.key_then(variant)?;
        v.serialize(&mut *self)?;
        self.end_variant()
    }

    fn serialize_seq(self, len: Option<usize>) -> serde_json::Result<Self::SerializeSeq> {
        self.open(true, len, false)
    }

    fn serialize_tuple(self, len: usize) -> serde_json::Result<Self::SerializeTuple> {
        self.open(true, Some(len), false)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> serde_json::Result<Self::SerializeTupleStruct> {
        self.open(true, Some(len), false)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> serde_json::Result<Self::SerializeTupleVariant> {
        self.key_then(variant)?;
        self.open(true, Some(len), true)
    }

    fn serialize_map(self, len: Option<usize>) -> serde_json::Result<Self::SerializeMap> {
        self.open(false, len, false)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> serde_json::Result<Self::SerializeStruct> {
        self.open(false, Some(len), false)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> serde_json::Result<Self::SerializeStructVariant> {
        self.key_then(variant)?;
        self.open(false, Some(len), true)
    }
}

impl<W: Write, F: Formatter> Compound<'_, W, F> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> serde_json::Result<()> {
        let first = self.state == State::First;
        self.ser
            .f
            .begin_array_value(&mut self.ser.w, first)
            .map_err(io)?;
        self.state = State::Rest;
        v.serialize(&mut *self.ser)?;
        self.ser.f.end_array_value(&mut self.ser.w).map_err(io)
    }

    fn key<T: Serialize + ?Sized>(&mut self, k: &T) -> serde_json::Result<()> {
        let first = self.state == State::First;
        self.ser
            .f
            .begin_object_key(&mut self.ser.w, first)
            .map_err(io)?;
        self.state = State::Rest;
        k.serialize(KeySerializer {
            ser: &mut *self.ser,
        })?;
        self.ser.f.end_object_key(&mut self.ser.w).map_err(io)
    }

    fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> serde_json::Result<()> {
        self.ser.f.begin_object_value(&mut self.ser.w).map_err(io)?;
        v.serialize(&mut *self.ser)?;
        self.ser.f.end_object_value(&mut self.ser.w).map_err(io)
    }

    /// `]` or `}` (unless closed when opened empty), then a variant's wrapper.
    fn close(self) -> serde_json::Result<()> {
        if self.state != State::Empty {
            self.ser.bracket(self.array, false)?;
        }
        if self.variant {
            self.ser.end_variant()?;
        }
        Ok(())
    }
}

/// serde's four array-like traits differ only in their method's name.
macro_rules! array_like {
    ($($trait:ident::$method:ident),* $(,)?) => {
        $(impl<W: Write, F: Formatter> ser::$trait for Compound<'_, W, F> {
            type Ok = ();
            type Error = serde_json::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> serde_json::Result<()> {
                self.element(v)
            }
            fn end(self) -> serde_json::Result<()> {
                self.close()
            }
        })*
    };
}

array_like! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
}

/// serde's two struct traits are the same to JSON.
macro_rules! struct_like {
    ($($trait:ident),*) => {
        $(impl<W: Write, F: Formatter> ser::$trait for Compound<'_, W, F> {
            type Ok = ();
            type Error = serde_json::Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                k: &'static str,
                v: &T,
            ) -> serde_json::Result<()> {
                self.key(k)?;
                self.value(v)
            }
            fn end(self) -> serde_json::Result<()> {
                self.close()
            }
        })*
    };
}

struct_like!(SerializeStruct, SerializeStructVariant);

impl<W: Write, F: Formatter> ser::SerializeMap for Compound<'_, W, F> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> serde_json::Result<()> {
        self.key(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> serde_json::Result<()> {
        self.value(v)
    }
    fn end(self) -> serde_json::Result<()> {
        self.close()
    }
}

/// Object keys: strings as they are, numbers, booleans and unit variants quoted, as serde_json
/// does; anything else is refused with serde_json's message.
struct KeySerializer<'a, W, F> {
    ser: &'a mut Serializer<W, F>,
}

fn key_must_be_a_string() -> serde_json::Error {
    ser::Error::custom("key must be a string")
}

fn float_key_must_be_finite() -> serde_json::Error {
    ser::Error::custom("float key must be finite (got NaN or +/-inf)")
}

macro_rules! quoted_key {
    ($($name:ident: $t:ty => $write:ident),* $(,)?) => {
        $(fn $name(self, v: $t) -> serde_json::Result<()> {
            let (w, f) = (&mut self.ser.w, &mut self.ser.f);
            f.begin_string(w).map_err(io)?;
            f.$write(w, v).map_err(io)?;
            f.end_string(w).map_err(io)
        })*
    };
}

impl<W: Write, F: Formatter> ser::Serializer for KeySerializer<'_, W, F> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = ser::Impossible<(), serde_json::Error>;
    type SerializeTuple = ser::Impossible<(), serde_json::Error>;
    type SerializeTupleStruct = ser::Impossible<(), serde_json::Error>;
    type SerializeTupleVariant = ser::Impossible<(), serde_json::Error>;
    type SerializeMap = ser::Impossible<(), serde_json::Error>;
    type SerializeStruct = ser::Impossible<(), serde_json::Error>;
    type SerializeStructVariant = ser::Impossible<(), serde_json::Error>;

    quoted_key! {
        serialize_bool: bool => write_bool,
        serialize_i8: i8 => write_i8, serialize_i16: i16 => write_i16,
        serialize_i32: i32 => write_i32, serialize_i64: i64 => write_i64,
        serialize_i128: i128 => write_i128,
        serialize_u8: u8 => write_u8, serialize_u16: u16 => write_u16,
        serialize_u32: u32 => write_u32, serialize_u64: u64 => write_u64,
        serialize_u128: u128 => write_u128,
    }

    fn serialize_f32(self, v: f32) -> serde_json::Result<()> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        let (w, f) = (&mut self.ser.w, &mut self.ser.f);
        f.begin_string(w).map_err(io)?;
        f.write_f32(w, v).map_err(io)?;
        f.end_string(w).map_err(io)
    }
    fn serialize_f64(self, v: f64) -> serde_json::Result<()> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        let (w, f) = (&mut self.ser.w, &mut self.ser.f);
        f.begin_string(w).map_err(io)?;
        f.write_f64(w, v).map_err(io)?;
        f.end_string(w).map_err(io)
    }
    fn serialize_char(self, v: char) -> serde_json::Result<()> {
        self.ser.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> serde_json::Result<()> {
        self.ser.serialize_str(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> serde_json::Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> serde_json::Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> serde_json::Result<()> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> serde_json::Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> serde_json::Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> serde_json::Result<()> {
        self.ser.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> serde_json::Result<()> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> serde_json::Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> serde_json::Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> serde_json::Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> serde_json::Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::ser::CompactFormatter;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(i32, &'static str),
        Struct { a: Option<u8>, b: Vec<u8> },
        EmptyTuple(),
        EmptyStruct {},
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Doc {
        e: Vec<E>,
        unit: Unit,
        nothing: (),
        tuple: (u8, bool, char),
        empty_seq: Vec<u8>,
        empty_map: BTreeMap<String, u8>,
        int_keys: BTreeMap<i64, &'static str>,
        bool_keys: BTreeMap<bool, u8>,
        unit_variant_keys: BTreeMap<&'static str, E>,
        floats: Vec<f64>,
        #[serde(serialize_with = "as_map")]
        float_keys: Vec<(f64, u8)>,
        option_keys: BTreeMap<Option<&'static str>, u8>,
        big: (u128, i128, u64, i64),
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        value: serde_json::Value,
    }

    fn as_map<S: serde::Serializer>(v: &[(f64, u8)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(k, v)| (k, v)))
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b)
        }
    }

    /// Every byte value and a few multi-byte characters, at every offset from a word boundary.
    fn strings() -> Vec<String> {
        let mut out = vec![String::new(), "plain text of some length".into()];
        let specials: Vec<String> = (0u8..0x80)
            .map(|b| char::from(b).to_string())
            .chain(["é", "€", "😀", "\u{7f}", "\u{80}", "\u{2028}"].map(String::from))
            .collect();
        for sp in &specials {
            for pad in 0..10 {
                out.push(format!("{}{sp}{}", "a".repeat(pad), "b".repeat(9 - pad)));
                out.push(format!("{sp}{}{sp}{sp}", "x".repeat(pad)));
            }
        }
        out.push(specials.concat());
        out
    }

    fn doc() -> Doc {
        Doc {
            e: vec![
                E::Unit,
                E::New(7),
                E::Tuple(-3, "t\"x"),
                E::Struct { a: None, b: vec![] },
                E::Struct {
                    a: Some(1),
                    b: vec![1, 2],
                },
                E::EmptyTuple(),
                E::EmptyStruct {},
            ],
            unit: Unit,
            nothing: (),
            tuple: (1, true, '\n'),
            empty_seq: vec![],
            empty_map: BTreeMap::new(),
            int_keys: [(-1, "minus"), (2, "two")].into_iter().collect(),
            bool_keys: [(false, 0), (true, 1)].into_iter().collect(),
            unit_variant_keys: [("k", E::Unit)].into_iter().collect(),
            floats: vec![0.5, -1e300, f64::NAN, f64::INFINITY, 3.0],
            float_keys: vec![(1.5, 1), (-2.0, 2)],
            option_keys: [(Some("s"), 1)].into_iter().collect(),
            big: (u128::MAX, i128::MIN, u64::MAX, i64::MIN),
            bytes: vec![0, 255],
            value: serde_json::json!({
                "strings": strings(),
                "nested": [[], {}, [{"a": [1, 2, {"b": null}]}]],
                "n": [1, -2, 2.5, 1e-7],
            }),
        }
    }

    fn ours<F: Formatter>(f: F, v: &impl Serialize) -> Vec<u8> {
        let mut out = Vec::new();
        to_writer(&mut out, f, v).unwrap();
        out
    }

    fn theirs<F: Formatter>(f: F, v: &impl Serialize) -> Vec<u8> {
        let mut out = Vec::new();
        v.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))
            .unwrap();
        out
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let d = doc();
        assert_eq!(ours(CompactFormatter, &d), theirs(CompactFormatter, &d));
        for unit in [&b"  "[..], b"    ", b"\t"] {
            assert_eq!(
                String::from_utf8(ours(super::super::PrettyJson::with_indent(unit), &d)).unwrap(),
                String::from_utf8(theirs(super::super::PrettyJson::with_indent(unit), &d)).unwrap()
            );
        }
        for s in strings() {
            assert_eq!(
                ours(CompactFormatter, &s),
                theirs(CompactFormatter, &s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_word_test_finds_exactly_the_bytes_to_escape() {
        for b in 0u8..=255 {
            assert_eq!(ESCAPED[usize::from(b)], escape_of(b).is_some(), "{b:#x}");
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let want = b < 0x20 || b == b'"' || b == b'\\';
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    want,
                    "{b:#x} at {at}"
                );
                // High bytes around do not hide or fake one.
                let mut high = [0xc3; 8];
                high[at] = b;
                assert_eq!(
                    needs_escape(u64::from_le_bytes(high)),
                    want,
                    "{b:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn keys_that_are_not_strings_are_refused() {
        let m: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        let mut out = Vec::new();
        let e = to_writer(&mut out, CompactFormatter, &m).unwrap_err();
        assert_eq!(e.to_string(), "key must be a string");
    }
}
