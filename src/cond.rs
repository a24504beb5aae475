//! Conditions on parameters that switch catalogue flows: `edt && session_reliability`,
//! `rendezvous != 'off'`, `!vda_tls || xml_port == 443`.
//!
//! A tiny expression language so that the catalogue says in one place when a flow applies,
//! and the resolver can name the parameters that switched it. `from.<setting>` and
//! `to.<setting>` name a setting of the flow's source or destination component (a VDA's `join`,
//! an ADC's `mode`): such a condition is decided per pair of components, not once per topology.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Str(s) => write!(f, "'{s}'"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// A boolean parameter is true.
    Param(String),
    Eq(String, Literal),
    Ne(String, Literal),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    /// Parse a condition as the catalogue writes it.
    ///
    /// ```
    /// use ctxfw::cond::{Cond, Literal};
    /// let c = Cond::parse("edt && xml_port == 443").unwrap();
    /// let env = |p: &str| match p {
    ///     "edt" => Some(Literal::Bool(true)),
    ///     "xml_port" => Some(Literal::Int(443)),
    ///     _ => None,
    /// };
    /// assert!(c.eval(&env));
    /// assert_eq!(c.params(), ["edt", "xml_port"]);
    /// ```
    pub fn parse(text: &str) -> Result<Cond, String> {
        let tokens = lex(text)?;
        let mut p = Parser { tokens, pos: 0 };
        let c = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(format!("unexpected `{}`", p.tokens[p.pos]));
        }
        Ok(c)
    }

    /// Evaluate with a lookup of parameter values.
    pub fn eval(&self, get: &dyn Fn(&str) -> Option<Literal>) -> bool {
        match self {
            Cond::Param(p) => get(p) == Some(Literal::Bool(true)),
            Cond::Eq(p, v) => get(p).as_ref() == Some(v),
            Cond::Ne(p, v) => get(p).as_ref() != Some(v),
            Cond::Not(c) => !c.eval(get),
            Cond::And(a, b) => a.eval(get) && b.eval(get),
            Cond::Or(a, b) => a.eval(get) || b.eval(get),
        }
    }

    /// Evaluate with the parameters alone, component settings unknown: `Some` when the
    /// parameters decide it whatever the settings are, `None` when the settings decide.
    pub fn decided(&self, get: &dyn Fn(&str) -> Option<Literal>) -> Option<bool> {
        match self {
            Cond::Param(p) | Cond::Eq(p, _) | Cond::Ne(p, _) if setting(p).is_some() => None,
            Cond::Param(_) | Cond::Eq(..) | Cond::Ne(..) => Some(self.eval(get)),
            Cond::Not(c) => c.decided(get).map(|b| !b),
            Cond::And(a, b) => match (a.decided(get), b.decided(get)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Cond::Or(a, b) => match (a.decided(get), b.decided(get)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    /// Parameter names mentioned, in order of first use (component settings left out).
    pub fn params(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out.retain(|n| setting(n).is_none());
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Cond::Param(p) | Cond::Eq(p, _) | Cond::Ne(p, _) => {
                if !out.contains(&p.as_str()) {
                    out.push(p);
                }
            }
            Cond::Not(c) => c.collect(out),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// Comparisons in the expression: (parameter, literal or None for a bare boolean).
    pub fn atoms(&self) -> Vec<(&str, Option<&Literal>)> {
        let mut out = Vec::new();
        fn walk<'a>(c: &'a Cond, out: &mut Vec<(&'a str, Option<&'a Literal>)>) {
            match c {
                Cond::Param(p) => out.push((p, None)),
                Cond::Eq(p, l) | Cond::Ne(p, l) => out.push((p, Some(l))),
                Cond::Not(c) => walk(c, out),
                Cond::And(a, b) | Cond::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        walk(self, &mut out);
        out
    }
}

/// Which end of a flow a setting atom reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    From,
    To,
}

/// `from.join` -> (From, "join"); a plain parameter name -> None.
pub fn setting(name: &str) -> Option<(End, &str)> {
    if let Some(s) = name.strip_prefix("from.") {
        Some((End::From, s))
    } else {
        name.strip_prefix("to.").map(|s| (End::To, s))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    And,
    Or,
    Not,
    EqEq,
    NotEq,
    LParen,
    RParen,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => f.write_str(s),
            Tok::Str(s) => write!(f, "'{s}'"),
            Tok::Int(i) => write!(f, "{i}"),
            Tok::And => f.write_str("&&"),
            Tok::Or => f.write_str("||"),
            Tok::Not => f.write_str("!"),
            Tok::EqEq => f.write_str("=="),
            Tok::NotEq => f.write_str("!="),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '&' if next == Some('&') => {
                out.push(Tok::And);
                i += 2;
            }
            '|' if next == Some('|') => {
                out.push(Tok::Or);
                i += 2;
            }
            '=' if next == Some('=') => {
                out.push(Tok::EqEq);
                i += 2;
            }
            '!' if next == Some('=') => {
                out.push(Tok::NotEq);
                i += 2;
            }
            '!' => {
                out.push(Tok::Not);
                i += 1;
            }
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or("unterminated string in condition")?;
                out.push(Tok::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                out.push(Tok::Int(
                    s.parse().map_err(|_| format!("number {s} is too large"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '_'
                        || chars[i] == '-'
                        || chars[i] == '.')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character `{other}` in condition")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Cond, String> {
        match self.bump() {
            Some(Tok::LParen) => {
                let c = self.or()?;
                match self.bump() {
                    Some(Tok::RParen) => Ok(c),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Tok::Ident(name)) => match self.peek() {
                Some(Tok::EqEq) | Some(Tok::NotEq) => {
                    let op = self.bump();
                    let lit = match self.bump() {
                        Some(Tok::Int(i)) => Literal::Int(i),
                        Some(Tok::Str(s)) => Literal::Str(s),
                        Some(Tok::Ident(s)) if s == "true" => Literal::Bool(true),
                        Some(Tok::Ident(s)) if s == "false" => Literal::Bool(false),
                        Some(Tok::Ident(s)) => Literal::Str(s),
                        _ => return Err(format!("expected a value after `{name}`")),
                    };
                    Ok(if op == Some(Tok::EqEq) {
                        Cond::Eq(name, lit)
                    } else {
                        Cond::Ne(name, lit)
                    })
                }
                _ => Ok(Cond::Param(name)),
            },
            Some(t) => Err(format!("unexpected `{t}`")),
            None => Err("condition ends too early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<Literal> {
        match name {
            "edt" => Some(Literal::Bool(true)),
            "html5" => Some(Literal::Bool(false)),
            "xml_port" => Some(Literal::Int(80)),
            "rendezvous" => Some(Literal::Str("v2".into())),
            _ => None,
        }
    }

    #[test]
    fn evaluates() {
        let t = |s: &str| Cond::parse(s).unwrap().eval(&env);
        assert!(t("edt"));
        assert!(!t("html5"));
        assert!(t("edt && !html5"));
        assert!(t("html5 || xml_port == 80"));
        assert!(t("rendezvous != 'off'"));
        assert!(t("(rendezvous == \"v1\" || rendezvous == v2) && edt"));
        assert!(!t("!(edt)"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Cond::parse("edt &&").is_err());
        assert!(Cond::parse("(edt").is_err());
        assert!(Cond::parse("edt = 1").is_err());
        assert!(Cond::parse("edt edt").is_err());
    }

    #[test]
    fn settings_are_atoms_of_their_own() {
        let c = Cond::parse("rendezvous != 'v2' || from.join == 'ad'").unwrap();
        // env has rendezvous = v2: the setting decides.
        assert_eq!(c.decided(&env), None);
        assert_eq!(c.params(), vec!["rendezvous"]);
        assert_eq!(setting("from.join"), Some((End::From, "join")));
        assert_eq!(setting("to.mode"), Some((End::To, "mode")));
        assert_eq!(setting("edt"), None);
        let pair = |n: &str| match n {
            "from.join" => Some(Literal::Str("ad".into())),
            other => env(other),
        };
        assert!(c.eval(&pair));
        assert_eq!(Cond::parse("edt").unwrap().decided(&env), Some(true));
    }

    #[test]
    fn parameters_decide_what_they_can_without_the_settings() {
        let d = |s: &str| Cond::parse(s).unwrap().decided(&env);
        assert_eq!(d("html5 && from.mode == 'cluster'"), Some(false));
        assert_eq!(d("edt || from.mode == 'cluster'"), Some(true));
        assert_eq!(d("edt && from.mode == 'cluster'"), None);
        assert_eq!(d("!(html5 || to.join == 'ad')"), None);
        assert_eq!(d("!html5 && edt"), Some(true));
    }

    #[test]
    fn lists_params() {
        let c = Cond::parse("edt && (xml_port == 443 || edt)").unwrap();
        assert_eq!(c.params(), vec!["edt", "xml_port"]);
    }
}
