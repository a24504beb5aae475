//! Finding a component kind by the name an engineer knows it by: another name the catalogue
//! lists for it (`ddc`, `sql`, `pvs`), a part of its id, the words of its name, or a near
//! spelling. Topologies still name kinds by id (an alias like `netscaler` fits two kinds);
//! these only make the hint and `ctxfw catalogue --search` point at the id.

use crate::catalogue::{Catalogue, Kind};

/// Why a kind matched, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// The word is one of the kind's aliases.
    Alias,
    /// The id or an alias contains the word.
    Part,
    /// Every word of the query is a word of the kind's id, aliases or name.
    Words,
    /// Its description mentions every word (`--search` only).
    Description,
    /// A near spelling of the id or an alias.
    Spelling,
}

impl Why {
    pub fn name(self) -> &'static str {
        match self {
            Why::Alias => "alias",
            Why::Part => "id",
            Why::Words => "name",
            Why::Description => "description",
            Why::Spelling => "spelling",
        }
    }
}

fn normalise(word: &str) -> String {
    word.trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c == '_' || c.is_whitespace() {
                '-'
            } else {
                c
            }
        })
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Words shorter than this are matched only whole (as aliases): `a` is part of every id.
const MIN_PART: usize = 3;

fn why(kind: &Kind, w: &str, query_words: &[String], description: bool) -> Option<Why> {
    if kind.aliases.iter().any(|a| a == w) {
        return Some(Why::Alias);
    }
    if w.len() >= MIN_PART && (kind.id.contains(w) || kind.aliases.iter().any(|a| a.contains(w))) {
        return Some(Why::Part);
    }
    let has_all = |text_words: &[String]| {
        !query_words.is_empty()
            && query_words.iter().all(|q| {
                text_words
                    .iter()
                    .any(|t| t == q || (q.len() >= MIN_PART && t.starts_with(q.as_str())))
            })
    };
    let mut own = words(&kind.id);
    own.extend(kind.aliases.iter().flat_map(|a| words(a)));
    own.extend(words(&kind.name));
    if has_all(&own) {
        return Some(Why::Words);
    }
    if description && has_all(&words(&kind.description)) {
        return Some(Why::Description);
    }
    None
}

/// The kinds `word` may mean, best first (by why, then in catalogue order); with
/// `description`, also kinds whose description has its words. Near spellings only when
/// nothing else matches.
pub fn kinds<'a>(cat: &'a Catalogue, word: &str, description: bool) -> Vec<(&'a Kind, Why)> {
    let w = normalise(word);
    let query_words = words(&w);
    let mut found: Vec<(&Kind, Why)> = cat
        .kinds
        .values()
        .filter_map(|k| why(k, &w, &query_words, description).map(|y| (k, y)))
        .collect();
    found.sort_by_key(|(_, y)| *y);
    if found.is_empty() {
        let names = cat.kinds.values().flat_map(|k| {
            std::iter::once(k.id.as_str()).chain(k.aliases.iter().map(String::as_str))
        });
        if let Some(near) = crate::diag::did_you_mean(&w, names) {
            found.extend(
                cat.kinds
                    .values()
                    .filter(|k| k.id == near || k.aliases.iter().any(|a| a == near))
                    .map(|k| (k, Why::Spelling)),
            );
        }
    }
    found
}

/// At most this many kinds in a hint.
const HINT_MAX: usize = 5;

/// The hint for an unknown kind: the kinds it may mean, saying when the word is another name
/// for them, or how to find the names.
pub fn kind_hint(cat: &Catalogue, word: &str) -> String {
    let found = kinds(cat, word, false);
    let quoted = |v: &[(&Kind, Why)]| {
        v.iter()
            .take(HINT_MAX)
            .map(|(k, _)| format!("\"{}\"", k.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let aliases: Vec<(&Kind, Why)> = found
        .iter()
        .copied()
        .filter(|(_, y)| *y == Why::Alias)
        .collect();
    let w = normalise(word);
    match (aliases.len(), found.len()) {
        (1, _) => format!(
            "did you mean \"{}\"? (\"{w}\" is another name for it)",
            aliases[0].0.id
        ),
        (n, _) if n > 1 => format!(
            "did you mean one of {}? (\"{w}\" names each of them)",
            quoted(&aliases)
        ),
        (_, 1) => format!("did you mean \"{}\"?", found[0].0.id),
        (_, n) if n > 1 => format!("did you mean one of {}?", quoted(&found)),
        _ => format!(
            "expected one of {} kind ids, e.g. {}; `ctxfw catalogue --search WORD` finds them",
            cat.kinds.len(),
            cat.kinds
                .keys()
                .take(6)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(word: &str) -> String {
        kind_hint(&Catalogue::embedded().unwrap(), word)
    }

    #[test]
    fn the_names_engineers_use_lead_to_the_id() {
        // The CLI test (tests/tooling.rs) tries the names engineers use; here one of each.
        assert_eq!(
            hint("ddc"),
            "did you mean \"delivery-controller\"? (\"ddc\" is another name for it)"
        );
        assert!(hint("XenApp").starts_with("did you mean \"xenapp-server\"?"));
        let h = hint("netscaler");
        assert!(h.contains("\"netscaler-adc\""), "{h}");
        assert!(h.contains("\"netscaler-gateway\""), "{h}");
    }

    #[test]
    fn parts_words_and_spellings() {
        // A part of an id.
        assert!(hint("cloud-conn").contains("\"cloud-connector\""));
        // Words of the name, in any order.
        assert!(hint("recording-session").contains("\"session-recording-server\""));
        // A near spelling, as before.
        assert_eq!(hint("storefrnt"), "did you mean \"storefront\"?");
        assert!(hint("zzzz").contains("--search"));
    }
}
