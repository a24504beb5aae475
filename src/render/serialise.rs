//! Documents written by serde_json straight into the output: the cloud targets' JSON and
//! Aerleon's YAML (JSON with every non-ASCII character escaped), never held whole.

use anyhow::Result;

/// Writes `value` as pretty JSON (two-space indentation) into `w`, through a buffer: the
/// cloud targets' documents, laid out as minijinja's `tojson(indent=2)` printed them, with
/// `<`, `>`, `&` and `'` as `\u` escapes so the text is also safe inside HTML.
pub fn write_json_doc<T: serde::Serialize + ?Sized>(
    w: &mut dyn std::io::Write,
    value: &T,
) -> Result<()> {
    write_escaped_json(w, value, Escape::HtmlSafe)
}

/// `value` as pretty JSON into `w` with each string fragment written through `escape`, and a
/// line break at the end.
fn write_escaped_json<T: serde::Serialize + ?Sized>(
    w: &mut dyn std::io::Write,
    value: &T,
    escape: Escape,
) -> Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(w);
    let formatter = Escaping {
        pretty: serde_json::ser::PrettyFormatter::new(),
        escape,
    };
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut w, formatter,
    ))?;
    w.write_all(b"\n")?;
    Ok(w.flush()?)
}

/// What [`Escaping`] does to the text of JSON strings (serde_json has escaped them already).
#[derive(Clone, Copy)]
enum Escape {
    /// `<`, `>`, `&`, `'` as `\u` escapes, as minijinja's `tojson` writes them.
    HtmlSafe,
    /// Every non-ASCII character as a YAML `\u`/`\U` escape.
    YamlAscii,
}

/// serde_json's pretty layout, with the text of strings escaped further ([`Escape`]).
struct Escaping<'a> {
    pretty: serde_json::ser::PrettyFormatter<'a>,
    escape: Escape,
}

/// `Formatter` methods that go to serde_json's pretty formatter unchanged.
macro_rules! pretty {
    ($($name:ident$(($first:ident))?),* $(,)?) => {
        $(fn $name<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            $($first: bool)?
        ) -> std::io::Result<()> {
            self.pretty.$name(w $(, $first)?)
        })*
    };
}

impl serde_json::ser::Formatter for Escaping<'_> {
    pretty! {
        begin_array, end_array, begin_array_value(first), end_array_value,
        begin_object, end_object, begin_object_key(first), begin_object_value, end_object_value,
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        match self.escape {
            // The four are ASCII, and no byte of a longer UTF-8 character is.
            Escape::HtmlSafe => {
                for (i, b) in fragment.bytes().enumerate() {
                    let escaped = match b {
                        b'<' => "\\u003c",
                        b'>' => "\\u003e",
                        b'&' => "\\u0026",
                        b'\'' => "\\u0027",
                        _ => continue,
                    };
                    w.write_all(&fragment.as_bytes()[start..i])?;
                    w.write_all(escaped.as_bytes())?;
                    start = i + 1;
                }
            }
            Escape::YamlAscii if fragment.is_ascii() => {}
            Escape::YamlAscii => {
                for (i, c) in fragment.char_indices().filter(|(_, c)| !c.is_ascii()) {
                    w.write_all(&fragment.as_bytes()[start..i])?;
                    match u32::from(c) {
                        n @ 0..=0xFFFF => write!(w, "\\u{n:04X}")?,
                        n => write!(w, "\\U{n:08X}")?,
                    }
                    start = i + c.len_utf8();
                }
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as YAML into `w`: pretty JSON (a YAML 1.2 document, read the same by YAML 1.1
/// loaders for these values) with every non-ASCII character written as a YAML `\u`/`\U`
/// escape. Outside strings JSON has only ASCII, so the escapes land only inside double-quoted
/// scalars.
pub fn write_yaml_doc<T: serde::Serialize + ?Sized>(
    w: &mut dyn std::io::Write,
    value: &T,
) -> Result<()> {
    write_escaped_json(w, value, Escape::YamlAscii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::into_string;
    use minijinja::{Environment, Value};

    #[test]
    fn json_documents_print_as_minijinja_tojson_printed_them() {
        let v = serde_json::json!({
            "name": "a<b>&'c\"d\\e\u{1}\u{e9}\u{1F600}",
            "list": [1, -2, 3.5, true, null, {"k": [], "m": {}}],
            "empty": ""
        });
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.add_template("t", "{{ v | tojson(indent=2) }}\n")
            .unwrap();
        let theirs = env
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { v => Value::from_serialize(&v) })
            .unwrap();
        assert_eq!(into_string(|w| write_json_doc(w, &v)).unwrap(), theirs);
    }

    #[test]
    fn yaml_json_escapes_non_ascii() {
        let v = serde_json::json!({"c": "caf\u{e9} \u{1F600}"});
        let out = into_string(|w| write_yaml_doc(w, &v)).unwrap();
        assert_eq!(out, "{\n  \"c\": \"caf\\u00E9 \\U0001F600\"\n}\n");
    }
}
