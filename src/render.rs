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
pub mod quote;
pub mod serialise;
pub mod terraform;
pub mod values;
pub mod windows;
pub mod workbook;

use std::path::Path;

use anyhow::{Context, Result};
use minijinja::{Environment, UndefinedBehavior, Value};

pub use quote::{
    ipt_str, is_bidi, md_cell, md_code, mermaid_label, nft_str, one_line, ps_quote, sh_quote,
    truncate_bytes, xml_escape, IPT_COMMENT_MAX, NFT_COMMENT_MAX,
};
pub use serialise::{write_json_doc, write_yaml_doc};
pub use values::{lazy_list, streamed_text};

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
        // `Display` and `fmt::write` (padding checks included), costly for tables with a cell
        // per flow and column. Other values print as before.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(s) if state.auto_escape() == minijinja::AutoEscape::None => {
                out.write_str(s).map_err(minijinja::Error::from)
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        quote::add_filters(&mut env);
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
    /// intermediate `serde_json::Value`, which matters for large topologies) into a writer, as the
    /// template is evaluated (see [`crate::generate::Ctx::write`]).
    pub fn render_ser_to<T: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        ctx: &T,
        w: &mut dyn std::io::Write,
    ) -> Result<()> {
        let tmpl = self.template(name)?;
        // A template writes in many small pieces: they gather in a buffer of a concrete type,
        // not one call through `dyn Write` each.
        let mut w = std::io::BufWriter::with_capacity(1 << 15, w);
        tmpl.render_captured_to(Value::from_serialize(ctx), &mut w)
            .map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))?;
        Ok(std::io::Write::flush(&mut w)?)
    }

    fn template(&self, name: &str) -> Result<minijinja::Template<'_, '_>> {
        self.env
            .get_template(name)
            .with_context(|| format!("no template {name}"))
    }
}

/// The text a writer function writes (the CLI's standard output, tests).
pub fn into_string(write: impl FnOnce(&mut dyn std::io::Write) -> Result<()>) -> Result<String> {
    let mut buf = Vec::new();
    write(&mut buf)?;
    String::from_utf8(buf).context("rendered text is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
