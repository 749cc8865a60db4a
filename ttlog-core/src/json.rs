//! JSON text for events: the one way TTLog writes a value as JSON, used by
//! the live listeners' JSON lines, `ttlog-view`'s `json`/`ndjson` exports
//! and SQL answers, and the interactive view's exports.
//!
//! - Strings: `"` and `\` are escaped, `\n`, `\r` and `\t` are written so,
//!   and every other control character, C0 (U+0000–U+001F), DEL (U+007F)
//!   and C1 (U+0080–U+009F), as `\u00xx`: JSON requires only C0 escaped,
//!   but C1 holds CSI, which a terminal would act on when the output is
//!   printed. Everything else, bidirectional controls included, is copied
//!   as it is: the text reads back exactly, and showing it to a person is
//!   [`crate::text`]'s job.
//! - Integers are written exactly, 128-bit ones too, as JSON numbers (JSON
//!   numbers have no size limit; readers that parse into `f64` lose
//!   precision past 2^53, exactly as for a large `u64`): an integer field is
//!   a number whatever its size.
//! - A float that is NaN or infinite, which JSON cannot represent, is the
//!   string `"NaN"`, `"inf"` or `"-inf"`, not `null`: `null` would read as
//!   "no value", and these are values.
//!
//! ```
//! use ttlog_core::json::{push_str, push_value};
//! use ttlog_core::ValueRef;
//! let mut out = String::new();
//! push_str(&mut out, "tab\there \u{1b}[31m");
//! out.push(' ');
//! push_value(&mut out, ValueRef::F64(f64::NAN));
//! out.push(' ');
//! push_value(&mut out, ValueRef::U128(u128::MAX));
//! assert_eq!(out, r#""tab\there \u001b[31m" "NaN" 340282366920938463463374607431768211455"#);
//! ```

use crate::value::ValueRef;
use std::fmt::Write as _;

/// Appends `s` as a JSON string (quotes included).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    // Runs of bytes that need no escape are copied whole: everything but
    // `"`, `\`, C0 controls, DEL and the C1 controls (U+0080..U+009F, in
    // UTF-8 the bytes 0xC2 0x80..0x9F).
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        let special = b < 0x20
            || b == b'"'
            || b == b'\\'
            || b == 0x7f
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)));
        if !special {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        let c = s[i..].chars().next().expect("a char starts here");
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        i += c.len_utf8();
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn push_float(out: &mut String, v: f64, text: impl std::fmt::Display) {
    if v.is_finite() {
        let _ = write!(out, "{text}");
    } else if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v > 0.0 {
        out.push_str("\"inf\"");
    } else {
        out.push_str("\"-inf\"");
    }
}

/// Appends a field value as JSON: `true`/`false`, an exact number, or a
/// string (see the [module docs](self) for NaN and infinities).
pub fn push_value(out: &mut String, v: ValueRef<'_>) {
    match v {
        ValueRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        ValueRef::Char(c) => push_str(out, c.encode_utf8(&mut [0; 4])),
        ValueRef::U64(x) => out.push_str(itoa::Buffer::new().format(x)),
        ValueRef::I64(x) => out.push_str(itoa::Buffer::new().format(x)),
        ValueRef::U128(x) => out.push_str(itoa::Buffer::new().format(x)),
        ValueRef::I128(x) => out.push_str(itoa::Buffer::new().format(x)),
        ValueRef::F32(x) => push_float(out, f64::from(x), x),
        ValueRef::F64(x) => push_float(out, x, x),
        ValueRef::Str(s) => push_str(out, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_escape_every_control_and_copy_the_rest() {
        let mut out = String::new();
        push_str(&mut out, "plain é ü 日本 \u{a0}\u{9f}\u{80}x\u{7f}\"\\\u{1}\n");
        // U+00A0 (0xC2 0xA0) is no control: copied as it is.
        assert_eq!(out, "\"plain é ü 日本 \u{a0}\\u009f\\u0080x\\u007f\\\"\\\\\\u0001\\n\"");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "plain é ü 日本 \u{a0}\u{9f}\u{80}x\u{7f}\"\\\u{1}\n");
        assert!(!out.chars().any(char::is_control));
    }

    #[test]
    fn every_kind_parses_back() {
        let values = [
            ValueRef::Bool(true),
            ValueRef::Char('"'),
            ValueRef::U64(u64::MAX),
            ValueRef::I64(i64::MIN),
            ValueRef::F32(0.1),
            ValueRef::F64(-2.5e-300),
            ValueRef::F64(f64::NEG_INFINITY),
            ValueRef::F32(f32::INFINITY),
            ValueRef::Str("a\u{0}b\u{9b}c\u{7f}é"),
        ];
        let mut out = String::from("[");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_value(&mut out, v);
        }
        out.push(']');
        assert!(!out.chars().any(char::is_control), "{out}");
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        let expect =
            serde_json::json!([true, "\"", u64::MAX, i64::MIN, 0.1, -2.5e-300, "-inf", "inf", "a\u{0}b\u{9b}c\u{7f}é"]);
        assert_eq!(back, expect);
    }

    proptest! {
        #[test]
        fn any_string_reads_back_with_no_control_left(s in any::<String>()) {
            let mut out = String::new();
            push_str(&mut out, &s);
            prop_assert!(!out.chars().any(char::is_control), "{out}");
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }

        #[test]
        fn numbers_read_back_exactly(u in any::<u128>(), i in any::<i128>(), x in any::<f64>(), y in any::<f32>()) {
            let text = |v: ValueRef<'_>| {
                let mut out = String::new();
                push_value(&mut out, v);
                out
            };
            prop_assert_eq!(text(ValueRef::U128(u)), u.to_string());
            prop_assert_eq!(text(ValueRef::I128(i)), i.to_string());
            // Valid JSON; exact when read back by a correctly rounding parser
            // (serde_json's default one is not).
            let t = text(ValueRef::F64(x));
            match serde_json::from_str::<serde_json::Value>(&t).unwrap() {
                serde_json::Value::Number(_) => prop_assert_eq!(t.parse::<f64>().unwrap(), x),
                serde_json::Value::String(s) => {
                    prop_assert!(!x.is_finite());
                    prop_assert_eq!(s, if x.is_nan() { "NaN" } else if x > 0.0 { "inf" } else { "-inf" });
                }
                other => prop_assert!(false, "{other}"),
            }
            if y.is_finite() {
                prop_assert_eq!(text(ValueRef::F32(y)).parse::<f32>().unwrap(), y);
            }
        }
    }
}
