//! JSON text for events, shared by the live listeners' JSON lines and
//! `ttlog-view`'s `json`/`ndjson` exports, so that both write a value the
//! same way.
//!
//! Strings are escaped as JSON requires, and every control character (C0,
//! DEL, C1) is escaped too, so the output is safe to print as well as
//! valid. Integers are written exactly, also 128-bit ones (JSON numbers have
//! no size limit; readers that parse into `f64` lose precision past 2^53).
//! A float that is NaN or infinite, which JSON cannot represent, is the
//! string `"NaN"`, `"inf"` or `"-inf"`.
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
}
