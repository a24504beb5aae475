//! One minijinja environment for every output: embedded templates (overridable file by file
//! with `--templates DIR`), strict undefined variables, and one quoting filter per target.

pub mod aerleon;
pub mod aws;
pub mod azure;
pub mod catalogue;
pub mod cloud;
pub mod diagram;
pub mod flows;
pub mod gcp;
pub mod iptables;
pub mod matrix;
pub mod netfilter;
pub mod nftables;
pub mod probes;
pub mod windows;
pub mod workbook;

use std::path::Path;
use std::sync::Arc;

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
        // A string is printed as it is; minijinja's default printer formats every value through
        // `Display` and `fmt::write` (padding checks included), a fifth of the matrix's
        // instructions for its millions of cells. Other values print as before.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(s) if state.auto_escape() == minijinja::AutoEscape::None => {
                out.write_str(s).map_err(minijinja::Error::from)
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_filter("md", unless_plain(md_cell, md_special, md_special_start));
        env.add_filter("md_code", md_code_filter);
        env.add_filter("ps", ps_filter);
        env.add_filter("sh", |s: &str| sh_quote(s));
        env.add_filter("nft_str", nft_str);
        env.add_filter("ipt_str", ipt_str);
        env.add_filter("hash_line", unless_plain(one_line, |_| false, |_| false));
        env.add_filter("xml", unless_plain(xml_escape, xml_special, |_| false));
        env.add_filter("mermaid", mermaid_label);
        for (name, text) in EMBEDDED {
            let text = match overrides.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(p) => crate::diag::text_of(
                    &p,
                    "template",
                    crate::diag::read_limited(&p, crate::diag::MAX_INPUT),
                )?,
                None => (*text).to_string(),
            };
            env.add_template_owned(name.to_string(), text)
                .with_context(|| format!("template {name} does not parse"))?;
        }
        if let Some(dir) = overrides {
            if !dir.is_dir() {
                return Err(crate::generate::UsageError(format!(
                    "--templates {}: not a directory; pass a directory of *.j2 files named like the embedded templates",
                    dir.display()
                ))
                .into());
            }
        }
        Ok(Renderer { env })
    }

    /// Render a template from a serialisable context into a string (a review comment).
    pub fn render<T: serde::Serialize + ?Sized>(&self, name: &str, ctx: &T) -> Result<String> {
        into_string(|w| self.render_ser_to(name, ctx, w))
    }

    /// Render a template from any serialisable context (a borrowed struct needs no
    /// intermediate `serde_json::Value`, which matters for 100,000 flows) into a writer, as the
    /// template is evaluated (see [`crate::generate::Ctx::write`]).
    pub fn render_ser_to<T: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        ctx: &T,
        w: &mut dyn std::io::Write,
    ) -> Result<()> {
        let tmpl = self.template(name)?;
        buffered(w, |w| {
            tmpl.render_captured_to(Value::from_serialize(ctx), w)
                .map(drop)
                .map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))
        })
    }

    fn template(&self, name: &str) -> Result<minijinja::Template<'_, '_>> {
        self.env
            .get_template(name)
            .with_context(|| format!("no template {name}"))
    }
}

/// Runs `write` on a buffer of a concrete type in front of `w`: a template or serialiser
/// writes its output in many small pieces, and each one through `dyn Write` was a call that
/// could not be inlined.
pub fn buffered<T>(
    w: &mut dyn std::io::Write,
    write: impl FnOnce(&mut std::io::BufWriter<&mut dyn std::io::Write>) -> Result<T>,
) -> Result<T> {
    let mut buf = std::io::BufWriter::with_capacity(1 << 15, w);
    let out = write(&mut buf)?;
    std::io::Write::flush(&mut buf)?;
    Ok(out)
}

/// A quoting filter for templates that hands its argument back untouched when it has only
/// printable ASCII, none of the filter's `special` bytes and no `special_start` (most table
/// cells), instead of a new string per cell. `quote` must leave such text unchanged, as
/// [`rewrite_into`] does.
fn unless_plain(
    quote: fn(&str) -> String,
    special: impl Fn(u8) -> bool,
    special_start: fn(&str) -> bool,
) -> impl Fn(&Value) -> Result<Value, minijinja::Error> + Send + Sync + 'static {
    // Which bytes are plain, looked up rather than tested (every cell of a large table).
    let plain: [bool; 256] = std::array::from_fn(|b| plain_byte(b as u8, &special));
    move |v: &Value| match v.as_str() {
        Some(s) if is_plain(s, &plain) && !special_start(s) => Ok(v.clone()),
        Some(s) => Ok(Value::from(quote(s))),
        None => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "value is not a string",
        )),
    }
}

/// Whether every byte of `s` is plain by the table, sixteen bytes at a time without a branch
/// per byte (most cells are plain, and long: purposes and sources).
fn is_plain(s: &str, plain: &[bool; 256]) -> bool {
    let mut chunks = s.as_bytes().chunks_exact(16);
    for chunk in &mut chunks {
        if !chunk.iter().fold(true, |ok, &b| ok & plain[usize::from(b)]) {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| plain[usize::from(b)])
}

/// Printable ASCII that a quoting function copies unchanged: the test [`rewrite_into`] copies
/// runs by and [`unless_plain`] passes text through by. Generic, not a fn pointer: an
/// indirect call per byte was 1.5% of a whole run.
fn plain_byte(b: u8, special: &impl Fn(u8) -> bool) -> bool {
    (0x20..0x7f).contains(&b) && !special(b)
}

/// Characters that make Markdown anywhere in a line: table pipes, escapes, HTML, code spans,
/// links and images (`[`, `]`, `!`), emphasis (`*`, `_`), strikethrough and fences (`~`),
/// math (`$`, GitHub). `(` and `)` make nothing without a `[` before them.
fn md_special(b: u8) -> bool {
    matches!(
        b,
        b'|' | b'\\' | b'<' | b'>' | b'&' | b'`' | b'[' | b']' | b'!' | b'*' | b'_' | b'~' | b'$'
    )
}

/// The length of a block marker at the start of `s` (`{{ description | md }}` starts a line):
/// a heading `#`, a list or thematic-break `-`/`+`, a setext `=`, or an ordered-list number
/// `1.`/`1)` followed by a space or the end. The characters that make Markdown anywhere are
/// [`md_special`].
fn md_block_marker_len(s: &str) -> usize {
    let b = s.as_bytes();
    match b.first() {
        Some(b'#' | b'-' | b'+' | b'=') => 1,
        Some(b'0'..=b'9') => {
            let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let list = digits <= 9
                && matches!(b.get(digits), Some(b'.' | b')'))
                && matches!(b.get(digits + 1), None | Some(b' ' | b'\t' | b'\n' | b'\r'));
            if list {
                digits + 1
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// Whether [`md_cell`] changes the start of `s`: leading spaces or a block marker.
fn md_special_start(s: &str) -> bool {
    s.starts_with(' ') || md_block_marker_len(s) > 0
}

fn xml_special(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')
}

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
                    w.write_all(fragment[start..i].as_bytes())?;
                    w.write_all(escaped.as_bytes())?;
                    start = i + 1;
                }
            }
            Escape::YamlAscii if fragment.is_ascii() => {}
            Escape::YamlAscii => {
                for (i, c) in fragment.char_indices().filter(|(_, c)| !c.is_ascii()) {
                    w.write_all(fragment[start..i].as_bytes())?;
                    match u32::from(c) {
                        n @ 0..=0xFFFF => write!(w, "\\u{n:04X}")?,
                        n => write!(w, "\\U{n:08X}")?,
                    }
                    start = i + c.len_utf8();
                }
            }
        }
        w.write_all(fragment[start..].as_bytes())
    }
}

/// The text a writer function writes (the CLI's standard output, tests).
pub fn into_string(write: impl FnOnce(&mut dyn std::io::Write) -> Result<()>) -> Result<String> {
    let mut buf = Vec::new();
    write(&mut buf)?;
    String::from_utf8(buf).context("rendered text is not UTF-8")
}

/// A list a template reads item by item: item `i` becomes a template value, `item(i)`, only
/// when the template reaches it, and is dropped after. Kept because a whole-list copy into
/// template values took more memory than the flows themselves (BENCHMARKS.md).
pub fn lazy_list(len: usize, item: impl Fn(usize) -> Value + Send + Sync + 'static) -> Value {
    Value::from_object(LazyList {
        len,
        item: Box::new(item),
    })
}

struct LazyList {
    len: usize,
    item: Box<dyn Fn(usize) -> Value + Send + Sync>,
}

impl std::fmt::Debug for LazyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LazyList({} items)", self.len)
    }
}

impl minijinja::value::Object for LazyList {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = key.as_usize()?;
        (i < self.len).then(|| (self.item)(i))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Seq(self.len)
    }
}

/// A Markdown table cell (or a paragraph of one line): line breaks as `<br>`, HTML
/// neutralised, and every character that makes Markdown ([`md_special`]) backslash-escaped, so
/// text cannot add columns, links, images, emphasis, code or markup to the rendered document;
/// a block marker at the start ([`md_block_marker_len`]) is escaped too (leading spaces
/// dropped). Other control characters and bidirectional marks become U+FFFD.
pub fn md_cell(s: &str) -> String {
    // Four leading spaces start a code block at the start of a line, and a leading line break
    // would put a lone `<br>` (an HTML block) there; a table cell drops them all.
    let s = s.trim_start_matches([' ', '\t', '\n', '\r']);
    let mut out = String::with_capacity(s.len());
    let marker = md_block_marker_len(s);
    if marker > 0 {
        out.push_str(&s[..marker - 1]);
        out.push('\\');
        out.push_str(&s[marker - 1..marker]);
    }
    rewrite_into(&mut out, &s[marker..], md_special, |c, out| {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            '\t' => out.push(' '),
            // NUL, ESC and bidirectional marks (possible in an extension catalogue's text)
            // could hide or reorder what a reviewer reads.
            c if c.is_control() || is_bidi(c) => out.push('\u{FFFD}'),
            c if c.is_ascii() && md_special(c as u8) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    });
    out
}

/// The `md_code` filter: see [`md_code`].
fn md_code_filter(v: &Value) -> Result<Value, minijinja::Error> {
    match v.as_str() {
        Some(s) => Ok(Value::from(md_code(s))),
        None => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "value is not a string",
        )),
    }
}

/// An id or name in a Markdown table as inline code when a code span can hold it (no
/// backtick, which would end the span, no `|`, line break, control character or bidi mark),
/// else as escaped text ([`md_cell`]): an id from a flows file or an extension catalogue may
/// hold anything.
pub fn md_code(s: &str) -> String {
    let span_safe = !s.is_empty()
        && !s
            .chars()
            .any(|c| c == '`' || c == '|' || c.is_control() || is_bidi(c));
    if span_safe {
        ["`", s, "`"].concat()
    } else {
        md_cell(s)
    }
}

/// Appends `s` to `out`, each character that is not plain printable ASCII, or that `special`
/// selects, written by `slow`; runs of plain characters are copied whole (the quoting filters
/// run on every cell of 100,000-row tables and every line of thousands of scripts).
fn rewrite_into(
    out: &mut String,
    s: &str,
    special: impl Fn(u8) -> bool,
    mut slow: impl FnMut(char, &mut String),
) {
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if plain_byte(bytes[i], &special) {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        let c = s[i..]
            .chars()
            .next()
            .expect("`i` is at a character boundary");
        slow(c, out);
        i += c.len_utf8();
        start = i;
    }
    out.push_str(&s[start..]);
}

/// The `ps` filter: a string (or each item of a list, joined with `, `) as a PowerShell
/// single-quoted literal; see [`ps_quote`].
fn ps_filter(v: Value) -> Result<String, minijinja::Error> {
    if v.is_undefined() || v.is_none() {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "ps: no value to quote",
        ));
    }
    if let Some(s) = v.as_str() {
        return Ok(ps_quote(s));
    }
    if matches!(v.kind(), minijinja::value::ValueKind::Seq) {
        let items: Vec<String> = v
            .try_iter()?
            .map(|i| match i.as_str() {
                Some(s) => ps_quote(s),
                None => ps_quote(&i.to_string()),
            })
            .collect();
        return Ok(items.join(", "));
    }
    Ok(ps_quote(&v.to_string()))
}

/// A PowerShell single-quoted (verbatim) string literal holding `s` and nothing else.
///
/// Inside `'...'` PowerShell expands nothing (`$()`, backticks, `"` are plain text) and ends
/// the string only at a single-quote character, which is `'` or one of the typographic quotes
/// U+2018..U+201B; each is doubled, which PowerShell reads as one literal quote. Newlines and
/// tabs are literal. Other control characters (NUL above all), and bidirectional overrides
/// that could hide text from a reviewer, become U+FFFD; a carriage return is dropped so a
/// CRLF line stays one line break. Any input gives one literal, never code.
pub fn ps_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    rewrite_into(
        &mut out,
        s,
        |b| b == b'\'',
        |c, out| match c {
            '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => {
                out.push(c);
                out.push(c);
            }
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() || is_bidi(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        },
    );
    out.push('\'');
    out
}

/// A bidirectional mark: it reorders the text around it when shown.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// Control characters and bidirectional marks (which the topology parser refuses but an
/// extension catalogue may hold) as spaces, so text stays on its line and reads in order: the
/// text of a `#` comment line (the `hash_line` filter) and of quoted rule comments.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    rewrite_into(
        &mut out,
        s,
        |_| false,
        |c, out| out.push(if c.is_control() || is_bidi(c) { ' ' } else { c }),
    );
    out
}

/// At most `max` bytes of `s`, cut at a character boundary; a cut is marked with `~`.
pub fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 1;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}~", &s[..end])
}

/// An nftables quoted string (rule comments): nft strings cannot hold `"` and the kernel keeps
/// at most 128 bytes, so `"` becomes `'`, control characters become spaces and long text is cut
/// at a character boundary.
pub fn nft_str(s: &str) -> String {
    let clean = one_line(s).replace('"', "'");
    ["\"", &truncate_bytes(&clean, NFT_COMMENT_MAX), "\""].concat()
}

/// nftables keeps at most this many bytes of a rule comment.
pub const NFT_COMMENT_MAX: usize = 128;
/// The iptables comment match keeps at most this many bytes.
pub const IPT_COMMENT_MAX: usize = 255;

/// An iptables-restore quoted string (`-m comment --comment`): backslash and `"` escaped,
/// control characters as spaces, at most 255 bytes before escaping.
pub fn ipt_str(s: &str) -> String {
    let clean = truncate_bytes(&one_line(s), IPT_COMMENT_MAX);
    [
        "\"",
        &clean.replace('\\', "\\\\").replace('"', "\\\""),
        "\"",
    ]
    .concat()
}

/// A POSIX shell single-quoted word: nothing inside is expanded; `'` is closed, escaped and
/// reopened; control and bidirectional characters become U+FFFD, so a line stays one line.
pub fn sh_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            c if c.is_control() || is_bidi(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
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

/// Text a template prints without it ever being one string: it is written straight into the
/// output when the template reaches it (the matrix's SVG: large at many flows, and a template
/// context copies strings).
/// `{{ x }}` prints it; `x|string` makes it a string for other filters.
pub fn streamed_text(
    write: impl Fn(&mut dyn std::fmt::Write) -> std::fmt::Result + Send + Sync + 'static,
) -> Value {
    Value::from_object(StreamedText(Box::new(write)))
}

type WriteText = dyn Fn(&mut dyn std::fmt::Write) -> std::fmt::Result + Send + Sync;

struct StreamedText(Box<WriteText>);

impl std::fmt::Debug for StreamedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamedText")
    }
}

impl minijinja::value::Object for StreamedText {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)(f)
    }
}

/// Text in HTML or SVG (element content and double-quoted attributes).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    rewrite_into(&mut out, s, xml_special, |c, out| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c if c.is_control() && c != '\n' => out.push(' '),
        c => out.push(c),
    });
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

    /// A filter's definition, one character at a time: what the fast filters must equal.
    fn by_char(s: &str, f: impl Fn(char) -> String) -> String {
        s.chars().map(f).collect()
    }

    #[test]
    fn run_copying_filters_match_their_character_by_character_definitions() {
        let md = |s: &str| {
            let s = s.trim_start_matches([' ', '\t', '\n', '\r']);
            let n = md_block_marker_len(s);
            let lead = if n > 0 {
                format!("{}\\{}", &s[..n - 1], &s[n - 1..n])
            } else {
                String::new()
            };
            lead + &by_char(&s[n..], |c| match c {
                '|' | '\\' | '`' | '[' | ']' | '!' | '*' | '_' | '~' | '$' => format!("\\{c}"),
                '<' => "&lt;".into(),
                '>' => "&gt;".into(),
                '&' => "&amp;".into(),
                '\n' => "<br>".into(),
                '\r' => String::new(),
                '\t' => " ".into(),
                c if c.is_control() || is_bidi(c) => "\u{FFFD}".into(),
                c => c.to_string(),
            })
        };
        let ps = |s: &str| {
            let body = by_char(s, |c| match c {
                '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => format!("{c}{c}"),
                '\n' | '\t' => c.to_string(),
                '\r' => String::new(),
                c if c.is_control() || is_bidi(c) => "\u{FFFD}".into(),
                c => c.to_string(),
            });
            format!("'{body}'")
        };
        let xml = |s: &str| {
            by_char(s, |c| match c {
                '&' => "&amp;".into(),
                '<' => "&lt;".into(),
                '>' => "&gt;".into(),
                '"' => "&quot;".into(),
                '\'' => "&#39;".into(),
                c if c.is_control() && c != '\n' => " ".into(),
                c => c.to_string(),
            })
        };
        let flat = |s: &str| {
            by_char(s, |c| {
                if c.is_control() || is_bidi(c) { ' ' } else { c }.to_string()
            })
        };
        let samples = [
            "",
            "plain text 443/tcp",
            "|\\<>&`'\"\n\r\t\0\u{7f}\u{1b}",
            "caf\u{e9} \u{2018}q\u{2019} \u{202E}rev\u{2066} \u{1F600}",
            "a|b\\c<d>e&f`g'h\"i\nj\rk\tl",
            "\u{85}next\u{a0}nbsp\u{200F}",
            "''''",
            "ends with special<",
            "\u{e9}",
            "![x](https://a.example/i.png) [l](u) **b** _e_ ~~s~~ $m$",
            "  # heading",
            "- item",
            "+1",
            "=",
            "12. item",
            "12.5 %",
            "10.0.0.0/24",
            "1234567890. long",
            "3)",
            "\t\t4 spaces",
            "\n\r\nafter breaks\n",
        ];
        for s in samples {
            assert_eq!(md_cell(s), md(s), "md {s:?}");
            assert_eq!(ps_quote(s), ps(s), "ps {s:?}");
            assert_eq!(xml_escape(s), xml(s), "xml {s:?}");
            assert_eq!(one_line(s), flat(s), "one_line {s:?}");
        }
    }

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
    fn sh_quote_makes_one_inert_word() {
        assert_eq!(sh_quote("it's $(x) `y`"), "'it'\\''s $(x) `y`'");
        assert_eq!(sh_quote("a\nb\u{202E}"), "'a\u{FFFD}b\u{FFFD}'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn ps_quote_doubles_every_single_quote_character() {
        assert_eq!(ps_quote("it's"), "'it''s'");
        assert_eq!(
            ps_quote("\u{2018}a\u{2019}b\u{201A}c\u{201B}"),
            "'\u{2018}\u{2018}a\u{2019}\u{2019}b\u{201A}\u{201A}c\u{201B}\u{201B}'"
        );
        assert_eq!(ps_quote("$(calc) `n \"x\"; #>"), "'$(calc) `n \"x\"; #>'");
        assert_eq!(ps_quote("a\r\nb\tc"), "'a\nb\tc'");
        assert_eq!(
            ps_quote("nul\0esc\u{1b}del\u{7f}rlo\u{202E}"),
            "'nul\u{FFFD}esc\u{FFFD}del\u{FFFD}rlo\u{FFFD}'"
        );
        assert_eq!(ps_quote(""), "''");
    }

    #[test]
    fn ps_filter_quotes_lists_and_refuses_nothing() {
        let r = Renderer::new(None).unwrap();
        let mut env = r.env.clone();
        env.add_template("t", "{{ v | ps }}").unwrap();
        let t = env.get_template("t").unwrap();
        let render =
            |v: serde_json::Value| t.render(minijinja::context! { v => Value::from_serialize(v) });
        assert_eq!(
            render(serde_json::json!(["a'b", "c"])).unwrap(),
            "'a''b', 'c'"
        );
        assert_eq!(render(serde_json::json!(443)).unwrap(), "'443'");
        assert!(render(serde_json::Value::Null).is_err());
    }

    #[test]
    fn nft_strings_are_quoted_and_cut_at_char_boundaries() {
        assert_eq!(nft_str("say \"hi\"\n"), "\"say 'hi' \"");
        let long = "é".repeat(100);
        let q = nft_str(&long);
        let inner = &q[1..q.len() - 1];
        assert!(inner.len() <= NFT_COMMENT_MAX, "{}", inner.len());
        assert!(inner.ends_with('~'));
    }

    #[test]
    fn comment_text_has_no_control_or_bidi_characters() {
        let hostile = "a\0b\u{1b}c\rd\u{202E}e\u{200F}f\u{2066}g\u{61C}h";
        for out in [one_line(hostile), nft_str(hostile), ipt_str(hostile)] {
            assert!(
                !out.chars().any(|c| c.is_control() || is_bidi(c)),
                "{out:?}"
            );
        }
        assert_eq!(
            md_cell("x\0y\u{202E}z\n"),
            "x\u{FFFD}y\u{FFFD}z<br>".to_string()
        );
    }

    #[test]
    fn ipt_strings_escape_backslash_and_quote() {
        assert_eq!(ipt_str(r#"a\b "c""#), r#""a\\b \"c\"""#);
        let q = ipt_str(&"x".repeat(400));
        assert_eq!(q.len(), IPT_COMMENT_MAX + 2);
    }

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
        let out = into_string(|w| write_yaml_doc(w, &v)).unwrap();
        assert_eq!(out, "{\n  \"c\": \"caf\\u00E9 \\U0001F600\"\n}\n");
    }

    #[test]
    fn filters_give_plain_text_back_as_their_quoting_functions_do() {
        let r = Renderer::new(None).unwrap();
        let samples = [
            "plain text 10.0.0.0/24 tcp 443",
            "",
            "a|b",
            "x<y>&z `c` \\",
            "quote \" and ' apostrophe",
            "line\nbreak\ttab\r",
            "caf\u{e9} \u{202e}bidi",
            "~ and \u{7f} DEL",
            // Longer than the sixteen-byte chunks: a special byte in a chunk, at a chunk's
            // edges, in the remainder.
            "a long plain sentence that spans several chunks of sixteen bytes",
            "0123456789abcde|tail of it",
            "0123456789abcdef&tail of it",
            "0123456789abcdef0123456789abcdef<",
            "0123456789abcdef0123456789ab\ncd",
            " leading space",
            "# heading",
            "1. list",
            "10.0.0.0/24",
            "[link](x) *em* _u_ ~s~ $m$ !",
        ];
        type Quote = fn(&str) -> String;
        let quote: [(&str, Quote); 3] = [
            ("md", md_cell),
            ("xml", xml_escape),
            ("hash_line", one_line),
        ];
        for (name, f) in quote {
            let tmpl = format!("{{{{ s | {name} }}}}");
            let mut env = r.env.clone();
            env.add_template_owned("t".to_string(), tmpl).unwrap();
            for s in samples {
                let out = env
                    .get_template("t")
                    .unwrap()
                    .render(minijinja::context! { s })
                    .unwrap();
                assert_eq!(out, f(s), "{name} of {s:?}");
            }
            let n = env
                .get_template("t")
                .unwrap()
                .render(minijinja::context! { s => 5 });
            assert!(n.is_err(), "{name} of a number");
        }
    }

    #[test]
    fn a_lazy_list_reads_like_a_list_and_makes_only_the_items_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let made = Arc::new(AtomicUsize::new(0));
        let count = made.clone();
        let items = lazy_list(1000, move |i| {
            count.fetch_add(1, Ordering::Relaxed);
            Value::from(i * 2)
        });
        let mut env = Environment::new();
        env.add_template("t", "{{ items|length }} {{ items[3] }} {{ items[999] }}")
            .unwrap();
        let t = env.get_template("t").unwrap();
        let out = t.render(minijinja::context! { items => items.clone() });
        assert_eq!(out.unwrap(), "1000 6 1998");
        assert_eq!(made.load(Ordering::Relaxed), 2);
        env.add_template("all", "{% for x in items %}{{ x }},{% endfor %}")
            .unwrap();
        let small = lazy_list(3, |i| Value::from(i * 2));
        let all = env.get_template("all").unwrap();
        assert_eq!(
            all.render(minijinja::context! { items => small }).unwrap(),
            "0,2,4,"
        );
    }

    #[test]
    fn streamed_text_prints_in_place_and_as_a_string() {
        let mut env = Environment::new();
        env.add_template("t", "[{{ x }}] {{ x|string|length }}")
            .unwrap();
        let x = streamed_text(|w| w.write_str("caf\u{e9}"));
        let out = env
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { x })
            .unwrap();
        assert_eq!(out, "[caf\u{e9}] 4");
    }
}
