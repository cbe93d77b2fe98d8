//! A small JSON writer for the hot read answers (ticket lists, the inbox, one ticket): it
//! writes straight into one byte buffer the bytes `serde_json` writes for the same
//! `Serialize` types, but scans strings eight bytes at a time for what needs escaping and
//! formats timestamps without `fmt` (docs/PERFORMANCE.md, "Cheaper reads in the server").
//! Each type written here keeps its `Serialize` derive (the schema and every other answer);
//! the tests beside each `WriteJson` compare the two byte for byte.
use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// Room for one row of a hot read (a ticket, a message), so a page's buffer rarely grows.
pub const ROW_BYTES: usize = 1_536;

/// A value that can write itself as JSON, exactly as `serde_json` serializes it.
pub trait WriteJson {
    fn write_json(&self, w: &mut JsonWriter);

    /// Bytes to reserve before writing (a guess; the buffer grows past it).
    fn size_hint(&self) -> usize;
}

/// The buffer and where the writer stands: whether the open object or array has had a
/// value yet (after closing a nested one, its parent always has).
#[derive(Debug, Default)]
pub struct JsonWriter {
    buf: Vec<u8>,
    first: bool,
}

impl JsonWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            first: true,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn begin_object(&mut self) {
        self.buf.push(b'{');
        self.first = true;
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.first = false;
    }

    pub fn begin_array(&mut self) {
        self.buf.push(b'[');
        self.first = true;
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.first = false;
    }

    /// Before an array element.
    pub fn element(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    /// An object's key; `key` is a field name, which needs no escaping.
    pub fn key(&mut self, key: &'static str) {
        self.element();
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }

    pub fn bool(&mut self, value: bool) {
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub fn i64(&mut self, value: i64) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub fn str(&mut self, value: &str) {
        self.buf.push(b'"');
        write_escaped(&mut self.buf, value);
        self.buf.push(b'"');
    }

    pub fn opt_str(&mut self, value: Option<&str>) {
        match value {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// A UUID as serde writes it: hyphenated, lower case.
    pub fn uuid(&mut self, value: uuid::Uuid) {
        let mut hex = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.buf.push(b'"');
        self.buf
            .extend_from_slice(value.hyphenated().encode_lower(&mut hex).as_bytes());
        self.buf.push(b'"');
    }

    /// A prefixed public id (`tkt_…`): the prefix, then the UUID in simple form, lower case.
    pub fn prefixed_uuid(&mut self, prefix: &'static str, value: uuid::Uuid) {
        let mut hex = [0u8; uuid::fmt::Simple::LENGTH];
        self.buf.push(b'"');
        self.buf.extend_from_slice(prefix.as_bytes());
        self.buf
            .extend_from_slice(value.simple().encode_lower(&mut hex).as_bytes());
        self.buf.push(b'"');
    }

    pub fn opt_uuid(&mut self, value: Option<uuid::Uuid>) {
        match value {
            Some(id) => self.uuid(id),
            None => self.null(),
        }
    }

    /// A timestamp as chrono's `Serialize` writes it (RFC 3339, `Z`, 0/3/6/9 fraction digits).
    pub fn timestamp(&mut self, value: DateTime<Utc>) {
        self.buf.push(b'"');
        write_rfc3339(&mut self.buf, value);
        self.buf.push(b'"');
    }

    pub fn opt_timestamp(&mut self, value: Option<DateTime<Utc>>) {
        match value {
            Some(t) => self.timestamp(t),
            None => self.null(),
        }
    }
}

/// `value` written to a new buffer of its [`WriteJson::size_hint`].
pub fn to_vec(value: &impl WriteJson) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(value.size_hint());
    value.write_json(&mut w);
    w.into_bytes()
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `x` is a control character, `"` or `\`: the classic
/// "has a zero byte" and "has a byte below n" bit tricks (exact for existence).
const fn needs_escape_word(x: u64) -> bool {
    let below_space = x.wrapping_sub(LOW_BITS * 0x20) & !x;
    let quote = x ^ (LOW_BITS * b'"' as u64);
    let backslash = x ^ (LOW_BITS * b'\\' as u64);
    let has_quote = quote.wrapping_sub(LOW_BITS) & !quote;
    let has_backslash = backslash.wrapping_sub(LOW_BITS) & !backslash;
    (below_space | has_quote | has_backslash) & HIGH_BITS != 0
}

const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// How many leading bytes of `bytes` need no escaping.
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut i = 0;
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        if needs_escape_word(u64::from_le_bytes(eight)) {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

/// `s` as the inside of a JSON string, escaped as `serde_json` escapes it: `\"`, `\\`,
/// `\b`, `\t`, `\n`, `\f`, `\r`, other control characters as `\u00xx`; nothing else.
fn write_escaped(buf: &mut Vec<u8>, s: &str) {
    let mut bytes = s.as_bytes();
    loop {
        let clean = clean_prefix(bytes);
        buf.extend_from_slice(&bytes[..clean]);
        let Some((&byte, rest)) = bytes[clean..].split_first() else {
            return;
        };
        match byte {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x08 => buf.extend_from_slice(b"\\b"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            0x0c => buf.extend_from_slice(b"\\f"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(byte >> 4)]);
                buf.push(HEX[usize::from(byte & 0xf)]);
            }
        }
        bytes = rest;
    }
}

fn padded(buf: &mut Vec<u8>, n: u32, width: usize) {
    let mut digits = [b'0'; 9];
    let mut n = n;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.extend_from_slice(&digits[..width]);
}

/// chrono's RFC 3339 form of `t` with `SecondsFormat::AutoSi` and `Z`, without `fmt`.
fn write_rfc3339(buf: &mut Vec<u8>, t: DateTime<Utc>) {
    // Each field of a `DateTime` adds its offset to the time first; the naive UTC time has
    // the fields as they are.
    let utc = t.naive_utc();
    let year = utc.year();
    if !(0..=9999).contains(&year) {
        // Signed years: rare enough for chrono's own formatting.
        buf.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes());
        return;
    }
    padded(buf, year as u32, 4);
    buf.push(b'-');
    padded(buf, utc.month(), 2);
    buf.push(b'-');
    padded(buf, utc.day(), 2);
    buf.push(b'T');
    let mut sec = utc.second();
    let mut nano = utc.nanosecond();
    // A leap second: chrono shows it as second 60.
    if nano >= 1_000_000_000 {
        sec += 1;
        nano -= 1_000_000_000;
    }
    padded(buf, utc.hour(), 2);
    buf.push(b':');
    padded(buf, utc.minute(), 2);
    buf.push(b':');
    padded(buf, sec, 2);
    if nano != 0 {
        buf.push(b'.');
        if nano.is_multiple_of(1_000_000) {
            padded(buf, nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            padded(buf, nano / 1_000, 6);
        } else {
            padded(buf, nano, 9);
        }
    }
    buf.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use proptest::prelude::*;

    fn escaped(s: &str) -> String {
        let mut w = JsonWriter::with_capacity(0);
        w.str(s);
        String::from_utf8(w.into_bytes()).expect("the writer writes UTF-8")
    }

    fn formatted(t: DateTime<Utc>) -> String {
        let mut w = JsonWriter::with_capacity(0);
        w.timestamp(t);
        String::from_utf8(w.into_bytes()).expect("the writer writes UTF-8")
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let cases = [
            "",
            "plain ascii that is longer than eight bytes",
            "\"",
            "\\",
            "ends with a quote\"",
            "12345678\"",
            "1234567\\",
            "tab\there, newline\nthere, cr\r, bs\u{8}, ff\u{c}",
            "\u{0}\u{1}\u{1f}\u{7f} del is not escaped",
            "slash / is not escaped, nor é, ß, 日本語, 🎉",
            "€€€€€€€€\"€",
            "</script><!-- html stays as it is -->",
        ];
        for s in cases {
            assert_eq!(escaped(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn the_word_test_finds_each_special_byte_in_every_position() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = special;
                assert!(
                    needs_escape_word(u64::from_le_bytes(word)),
                    "{special} at {at}"
                );
            }
        }
        for plain in (0x20u8..=0xff).filter(|b| !needs_escape(*b)) {
            assert!(
                !needs_escape_word(u64::from_le_bytes([plain; 8])),
                "{plain}"
            );
        }
        // Bytes around the special ones (borrows of the subtraction) give no false hit.
        assert!(!needs_escape_word(u64::from_le_bytes(*b"!#[]^ \x7f\x80")));
    }

    proptest! {
        #[test]
        fn any_string_escapes_as_serde_json_does(s in any::<String>()) {
            prop_assert_eq!(escaped(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_time_formats_as_chrono_does(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..2_000_000_000) {
            let t = DateTime::from_timestamp(secs, nanos % 1_000_000_000).unwrap();
            prop_assert_eq!(formatted(t), serde_json::to_string(&t).unwrap());
            // Millisecond and microsecond precision, as the databases store them.
            let ms = DateTime::from_timestamp(secs, (nanos % 1_000) * 1_000_000).unwrap();
            prop_assert_eq!(formatted(ms), serde_json::to_string(&ms).unwrap());
            let us = DateTime::from_timestamp(secs, (nanos % 1_000_000) * 1_000).unwrap();
            prop_assert_eq!(formatted(us), serde_json::to_string(&us).unwrap());
        }
    }

    #[test]
    fn times_format_as_chrono_does() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|n| Utc.from_utc_datetime(&n))
            .unwrap();
        let cases = [
            Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 30, 0).unwrap(),
            DateTime::from_timestamp(1_764_670_000, 120_000_000).unwrap(),
            DateTime::from_timestamp(1_764_670_000, 123_456_000).unwrap(),
            DateTime::from_timestamp(1_764_670_000, 123_456_789).unwrap(),
            DateTime::from_timestamp(1_764_670_000, 1).unwrap(),
            leap,
        ];
        for t in cases {
            assert_eq!(formatted(t), serde_json::to_string(&t).unwrap(), "{t:?}");
        }
    }

    #[test]
    fn containers_place_their_commas() {
        let mut w = JsonWriter::with_capacity(0);
        w.begin_object();
        w.key("a");
        w.begin_array();
        w.end_array();
        w.key("b");
        w.begin_array();
        for n in [1i64, -2, i64::MIN] {
            w.element();
            w.i64(n);
        }
        w.end_array();
        w.key("c");
        w.begin_object();
        w.key("d");
        w.null();
        w.end_object();
        w.key("e");
        w.u64(u64::MAX);
        w.key("f");
        w.bool(false);
        w.key("g");
        w.uuid(uuid::Uuid::from_u128(
            0x0193a0b4_c5d6_7e8f_9a0b_1c2d3e4f5a6b,
        ));
        w.end_object();
        let id = uuid::Uuid::from_u128(0x0193a0b4_c5d6_7e8f_9a0b_1c2d3e4f5a6b);
        let expected = serde_json::json!({
            "a": [], "b": [1, -2, i64::MIN], "c": {"d": null}, "e": u64::MAX, "f": false, "g": id
        });
        assert_eq!(
            String::from_utf8(w.into_bytes()).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }
}
