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
pub mod json;
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
        env.add_filter("hash_line", unless_plain(hash_line, |_| false, |_| false));
        env.add_filter("xml", unless_plain(xml_escape, xml_special, |_| false));
        env.add_filter("mermaid", mermaid_label);
        env.add_filter("tojson", tojson);
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

    /// Render a template from a JSON context, handed to minijinja without copying it into
    /// minijinja's own values: the template reads it node by node (a copy of a 100,000-flow
    /// context took more memory than the flows).
    pub fn render(&self, name: &str, ctx: serde_json::Value) -> Result<String> {
        let root = Arc::new(ctx);
        self.render_value(name, JsonNode::wrap(root.clone(), &root))
    }

    /// Render a template whose context is one JSON value under `key` (the cloud templates
    /// print it with `tojson`, node by node).
    pub fn render_json(&self, name: &str, key: &str, value: serde_json::Value) -> Result<String> {
        let mut ctx = serde_json::Map::new();
        ctx.insert(key.to_string(), value);
        self.render(name, serde_json::Value::Object(ctx))
    }

    /// Render a template whose context is one typed document under `key`. `tojson` writes
    /// it straight from the Rust values; any other use in a template (an overridden template
    /// that loops over it) reads a JSON tree built from it on first use.
    pub fn render_doc_to<T: JsonDoc>(
        &self,
        name: &str,
        key: &str,
        doc: T,
        w: &mut dyn std::io::Write,
    ) -> Result<()> {
        let node = Value::from_object(DocNode {
            doc: Box::new(doc),
            tree: std::sync::OnceLock::new(),
        });
        self.render_ser_to(name, &Value::from_iter([(key, node)]), w)
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

    fn render_value(&self, name: &str, ctx: Value) -> Result<String> {
        self.template(name)?
            .render(ctx)
            .map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))
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

/// Pieces of text joined into a string of exactly their length. `format!` sizes its string
/// from the literal pieces and grows it by copying: a reallocation or two for each long rule
/// comment, summary and element line (about 400,000 at 10,000 flows, 4% of a run).
pub fn concat(pieces: &[&str]) -> String {
    let mut s = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        s.push_str(p);
    }
    s
}

/// The text a writer function writes (the CLI's standard output, tests).
pub fn into_string(write: impl FnOnce(&mut dyn std::io::Write) -> Result<()>) -> Result<String> {
    let mut buf = Vec::new();
    write(&mut buf)?;
    String::from_utf8(buf).context("rendered text is not UTF-8")
}

/// A node inside a shared JSON value, seen by templates as a sequence or map whose children
/// are made on demand (scalars as plain values).
#[derive(Debug)]
struct JsonNode {
    /// Keeps the whole value alive (and unchanged: nothing holds it mutably).
    root: Arc<serde_json::Value>,
    /// This node, inside `root`.
    node: std::ptr::NonNull<serde_json::Value>,
}

// SAFETY: `node` points into `root`, which this struct keeps alive and which is never
// mutated after wrapping; `serde_json::Value` is itself Send + Sync.
unsafe impl Send for JsonNode {}
unsafe impl Sync for JsonNode {}

impl JsonNode {
    fn wrap(root: Arc<serde_json::Value>, node: &serde_json::Value) -> Value {
        match node {
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                let node = std::ptr::NonNull::from(node);
                Value::from_object(JsonNode { root, node })
            }
            serde_json::Value::Null => Value::from(()),
            serde_json::Value::Bool(b) => Value::from(*b),
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Value::from(u),
                (None, Some(i), _) => Value::from(i),
                (None, None, Some(f)) => Value::from(f),
                _ => Value::from_serialize(n),
            },
        }
    }

    fn get(&self) -> &serde_json::Value {
        // SAFETY: see the Send/Sync note; the pointee lives as long as `self.root`.
        unsafe { self.node.as_ref() }
    }

    fn child(&self, v: &serde_json::Value) -> Value {
        JsonNode::wrap(self.root.clone(), v)
    }
}

impl minijinja::value::Object for JsonNode {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        match self.get() {
            serde_json::Value::Array(_) => minijinja::value::ObjectRepr::Seq,
            _ => minijinja::value::ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.get() {
            serde_json::Value::Array(a) => a.get(key.as_usize()?).map(|v| self.child(v)),
            serde_json::Value::Object(m) => m.get(key.as_str()?).map(|v| self.child(v)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        match self.get() {
            serde_json::Value::Array(a) => minijinja::value::Enumerator::Seq(a.len()),
            serde_json::Value::Object(m) => minijinja::value::Enumerator::Values(
                m.keys().map(|k| Value::from(k.as_str())).collect(),
            ),
            _ => minijinja::value::Enumerator::Empty,
        }
    }
}

/// A list a template reads item by item: each item becomes a template value only when the
/// template reaches it, and is dropped after. A whole-list copy into template values took more
/// memory than the flows themselves (100,000 flows: over 600 MB for `flows.md`).
pub struct LazyList<T: 'static> {
    items: Arc<Vec<T>>,
    /// The template value of the item at an index (given the whole list, so a view can keep
    /// a share of it).
    view: Box<ItemView<T>>,
}

type ItemView<T> = dyn Fn(&Arc<Vec<T>>, usize) -> Value + Send + Sync;

impl<T> std::fmt::Debug for LazyList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LazyList({} items)", self.items.len())
    }
}

impl<T: Send + Sync + 'static> minijinja::value::Object for LazyList<T> {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = key.as_usize()?;
        (i < self.items.len()).then(|| (self.view)(&self.items, i))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Seq(self.items.len())
    }
}

/// `items` as a template list whose items are their serialised values, made one at a time.
/// In a context built with [`Value::from_serialize`] the list stays lazy.
pub fn lazy_list<T: serde::Serialize + Send + Sync + 'static>(items: Arc<Vec<T>>) -> Value {
    lazy_view(items, |_, t| Value::from_serialize(t))
}

/// `items` as a template list of `view(index, item)`, made one at a time.
pub fn lazy_view<T: Send + Sync + 'static>(
    items: Arc<Vec<T>>,
    view: impl Fn(usize, &T) -> Value + Send + Sync + 'static,
) -> Value {
    lazy_shared(items, move |items, i| view(i, &items[i]))
}

/// `items` as a template list of `view(items, index)`, made one at a time: for an item value
/// that keeps a share of the list rather than a copy of its item.
pub fn lazy_shared<T: Send + Sync + 'static>(
    items: Arc<Vec<T>>,
    view: impl Fn(&Arc<Vec<T>>, usize) -> Value + Send + Sync + 'static,
) -> Value {
    Value::from_object(LazyList {
        items,
        view: Box::new(view),
    })
}

/// A template list of `len` items, item `i` made by `view(i)` when the template reaches it: for
/// items that are positions in a structure the view keeps a share of.
pub fn lazy_indexed(len: usize, view: impl Fn(usize) -> Value + Send + Sync + 'static) -> Value {
    // A list of `()` is its length alone: no allocation for the items.
    lazy_shared(Arc::new(vec![(); len]), move |_, i| view(i))
}

/// `items` as a template list of maps whose fields are serialised only when a template reads
/// them: `flows.md` reads six fields of a flow, and serialising every flow whole (its parts,
/// addresses and kinds) took 40% of that template's time.
pub fn lazy_fields<T: serde::Serialize + Send + Sync + 'static>(items: Arc<Vec<T>>) -> Value {
    lazy_shared(items, |items, index| {
        Value::from_object(Fields {
            items: items.clone(),
            index,
        })
    })
}

/// One item of a [`lazy_fields`] list: a map of its serialised fields.
struct Fields<T: 'static> {
    items: Arc<Vec<T>>,
    index: usize,
}

impl<T> std::fmt::Debug for Fields<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fields({})", self.index)
    }
}

impl<T: serde::Serialize + Send + Sync + 'static> minijinja::value::Object for Fields<T> {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let mut pick = fields::Pick {
            name: key.as_str()?,
            found: None,
            names: None,
        };
        self.items[self.index].serialize(&mut pick).ok()?;
        pick.found
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let mut pick = fields::Pick {
            name: "",
            found: None,
            names: Some(Vec::new()),
        };
        match self.items[self.index].serialize(&mut pick) {
            Ok(()) => minijinja::value::Enumerator::Values(
                pick.names
                    .unwrap_or_default()
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ),
            Err(_) => minijinja::value::Enumerator::Empty,
        }
    }
}

/// A serde serialiser that takes one field of a struct (or lists the field names) without
/// serialising the others.
mod fields {
    use minijinja::Value;
    use serde::ser::{Impossible, Serialize, SerializeStruct, Serializer};

    pub struct Pick<'k> {
        pub name: &'k str,
        pub found: Option<Value>,
        /// Collects the field names instead, when set.
        pub names: Option<Vec<&'static str>>,
    }

    #[derive(Debug)]
    pub struct NotAStruct;

    impl std::fmt::Display for NotAStruct {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("only a struct's fields can be picked")
        }
    }

    impl std::error::Error for NotAStruct {}

    impl serde::ser::Error for NotAStruct {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            NotAStruct
        }
    }

    impl SerializeStruct for &mut Pick<'_> {
        type Ok = ();
        type Error = NotAStruct;

        fn serialize_field<V: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            value: &V,
        ) -> Result<(), NotAStruct> {
            match &mut self.names {
                Some(names) => names.push(key),
                None if key == self.name => self.found = Some(Value::from_serialize(value)),
                None => {}
            }
            Ok(())
        }

        fn end(self) -> Result<(), NotAStruct> {
            Ok(())
        }
    }

    macro_rules! refuse {
        ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
            $(fn $name(self, $(_: $arg),*) -> Result<$ret, NotAStruct> {
                Err(NotAStruct)
            })*
        };
    }

    impl<'a, 'k> Serializer for &'a mut Pick<'k> {
        type Ok = ();
        type Error = NotAStruct;
        type SerializeSeq = Impossible<(), NotAStruct>;
        type SerializeTuple = Impossible<(), NotAStruct>;
        type SerializeTupleStruct = Impossible<(), NotAStruct>;
        type SerializeTupleVariant = Impossible<(), NotAStruct>;
        type SerializeMap = Impossible<(), NotAStruct>;
        type SerializeStruct = Self;
        type SerializeStructVariant = Impossible<(), NotAStruct>;

        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, NotAStruct> {
            Ok(self)
        }

        fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<(), NotAStruct> {
            Err(NotAStruct)
        }

        fn serialize_newtype_struct<V: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: &V,
        ) -> Result<(), NotAStruct> {
            Err(NotAStruct)
        }

        fn serialize_newtype_variant<V: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &V,
        ) -> Result<(), NotAStruct> {
            Err(NotAStruct)
        }

        refuse! {
            serialize_bool(bool) -> ();
            serialize_i8(i8) -> ();
            serialize_i16(i16) -> ();
            serialize_i32(i32) -> ();
            serialize_i64(i64) -> ();
            serialize_u8(u8) -> ();
            serialize_u16(u16) -> ();
            serialize_u32(u32) -> ();
            serialize_u64(u64) -> ();
            serialize_f32(f32) -> ();
            serialize_f64(f64) -> ();
            serialize_char(char) -> ();
            serialize_str(&str) -> ();
            serialize_bytes(&[u8]) -> ();
            serialize_none() -> ();
            serialize_unit() -> ();
            serialize_unit_struct(&'static str) -> ();
            serialize_unit_variant(&'static str, u32, &'static str) -> ();
            serialize_seq(Option<usize>) -> Self::SerializeSeq;
            serialize_tuple(usize) -> Self::SerializeTuple;
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
            serialize_map(Option<usize>) -> Self::SerializeMap;
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
        }
    }
}

/// A typed value a template receives whole (the cloud targets' documents): serialisable, and
/// owned so the template engine may keep it.
pub trait JsonDoc: serde::Serialize + std::fmt::Debug + Send + Sync + 'static {}
impl<T: serde::Serialize + std::fmt::Debug + Send + Sync + 'static> JsonDoc for T {}

/// serde_json's `PrettyFormatter`, byte for byte, but a line break and its indentation go out
/// in one write (serde_json writes the indent unit once per level: about five writes per line
/// of the 240 MB flows JSON at 100,000 flows).
pub struct PrettyJson<'a> {
    unit: &'a [u8],
    depth: usize,
    has_value: bool,
    /// `,\n` followed by the indentation of the deepest level so far.
    line: Vec<u8>,
}

impl<'a> PrettyJson<'a> {
    pub fn with_indent(unit: &'a [u8]) -> PrettyJson<'a> {
        PrettyJson {
            unit,
            depth: 0,
            has_value: false,
            line: b",\n".to_vec(),
        }
    }

    /// `,\n` (or `\n` when `first`) and the indentation of the current level.
    fn newline<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        let end = 2 + self.depth * self.unit.len();
        while self.line.len() < end {
            self.line.extend_from_slice(self.unit);
        }
        w.write_all(&self.line[usize::from(first)..end])
    }

    /// `[` or `{`: one level deeper, nothing in it yet.
    fn open<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    /// `]` or `}`, on a line of its own when the array or object had values.
    fn close<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(w, true)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for PrettyJson<'_> {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.newline(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.newline(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Object-safe view of a [`JsonDoc`].
trait DynDoc: std::fmt::Debug + Send + Sync {
    fn write(&self, out: &mut TextChunks<'_>, indent: Option<&[u8]>) -> serde_json::Result<()>;
    fn tree(&self) -> serde_json::Result<serde_json::Value>;
}

impl<T: JsonDoc> DynDoc for T {
    fn write(&self, out: &mut TextChunks<'_>, indent: Option<&[u8]>) -> serde_json::Result<()> {
        match indent {
            Some(pad) => json::to_writer(out, PrettyJson::with_indent(pad), self),
            None => json::to_writer(out, serde_json::ser::CompactFormatter, self),
        }
    }

    fn tree(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }
}

/// A [`JsonDoc`] in a template context; see [`Renderer::render_doc_to`].
#[derive(Debug)]
struct DocNode {
    doc: Box<dyn DynDoc>,
    tree: std::sync::OnceLock<Value>,
}

impl DocNode {
    fn tree(&self) -> &Value {
        self.tree.get_or_init(|| match self.doc.tree() {
            Ok(v) => {
                let root = Arc::new(v);
                JsonNode::wrap(root.clone(), &root)
            }
            Err(e) => Value::from(format!("<unserialisable: {e}>")),
        })
    }
}

impl minijinja::value::Object for DocNode {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        match self.tree().as_object() {
            Some(o) => o.repr(),
            None => minijinja::value::ObjectRepr::Plain,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.tree().as_object()?.get_value(key)
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        match self.tree().as_object() {
            Some(o) => o.enumerate(),
            None => minijinja::value::Enumerator::Empty,
        }
    }
}

/// minijinja's `tojson`, byte for byte, but a document ([`JsonNode`], or a typed one from
/// [`Renderer::render_doc_to`]) is written straight from its values into the output when the
/// template prints it ([`streamed_text`]), never as one string: a cloud template of 10,000
/// flows spent a third of its time converting it node by node, and the text of 100,000 flows
/// (125 MB of GCP JSON) was held two or three times over. `doc|tojson|string` gives the text
/// to other filters.
fn tojson(
    value: &Value,
    indent: Option<Value>,
    args: minijinja::value::Kwargs,
) -> Result<Value, minijinja::Error> {
    if json_doc(value).is_none() {
        return minijinja::filters::tojson(value, indent, args);
    }
    let indent =
        match indent.map_or_else(|| args.get::<Option<Value>>("indent"), |v| Ok(Some(v)))? {
            None => None,
            Some(v) => match bool::try_from(v.clone()) {
                Ok(true) => Some(2),
                Ok(false) => None,
                Err(_) => Some(usize::try_from(v)?),
            },
        };
    args.assert_all_used()?;
    let pad = indent.map(|n| " ".repeat(n).into_bytes());
    let value = value.clone();
    Ok(streamed_text(move |out| {
        let doc = json_doc(&value).expect("checked above");
        let mut w = TextChunks::new(out, write_html_safe);
        doc.write(&mut w, pad.as_deref())
            .map_err(|_| std::fmt::Error)?;
        w.finish()
    }))
}

/// The document a template value stands for, if it is one.
fn json_doc(value: &Value) -> Option<&dyn DynDoc> {
    if let Some(d) = value.downcast_object_ref::<DocNode>() {
        Some(&*d.doc)
    } else {
        value
            .downcast_object_ref::<JsonNode>()
            .map(|n| n.get() as &dyn DynDoc)
    }
}

/// JSON text made safe to embed in HTML as minijinja's `tojson` makes it: `<`, `>`, `&` and
/// `'` as `\u` escapes (JSON has them only inside strings, where the escapes mean the same).
fn write_html_safe(text: &str, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
    let mut rest = text;
    loop {
        let b = rest.as_bytes();
        let next = match (
            memchr::memchr3(b'<', b'>', b'&', b),
            memchr::memchr(b'\'', b),
        ) {
            (Some(a), Some(q)) => Some(a.min(q)),
            (a, q) => a.or(q),
        };
        let Some(i) = next else { break };
        out.write_str(&rest[..i])?;
        out.write_str(match b[i] {
            b'<' => "\\u003c",
            b'>' => "\\u003e",
            b'&' => "\\u0026",
            _ => "\\u0027",
        })?;
        rest = &rest[i + 1..];
    }
    out.write_str(rest)
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
        concat(&["`", s, "`"])
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
/// extension catalogue may hold) as spaces, so text stays on its line and reads in order.
fn flatten(s: &str) -> String {
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
    let clean = flatten(s).replace('"', "'");
    concat(&["\"", &truncate_bytes(&clean, NFT_COMMENT_MAX), "\""])
}

/// nftables keeps at most this many bytes of a rule comment.
pub const NFT_COMMENT_MAX: usize = 128;
/// The iptables comment match keeps at most this many bytes.
pub const IPT_COMMENT_MAX: usize = 255;

/// An iptables-restore quoted string (`-m comment --comment`): backslash and `"` escaped,
/// control characters as spaces, at most 255 bytes before escaping.
pub fn ipt_str(s: &str) -> String {
    let clean = truncate_bytes(&flatten(s), IPT_COMMENT_MAX);
    concat(&[
        "\"",
        &clean.replace('\\', "\\\\").replace('"', "\\\""),
        "\"",
    ])
}

/// Text for a `#` comment line (nftables and iptables-restore files): one line, nothing else.
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

pub fn hash_line(s: &str) -> String {
    flatten(s)
}

/// A value as YAML: pretty JSON (a YAML 1.2 document, read the same by YAML 1.1 loaders for
/// these values) with every non-ASCII character written as a YAML `\u`/`\U` escape. Outside
/// strings JSON has only ASCII, so the escapes land only inside double-quoted scalars.
pub fn write_yaml_json<T: serde::Serialize + ?Sized>(
    v: &T,
    out: &mut dyn std::fmt::Write,
) -> std::fmt::Result {
    let mut w = TextChunks::new(out, write_ascii_escaped);
    json::to_writer(&mut w, PrettyJson::with_indent(b"  "), v).map_err(|_| std::fmt::Error)?;
    w.finish()
}

/// A serialiser's bytes of UTF-8 text to a `fmt::Write`, through `escape`. The serialiser
/// writes in pieces of a few bytes: they are gathered into chunks first, and a character split
/// between two chunks waits for the next.
struct TextChunks<'a> {
    out: &'a mut dyn std::fmt::Write,
    buf: Vec<u8>,
    escape: fn(&str, &mut dyn std::fmt::Write) -> std::fmt::Result,
}

impl<'a> TextChunks<'a> {
    const CHUNK: usize = 1 << 13;

    fn new(
        out: &'a mut dyn std::fmt::Write,
        escape: fn(&str, &mut dyn std::fmt::Write) -> std::fmt::Result,
    ) -> TextChunks<'a> {
        TextChunks {
            out,
            buf: Vec::with_capacity(Self::CHUNK + 64),
            escape,
        }
    }

    /// Writes out the complete characters gathered so far.
    fn drain(&mut self) -> std::io::Result<()> {
        let (text, used) = match std::str::from_utf8(&self.buf) {
            Ok(t) => (t, self.buf.len()),
            Err(e) if e.error_len().is_none() => {
                let n = e.valid_up_to();
                (
                    std::str::from_utf8(&self.buf[..n]).expect("valid prefix"),
                    n,
                )
            }
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        };
        (self.escape)(text, &mut *self.out).map_err(std::io::Error::other)?;
        self.buf.drain(..used);
        Ok(())
    }

    /// Writes out the rest; an error if it ends inside a character.
    fn finish(mut self) -> std::fmt::Result {
        self.drain().map_err(|_| std::fmt::Error)?;
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(std::fmt::Error)
        }
    }
}

/// `text` with every non-ASCII character as a YAML `\u`/`\U` escape.
fn write_ascii_escaped(text: &str, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
    if text.is_ascii() {
        return out.write_str(text);
    }
    let mut run = 0;
    for (i, c) in text.char_indices() {
        if c.is_ascii() {
            continue;
        }
        out.write_str(&text[run..i])?;
        let n = c as u32;
        if n <= 0xFFFF {
            write!(out, "\\u{n:04X}")?;
        } else {
            write!(out, "\\U{n:08X}")?;
        }
        run = i + c.len_utf8();
    }
    out.write_str(&text[run..])
}

impl std::io::Write for TextChunks<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= Self::CHUNK {
            self.drain()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Text a template prints without it ever being one string: it is written straight into the
/// output when the template reaches it (the matrix's SVG, Aerleon's YAML, `tojson` of a
/// document: tens of MB each at 100,000 flows, and a template context copies strings).
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
            assert_eq!(flatten(s), flat(s), "flatten {s:?}");
        }
    }

    #[test]
    fn html_safe_escapes_the_four_characters_wherever_they_are() {
        let naive = |s: &str| {
            by_char(s, |c| match c {
                '<' => "\\u003c".to_string(),
                '>' => "\\u003e".to_string(),
                '&' => "\\u0026".to_string(),
                '\'' => "\\u0027".to_string(),
                c => c.to_string(),
            })
        };
        for s in [
            "",
            "plain",
            "'",
            "<",
            "''<<>>&&",
            "a'b<c'd>e&f'",
            "'''x",
            "x<<<",
            "&'&'&'",
            "é'<ü",
        ] {
            use std::io::Write;
            let want = naive(s);
            let mut whole = String::new();
            write_html_safe(s, &mut whole).unwrap();
            assert_eq!(whole, want, "{s:?}");
            // Written in two pieces cut anywhere, even inside a character.
            for cut in 0..=s.len() {
                let mut out = String::new();
                let mut w = TextChunks::new(&mut out, write_html_safe);
                w.write_all(&s.as_bytes()[..cut]).unwrap();
                w.drain().unwrap();
                w.write_all(&s.as_bytes()[cut..]).unwrap();
                w.finish().unwrap();
                assert_eq!(out, want, "{s:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn pretty_json_writes_what_serde_json_writes() {
        use serde::Serialize;
        let doc = serde_json::json!({
            "empty_list": [],
            "empty_map": {},
            "list": [1, [2, [3, {"deep": {"deeper": [[], {}, "x"]}}]], {"a": null}],
            "text": "<tag> & 'quote' caf\u{e9}",
            "n": 1.5,
            "nested": {"a": {"b": {"c": {"d": {"e": [true, false]}}}}},
        });
        for unit in [&b"  "[..], b"    ", b"\t", b""] {
            let mut theirs = Vec::new();
            doc.serialize(&mut serde_json::Serializer::with_formatter(
                &mut theirs,
                serde_json::ser::PrettyFormatter::with_indent(unit),
            ))
            .unwrap();
            let mut ours = Vec::new();
            doc.serialize(&mut serde_json::Serializer::with_formatter(
                &mut ours,
                PrettyJson::with_indent(unit),
            ))
            .unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap(),
                "indent {unit:?}"
            );
        }
    }

    #[test]
    fn tojson_prints_a_document_of_many_chunks_as_minijinja_does() {
        let v = serde_json::json!({
            "a": ["<x>", "it's", "a & b", "caf\u{e9}", "\u{1F600}"],
            "n": (0..20_000).collect::<Vec<u32>>(),
        });
        let mut env = Environment::new();
        env.add_template("t", "{{ v | tojson }}|{{ v | tojson(indent=2) }}")
            .unwrap();
        let builtin = env
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { v => Value::from_serialize(&v) })
            .unwrap();
        assert!(
            builtin.len() > 4 * TextChunks::CHUNK,
            "spans several chunks"
        );
        env.add_filter("tojson", tojson);
        let root = Arc::new(serde_json::json!({ "v": v }));
        let ctx = JsonNode::wrap(root.clone(), &root);
        let ours = env.get_template("t").unwrap().render(ctx.clone()).unwrap();
        assert_eq!(ours, builtin);
        // Other filters get the text through `string`.
        env.add_template("s", "{{ v | tojson | string | length }}")
            .unwrap();
        let n = env.get_template("s").unwrap().render(ctx).unwrap();
        assert_eq!(
            n,
            builtin
                .split('|')
                .next()
                .unwrap()
                .chars()
                .count()
                .to_string()
        );
    }

    #[test]
    fn a_typed_doc_reads_as_json_in_templates_and_prints_with_tojson() {
        #[derive(Debug, serde::Serialize)]
        struct Doc {
            name: &'static str,
            list: Vec<u32>,
        }
        let mut env = Environment::new();
        env.add_filter("tojson", tojson);
        env.add_template(
            "t",
            "{{ d.name }} {% for x in d.list %}{{ x }},{% endfor %} {{ d.list | length }} {{ d | tojson }}",
        )
        .unwrap();
        let r = Renderer { env };
        let doc = Doc {
            name: "a<b",
            list: vec![1, 2],
        };
        let out = into_string(|w| r.render_doc_to("t", "d", doc, w)).unwrap();
        assert_eq!(out, r#"a<b 1,2, 2 {"name":"a\u003cb","list":[1,2]}"#);
    }

    #[test]
    fn tojson_of_a_json_node_is_minijinja_tojson_byte_for_byte() {
        let v = serde_json::json!({
            "name": "a<b>&'c\"d\\e\u{1}\u{e9}",
            "list": [1, -2, 3.5, true, null, {"k": [], "m": {}}],
            "empty": ""
        });
        let mut env = Environment::new();
        env.add_template("t", "{{ v | tojson }}|{{ v | tojson(indent=2) }}|{{ v | tojson(indent=true) }}|{{ v | tojson(indent=false) }}|{{ v | tojson(indent=4) }}")
            .unwrap();
        let t = env.get_template("t").unwrap();
        let builtin = t
            .render(minijinja::context! { v => Value::from_serialize(&v) })
            .unwrap();
        env.add_filter("tojson", tojson);
        let t = env.get_template("t").unwrap();
        let root = Arc::new(serde_json::json!({ "v": v }));
        let ours = t.render(JsonNode::wrap(root.clone(), &root)).unwrap();
        assert_eq!(ours, builtin);
        assert!(ours.contains("a\\u003cb\\u003e\\u0026\\u0027c"), "{ours}");
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
        for out in [hash_line(hostile), nft_str(hostile), ipt_str(hostile)] {
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
        let mut out = String::new();
        write_yaml_json(&v, &mut out).unwrap();
        assert_eq!(out, "{\n  \"c\": \"caf\\u00E9 \\U0001F600\"\n}");
    }

    #[test]
    fn yaml_escaping_waits_for_a_character_split_between_writes() {
        use std::io::Write;
        let text = "a\u{e9}b\u{1F600}c\u{2192}";
        let bytes = text.as_bytes();
        // Every way of cutting the text in two gives the same escapes.
        for cut in 0..=bytes.len() {
            let mut out = String::new();
            let mut w = TextChunks::new(&mut out, write_ascii_escaped);
            w.write_all(&bytes[..cut]).unwrap();
            w.drain().unwrap();
            w.write_all(&bytes[cut..]).unwrap();
            w.drain().unwrap();
            assert!(w.buf.is_empty());
            assert_eq!(out, "a\\u00E9b\\U0001F600c\\u2192", "cut at {cut}");
        }
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
            ("hash_line", hash_line),
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
    fn lazy_fields_read_like_the_whole_serialised_item() {
        #[derive(serde::Serialize)]
        struct Inner {
            x: u8,
        }
        #[derive(serde::Serialize)]
        struct Item {
            name: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            note: Option<String>,
            #[serde(serialize_with = "upper")]
            shout: String,
            inner: Vec<Inner>,
        }
        fn upper<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&v.to_uppercase())
        }
        let items: Arc<Vec<Item>> = vec![
            Item {
                name: "a".into(),
                note: Some("n".into()),
                shout: "hey".into(),
                inner: vec![Inner { x: 1 }],
            },
            Item {
                name: "b".into(),
                note: None,
                shout: "ho".into(),
                inner: vec![],
            },
        ]
        .into();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_filter("tojson", tojson);
        env.add_template(
            "t",
            "{% for f in items %}{{ f.name }} {{ f.shout }} {{ f.inner[0].x if f.inner }} \
             {% for k in f %}{{ k }},{% endfor %} {{ f|length }} {{ f|tojson }}\n{% endfor %}",
        )
        .unwrap();
        env.add_template("missing", "{% for f in items %}{{ f.nothing }}{% endfor %}")
            .unwrap();
        let render = |name: &str, items: Value| {
            env.get_template(name)
                .unwrap()
                .render(minijinja::context! { items })
        };
        let lazy = render("t", lazy_fields(items.clone())).unwrap();
        assert_eq!(lazy, render("t", lazy_list(items.clone())).unwrap());
        assert!(lazy.contains("a HEY 1 name,note,shout,inner, 4"), "{lazy}");
        assert!(lazy.contains("b HO  name,shout,inner, 3"), "{lazy}");
        // A field the item does not have is an error, as for the whole item.
        assert!(render("missing", lazy_fields(items)).is_err());
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
