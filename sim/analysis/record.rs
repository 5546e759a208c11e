//! Reading one trace record without serde, when it is written the way
//! presim writes records.
//!
//! A trace has millions of records and serde spends most of an analysis
//! on them: a visitor for each key, each field of [`Line`] moved several
//! times. Nearly every record presim writes has one shape: an object on
//! one line, no whitespace, keys and strings without escapes, values that
//! are strings, unsigned integers, booleans or arrays of unsigned
//! integers. [`parse_into`] reads exactly that shape and nothing else;
//! for anything else (escapes, whitespace, `null`, other numbers, nested
//! objects, a field twice, a missing `t` or `ev`, broken JSON) it says
//! so and the caller parses the line with serde, which gives the record
//! or the error it always gave. So whenever `parse_into` reads a record
//! it is the one serde would return, and every error still comes from
//! serde.

use std::borrow::Cow;

use super::read::Line;

/// `text` as a record, if it has the shape described above.
#[cfg(test)]
fn parse(text: &str) -> Option<Line<'_>> {
    let mut line = Line::default();
    parse_into(text, &mut line).then_some(line)
}

/// Reads `text` into `line` (a default one) and says whether it has the
/// shape described above; if not, `line` holds whatever was read before
/// that showed, and the caller parses `text` with serde. The reader of a
/// trace reads each record into its place this way, a record being a
/// few hundred bytes to move.
pub fn parse_into<'a>(text: &'a str, line: &mut Line<'a>) -> bool {
    read_object(text, line).is_some()
}

fn read_object<'a>(text: &'a str, line: &mut Line<'a>) -> Option<()> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    p.eat(b'{')?;
    let mut seen = 0u64;
    loop {
        let key = p.string()?;
        p.eat(b':')?;
        let bit = field(line, &mut p, key)?;
        if seen & bit != 0 {
            // serde rejects a field given twice.
            return None;
        }
        seen |= bit;
        match p.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    // `t` and `ev` have no default.
    let required = 1 << Field::t as u32 | 1 << Field::ev as u32;
    (p.at == p.bytes.len() && seen & required == required).then_some(())
}

/// Declares the fields of [`Line`] once, in its order, each with how its
/// value is read: the `Field` numbering (a field's bit is `1 << ` its
/// number), `field` (reads the value of a key into its field) and, for
/// the tests, `FIELDS` (the keys).
macro_rules! fields {
    ($($name:ident: $read:ident),* $(,)?) => {
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Field {
            $($name),*
        }

        #[cfg(test)]
        const FIELDS: &[&str] = &[$(stringify!($name)),*];

        /// Reads the value of `key` into its field of `line`; returns the
        /// field's bit, 0 for a key [`Line`] does not have (serde ignores
        /// those, so they may repeat), or `None` if the value is not of
        /// the shape read here.
        fn field<'a>(line: &mut Line<'a>, p: &mut Parser<'a>, key: &str) -> Option<u64> {
            let field = match key {
                $(stringify!($name) => {
                    line.$name = p.$read()?;
                    Field::$name
                })*
                _ => {
                    p.skip_value()?;
                    return Some(0);
                }
            };
            Some(1 << field as u32)
        }
    };
}

fields! {
    t: number,
    ev: text,
    schema: some_u32,
    scenario: some_text,
    seed: some_number,
    name: some_text,
    kind: some_text,
    a: some_text,
    b: some_text,
    link: some_text,
    state: some_text,
    node: some_text,
    jid: some_text,
    client: some_text,
    user: some_text,
    contact: some_text,
    subscription: some_text,
    after: some_text,
    observer: some_text,
    available: some_boolean,
    show: some_text,
    status: some_text,
    annotation: some_text,
    fault: some_text,
    target: some_text,
    duration: some_number,
    peer: some_text,
    from: some_text,
    to: some_text,
    flow: some_text,
    denied: some_boolean,
    msg: some_number,
    in_flight: some_numbers,
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn text(&mut self) -> Option<Cow<'a, str>> {
        self.string().map(Cow::Borrowed)
    }

    fn some_text(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.text().map(Some)
    }

    fn some_number(&mut self) -> Option<Option<u64>> {
        self.number().map(Some)
    }

    fn some_u32(&mut self) -> Option<Option<u32>> {
        u32::try_from(self.number()?).ok().map(Some)
    }

    fn some_boolean(&mut self) -> Option<Option<bool>> {
        self.boolean().map(Some)
    }

    fn some_numbers(&mut self) -> Option<Option<Vec<u64>>> {
        self.numbers().map(Some)
    }

    /// A string with nothing JSON escapes in it, without its quotes.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + presim_engine::scan::json_stop(&self.bytes[start..])?;
        if self.bytes[end] != b'"' {
            // A backslash or a control character: serde's to read.
            return None;
        }
        self.at = end + 1;
        // Both ends are at ASCII quotes, so on character boundaries.
        self.text.get(start..end)
    }

    /// An unsigned integer as JSON writes it: `0`, or digits not starting
    /// with `0`, that fits in 64 bits and is not followed by a fraction or
    /// an exponent.
    fn number(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit) = self.bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        let ends_well = matches!(self.bytes.get(self.at), Some(b',' | b'}' | b']'));
        (digits > 0 && !leading_zero && ends_well).then_some(value)
    }

    fn boolean(&mut self) -> Option<bool> {
        let rest = &self.bytes[self.at..];
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }

    /// An array of unsigned integers.
    fn numbers(&mut self) -> Option<Vec<u64>> {
        self.eat(b'[')?;
        let mut values = Vec::new();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Some(values);
        }
        loop {
            values.push(self.number()?);
            match self.next()? {
                b',' => continue,
                b']' => return Some(values),
                _ => return None,
            }
        }
    }

    /// A value of a key [`Line`] does not have, if of a shape read here.
    fn skip_value(&mut self) -> Option<()> {
        match self.bytes.get(self.at)? {
            b'"' => self.string().map(drop),
            b't' | b'f' => self.boolean().map(drop),
            b'[' => self.numbers().map(drop),
            _ => self.number().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(text: &str) -> Option<Line<'_>> {
        serde_json::from_str(text).ok()
    }

    /// The names of the fields serde's derive reads into [`Line`]: what
    /// it passes to `deserialize_struct`, caught by a deserializer that
    /// reads nothing else.
    fn serde_fields() -> &'static [&'static str] {
        use serde::de::{Error, Visitor};
        struct Fields(std::cell::Cell<&'static [&'static str]>);
        impl<'de> serde::Deserializer<'de> for &Fields {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(Error::custom("only structs"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.set(fields);
                Err(Error::custom("fields caught"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let fields = Fields(std::cell::Cell::new(&[]));
        let _ = <Line as serde::Deserialize>::deserialize(&fields);
        fields.0.get()
    }

    /// The fields read here are those of [`Line`], in its order (a field
    /// left out would be skipped as an unknown key), and each is read
    /// into its place, as serde reads it.
    #[test]
    fn every_field_is_read() {
        assert_eq!(FIELDS, serde_fields());
        let mut object = String::from("{");
        for (i, key) in FIELDS.iter().enumerate() {
            let value = match *key {
                "t" | "schema" | "seed" | "duration" | "msg" => i.to_string(),
                "available" | "denied" => "true".to_string(),
                "in_flight" => "[1,22,333]".to_string(),
                _ => format!("\"{key}-value\""),
            };
            object.push_str(&format!("\"{key}\":{value},"));
        }
        object.pop();
        object.push('}');
        let line = parse(&object).expect("the usual shape");
        assert_eq!(Some(&line), serde(&object).as_ref());
        assert_ne!(line, Line::default());
        assert_eq!(line.flow.as_deref(), Some("flow-value"));
        assert_eq!(line.in_flight, Some(vec![1, 22, 333]));
    }

    /// Records as presim writes them are read here, as serde reads them.
    #[test]
    fn reads_records_as_written() {
        let records = [
            r#"{"t":0,"ev":"header","schema":3,"scenario":"quick start","seed":7}"#,
            r#"{"t":117694,"ev":"send","msg":0,"link":"c2s:a@a.example","from":"a@a.example","to":"a.example","xml":"<presence from='a@a.example/sim' to='b@b.example'/>"}"#,
            r#"{"t":139124,"ev":"deliver","msg":0}"#,
            r#"{"t":5,"ev":"view","observer":"a@x/r","contact":"b@x/r","available":true,"show":"away","status":"über","annotation":"server-unavailable"}"#,
            r#"{"t":9,"ev":"end","events":12,"in_flight":[]}"#,
            r#"{"t":9,"ev":"end","events":12,"in_flight":[3,18446744073709551615]}"#,
            r#"{"t":9,"ev":"link","link":"s2s","state":"down","denied":false,"extra":["x"]}"#,
        ];
        for text in records {
            let fast = parse(text);
            if text.contains("\"extra\":[\"x\"]") {
                // An array of strings is not a shape read here.
                assert!(fast.is_none(), "{text}");
                continue;
            }
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, serde(text), "{text}");
        }
    }

    /// Whatever is not the usual shape is left to serde: escapes,
    /// whitespace, nulls, signs, fractions, exponents, leading zeros,
    /// overflow, nested objects, repeated or missing fields, trailing
    /// bytes, cut lines.
    #[test]
    fn leaves_everything_else_to_serde() {
        let others = [
            r#"{"t":1,"ev":"view","status":"say \"hi\""}"#,
            r#"{"t":1,"ev":"vi\u0065w"}"#,
            r#"{"\u0074":1,"ev":"view"}"#,
            r#"{"t":1, "ev":"view"}"#,
            r#" {"t":1,"ev":"view"}"#,
            r#"{"t":1,"ev":"view","show":null}"#,
            r#"{"t":-1,"ev":"view"}"#,
            r#"{"t":1.5,"ev":"view"}"#,
            r#"{"t":1e3,"ev":"view"}"#,
            r#"{"t":01,"ev":"view"}"#,
            r#"{"t":18446744073709551616,"ev":"view"}"#,
            r#"{"t":1,"ev":"view","schema":4294967296}"#,
            r#"{"t":1,"ev":"view","x":{"y":1}}"#,
            r#"{"t":1,"ev":"view","t":2}"#,
            r#"{"t":1}"#,
            r#"{"ev":"view"}"#,
            r#"{}"#,
            r#"{"t":1,"ev":"view"} "#,
            r#"{"t":1,"ev":"view"}x"#,
            r#"{"t":1,"ev":"view""#,
            r#"{"t":1,"ev":"view","available":tru}"#,
            r#"{"t":1,"ev":"view","in_flight":[1,]}"#,
            r#"{"t":1,"ev":"view","node":"tab	here"}"#,
            r#"{"t":"1","ev":"view"}"#,
            r#"{"t":1,"ev":5}"#,
        ];
        for text in others {
            assert!(parse(text).is_none(), "{text}");
        }
    }

    /// A field repeated is an error for serde; an unknown key repeated
    /// is not, and is read here too.
    #[test]
    fn unknown_keys_may_repeat() {
        let text = r#"{"t":1,"ev":"send","xml":"<a/>","xml":"<b/>","msg":4}"#;
        assert!(serde(text).is_some());
        assert_eq!(parse(text), serde(text));
    }

    /// Every record of the runs of four scenarios (faults, annotations,
    /// crashes, subscriptions) is of the usual shape and read as serde
    /// reads it; and lines mutated at random, byte by byte, are either
    /// left to serde or read as serde reads them.
    #[test]
    fn agrees_with_serde_on_real_and_mutated_records() {
        use rand::{Rng, SeedableRng};
        let mut lines = Vec::new();
        for file in ["federation", "flapping", "psa_outage", "crash_restart"] {
            let path = format!("{}/scenarios/{file}.ron", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("scenario file");
            let model = crate::scenario::load(&path, &text).expect("valid scenario");
            let (_, trace) = crate::run::run_captured(&model);
            let trace = String::from_utf8(trace).expect("UTF-8");
            lines.extend(trace.lines().map(str::to_string));
        }
        for line in &lines {
            let fast = parse(line);
            assert!(fast.is_some(), "{line}");
            assert_eq!(fast, serde(line), "{line}");
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let bytes = b"\"\\,:{}[]0159-.e tnfu\tx";
        let (mut read, mut left) = (0, 0);
        for _ in 0..50_000 {
            let line = lines[rng.random_range(0..lines.len())].as_bytes();
            let mut mutated = line.to_vec();
            let at = rng.random_range(0..mutated.len());
            match rng.random_range(0..3) {
                0 => mutated[at] = bytes[rng.random_range(0..bytes.len())],
                1 => {
                    mutated.remove(at);
                }
                _ => mutated.insert(at, bytes[rng.random_range(0..bytes.len())]),
            }
            let Ok(mutated) = std::str::from_utf8(&mutated) else {
                continue;
            };
            match parse(mutated) {
                Some(fast) => {
                    read += 1;
                    assert_eq!(Some(fast), serde(mutated), "{mutated}");
                }
                None => left += 1,
            }
        }
        // Both ways are exercised: many mutations keep the shape (a digit
        // for a digit, a letter in a name), many break it.
        assert!(
            read > 10_000 && left > 10_000,
            "{read} read, {left} left to serde"
        );
    }
}
