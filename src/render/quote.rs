//! Quoting for each target's text: Markdown cells, PowerShell and POSIX shell literals,
//! nftables and iptables comment strings, HTML/SVG and Mermaid labels. Each is a plain
//! function (used by the renderers) and, where templates need it, a filter.

use minijinja::Value;

/// The quoting filters templates use, one per target's quoting.
pub(super) fn add_filters(env: &mut minijinja::Environment<'_>) {
    env.add_filter("md", md_cell);
    env.add_filter("md_code", md_code_filter);
    env.add_filter("ps", ps_filter);
    env.add_filter("sh", |s: &str| sh_quote(s));
    env.add_filter("nft_str", nft_str);
    env.add_filter("ipt_str", ipt_str);
    env.add_filter("hash_line", one_line);
    env.add_filter("xml", xml_escape);
    env.add_filter("mermaid", mermaid_label);
}

/// Printable ASCII that a quoting function copies unchanged: the test [`rewrite_into`] copies
/// runs by. Generic, not a fn pointer, so the test inlines into the loop over the bytes.
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

fn xml_special(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')
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
/// run on every cell of tables with a row per flow and every line of every script).
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
        let mut env = minijinja::Environment::new();
        add_filters(&mut env);
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
}
