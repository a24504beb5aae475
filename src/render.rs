//! One minijinja environment for every output: embedded templates (overridable file by file
//! with `--templates DIR`), strict undefined variables, and one quoting filter per target.

pub mod aerleon;
pub mod catalogue;
pub mod flows;
pub mod matrix;

use std::path::Path;

use anyhow::{Context, Result};
use minijinja::{Environment, UndefinedBehavior, Value};

/// Templates shipped inside the binary, by file name.
pub const EMBEDDED: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/template_files.rs"));

pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// The embedded templates, with any same-named file in `overrides` taking precedence.
    pub fn new(overrides: Option<&Path>) -> Result<Renderer> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // Quoting is chosen per target through filters, never by file extension.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("md", md_cell);
        env.add_filter("xml", xml_escape);
        env.add_filter("mermaid", mermaid_label);
        for (name, text) in EMBEDDED {
            let text = match overrides.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("reading template {}", p.display()))?,
                None => (*text).to_string(),
            };
            env.add_template_owned(name.to_string(), text)
                .with_context(|| format!("template {name} does not parse"))?;
        }
        if let Some(dir) = overrides {
            if !dir.is_dir() {
                anyhow::bail!("--templates {}: not a directory", dir.display());
            }
        }
        Ok(Renderer { env })
    }

    pub fn render(&self, name: &str, ctx: &serde_json::Value) -> Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .with_context(|| format!("no template {name}"))?;
        tmpl.render(Value::from_serialize(ctx))
            .map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))
    }
}

/// A Markdown table cell: pipes escaped, line breaks as `<br>`, HTML neutralised so a
/// description cannot add markup or columns to the rendered table.
pub fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A value as YAML: pretty JSON (a YAML 1.2 document, read the same by YAML 1.1 loaders for
/// these values) with every non-ASCII character written as a YAML `\u`/`\U` escape. Outside
/// strings JSON has only ASCII, so the escapes land only inside double-quoted scalars.
pub fn yaml_json(v: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(v).expect("JSON values serialise");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let n = c as u32;
        if n < 0x80 {
            out.push(c);
        } else if n <= 0xFFFF {
            out.push_str(&format!("\\u{n:04X}"));
        } else {
            out.push_str(&format!("\\U{n:08X}"));
        }
    }
    out
}

/// Text in HTML or SVG (element content and double-quoted attributes).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid label, to be placed inside double quotes (`id["..."]`, `-- "..." -->`): quotes,
/// markup and Mermaid's own syntax characters become Mermaid entity codes (`#34;` for a
/// quote), line breaks become spaces.
pub fn mermaid_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '#' | '&' | '<' | '>' | '`' | '|' | '[' | ']' | '{' | '}' | ';' | '\\' => {
                out.push_str(&format!("#{};", c as u32))
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_labels_cannot_close_their_quotes() {
        assert_eq!(
            mermaid_label("a \"b\" <c> `d` [e] | f; #"),
            "a #34;b#34; #60;c#62; #96;d#96; #91;e#93; #124; f#59; #35;"
        );
        assert_eq!(mermaid_label("x\ny"), "x y");
    }

    #[test]
    fn xml_escapes_markup_and_quotes() {
        assert_eq!(
            xml_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn yaml_json_escapes_non_ascii() {
        let v = serde_json::json!({"c": "caf\u{e9} \u{1F600}"});
        assert_eq!(yaml_json(&v), "{\n  \"c\": \"caf\\u00E9 \\U0001F600\"\n}");
    }
}
