//! `tojson` as Hugging Face chat templates see it: Python's `json.dumps(x, ensure_ascii=False,
//! indent=indent, separators=separators, sort_keys=sort_keys)`.
//!
//! Mirrors the `tojson` override in transformers `utils/chat_template_utils.py`
//! (`_cached_compile_jinja_template`), which replaces Jinja's HTML-escaping filter. Python's layout rules:
//! without `indent` items are joined by `", "` and keys by `": "`; with `indent` items by `","` plus a newline
//! and the indent, and empty containers stay `[]` / `{}`.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

/// Layout options of `json.dumps`.
#[derive(Clone, Debug)]
struct JsonLayout {
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
}

/// The `tojson` filter: `value | tojson(indent=4, separators=(",", ":"), sort_keys=true)`.
pub(crate) fn tojson_filter(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(match v.as_str() {
            Some(text) => text.to_owned(),
            None => " ".repeat(v.as_usize().ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson: indent must be an integer or a string",
                )
            })?),
        }),
    };
    let (default_item, default_key) = if indent.is_some() {
        (",", ": ")
    } else {
        (", ", ": ")
    };
    let (item_separator, key_separator) = match kwargs.get::<Option<Value>>("separators")? {
        Some(v) if !v.is_none() => {
            let item = v.get_item_by_index(0)?;
            let key = v.get_item_by_index(1)?;
            match (item.as_str(), key.as_str()) {
                (Some(item), Some(key)) => (item.to_owned(), key.to_owned()),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson: separators must be two strings",
                    ));
                }
            }
        }
        _ => (default_item.to_owned(), default_key.to_owned()),
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    // `ensure_ascii=True` is never used by the templates we know; accept and ignore it only when false.
    if kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson: ensure_ascii=true is not supported",
        ));
    }
    kwargs.assert_all_used()?;
    let layout = JsonLayout {
        indent,
        item_separator,
        key_separator,
        sort_keys,
    };
    let mut out = String::new();
    write_value(&mut out, value, &layout, 0)?;
    Ok(Value::from_safe_string(out))
}

/// `json.dumps` of one value with the given layout, at nesting `depth`.
fn write_value(
    out: &mut String,
    value: &Value,
    layout: &JsonLayout,
    depth: usize,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value),
        ValueKind::String => write_string(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, '[', ']', &items, layout, depth, |out, item, depth| {
                write_value(out, item, layout, depth)
            })?;
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                let key = match key.as_str() {
                    Some(text) => text.to_owned(),
                    None => python_key(&key)?,
                };
                entries.push((key, item));
            }
            if layout.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(
                out,
                '{',
                '}',
                &entries,
                layout,
                depth,
                |out, (key, item), depth| {
                    write_string(out, key);
                    out.push_str(&layout.key_separator);
                    write_value(out, item, layout, depth)
                },
            )?;
        }
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "tojson: value is undefined",
            ));
        }
        other => {
            return Err(Error::new(
                ErrorKind::BadSerialization,
                format!("tojson: cannot serialise a value of kind {other}"),
            ));
        }
    }
    Ok(())
}

/// Writes `[a, b]` / `{...}` with Python's indent rules: one item per line when indenting, `[]` if empty.
fn write_container<T>(
    out: &mut String,
    open: char,
    close: char,
    items: &[T],
    layout: &JsonLayout,
    depth: usize,
    mut write_item: impl FnMut(&mut String, &T, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(&layout.item_separator);
        }
        if let Some(indent) = &layout.indent {
            out.push('\n');
            out.push_str(&indent.repeat(depth + 1));
        }
        write_item(out, item, depth + 1)?;
    }
    if let Some(indent) = &layout.indent {
        out.push('\n');
        out.push_str(&indent.repeat(depth));
    }
    out.push(close);
    Ok(())
}

/// Python converts non-string keys: `True` → `"true"`, `None` → `"null"`, numbers by `repr`.
fn python_key(key: &Value) -> Result<String, Error> {
    let mut text = String::new();
    match key.kind() {
        ValueKind::Number | ValueKind::Bool | ValueKind::None => write_value(
            &mut text,
            key,
            &JsonLayout {
                indent: None,
                item_separator: String::new(),
                key_separator: String::new(),
                sort_keys: false,
            },
            0,
        )?,
        _ => {
            return Err(Error::new(
                ErrorKind::NonKey,
                "tojson: keys must be str, int, float, bool or None",
            ));
        }
    }
    Ok(text)
}

/// Integers verbatim; floats as Python's `float.__repr__` (shortest round-trip, `1.0`, `1e+16`).
fn write_number(out: &mut String, value: &Value) {
    if value.is_integer() {
        let _ = write!(out, "{value}");
        return;
    }
    let float = f64::try_from(value.clone()).unwrap_or(f64::NAN);
    if float.is_nan() {
        out.push_str("NaN");
    } else if float.is_infinite() {
        out.push_str(if float > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let magnitude = float.abs();
        if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
            let text = format!("{float:e}");
            let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let _ = write!(
                out,
                "{mantissa}e{}{:02}",
                if exponent < 0 { '-' } else { '+' },
                exponent.abs()
            );
        } else {
            let _ = write!(out, "{float:?}");
        }
    }
}

/// A JSON string literal without ASCII escaping: `"`, `\` and control characters only (as Python does).
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::value::Serde;

    fn dumps(json: &str, kwargs: &[(&str, Value)]) -> String {
        let value = Value::from(Serde(
            serde_json::from_str::<serde_json::Value>(json).unwrap(),
        ));
        let kwargs = Kwargs::from_iter(kwargs.iter().map(|(k, v)| (*k, v.clone())));
        tojson_filter(&value, kwargs).unwrap().to_string()
    }

    // Expected strings are Python 3.11 `json.dumps(..., ensure_ascii=False, ...)` outputs.
    #[test]
    fn compact_layout_matches_python() {
        assert_eq!(
            dumps(
                r#"{"b": [1, 2.5, true, null], "a": "é\n\"x\"", "c": {}}"#,
                &[]
            ),
            r#"{"b": [1, 2.5, true, null], "a": "é\n\"x\"", "c": {}}"#
        );
    }

    #[test]
    fn indented_layout_matches_python() {
        assert_eq!(
            dumps(
                r#"{"a": [1, {"x": []}], "b": 1.0}"#,
                &[("indent", Value::from(2))]
            ),
            "{\n  \"a\": [\n    1,\n    {\n      \"x\": []\n    }\n  ],\n  \"b\": 1.0\n}"
        );
    }

    #[test]
    fn sort_keys_and_separators_match_python() {
        let separators = Value::from(vec![Value::from(","), Value::from(":")]);
        assert_eq!(
            dumps(
                r#"{"b": 1, "a": [1, 2]}"#,
                &[("sort_keys", Value::from(true)), ("separators", separators)]
            ),
            r#"{"a":[1,2],"b":1}"#
        );
    }

    #[test]
    fn floats_use_python_repr() {
        assert_eq!(
            dumps("[1e20, 1.5e-7, 0.1, 123456.75]", &[]),
            "[1e+20, 1.5e-07, 0.1, 123456.75]"
        );
    }
}
