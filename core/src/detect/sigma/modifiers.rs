//! Field modifiers (`field|contains|all`, `|re|i`, `|base64offset|contains`...): parsed
//! from a detection key and applied to the key's values, producing the value patterns
//! a field is compared with.
//!
//! Transformation modifiers (`windash`, `base64`, `base64offset`, `wide`/`utf16*`,
//! `expand`) rewrite values in the order written and may turn one value into several
//! (which then stay OR-ed, or AND-ed under `all`); type modifiers (`re`, `cidr`,
//! `gt`..., `exists`, `fieldref`, the time parts) change how the value is compared.
//! Every combination that has no clear meaning is refused with a reason naming it.

use super::cidr::Cidr;
use super::pattern::{has_wildcards, literal_text, parse_sigma_string, Anchor, StrPattern, Tok};
use super::rule::Reason;
use super::time::TimePart;
use std::collections::BTreeMap;
use yaml_rust2::Yaml;

/// Values for `expand` placeholders (`%Administrators%` → a list of patterns).
pub type Placeholders = BTreeMap<String, Vec<String>>;

/// Every modifier of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Cased,
    Exists,
    Neq,
    Windash,
    Re,
    ReI,
    ReM,
    ReS,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Wide,
    Lt,
    Lte,
    Gt,
    Gte,
    Cidr,
    Expand,
    FieldRef,
    Time(TimePart),
}

impl Modifier {
    fn parse(word: &str) -> Option<Modifier> {
        Some(match word {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "cased" => Modifier::Cased,
            "exists" => Modifier::Exists,
            "neq" => Modifier::Neq,
            "windash" => Modifier::Windash,
            "re" => Modifier::Re,
            "i" => Modifier::ReI,
            "m" => Modifier::ReM,
            "s" => Modifier::ReS,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "utf16le" => Modifier::Utf16Le,
            "utf16be" => Modifier::Utf16Be,
            "utf16" => Modifier::Utf16,
            "wide" => Modifier::Wide,
            "lt" => Modifier::Lt,
            "lte" => Modifier::Lte,
            "gt" => Modifier::Gt,
            "gte" => Modifier::Gte,
            "cidr" => Modifier::Cidr,
            "expand" => Modifier::Expand,
            "fieldref" => Modifier::FieldRef,
            "minute" => Modifier::Time(TimePart::Minute),
            "hour" => Modifier::Time(TimePart::Hour),
            "day" => Modifier::Time(TimePart::Day),
            "week" => Modifier::Time(TimePart::Week),
            "month" => Modifier::Time(TimePart::Month),
            "year" => Modifier::Time(TimePart::Year),
            _ => return None,
        })
    }
}

/// A numeric comparison (`gt`, `gte`, `lt`, `lte`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Lt => left < right,
            CmpOp::Lte => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Gte => left >= right,
        }
    }
}

/// One value a field is compared with.
#[derive(Debug, Clone)]
pub enum ValuePattern {
    Str(StrPattern),
    /// A YAML number: equal to a numeric field, or to a string field with that text.
    Num {
        value: f64,
        text: String,
    },
    Bool(bool),
    /// `null`: the field is absent or null.
    Null,
    /// `exists: true/false`.
    Exists(bool),
    Cmp(CmpOp, f64),
    Cidr(Cidr),
    /// `fieldref`: equal to another field of the same event (`id` set when compiled).
    FieldRef {
        field: String,
        id: u32,
    },
}

/// A detection key with its values, ready to compile.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// `None` for keywords (searched in every string of the event).
    pub field: Option<String>,
    pub values: Vec<ValuePattern>,
    /// `all`: every value must match (otherwise any).
    pub all: bool,
    /// `neq`: the field must match none of the values.
    pub negate: bool,
    /// A time modifier: compare this part of a date field.
    pub time: Option<TimePart>,
    /// `fieldref` with `cased` compares case-sensitively.
    pub cased: bool,
}

/// Parses `field|mod|mod` and applies the modifiers to `values`.
pub fn field_spec(
    key: &str,
    values: &[Yaml],
    placeholders: &Placeholders,
) -> Result<FieldSpec, Reason> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().trim();
    let mut mods = Vec::new();
    for word in parts {
        let m = Modifier::parse(word).ok_or_else(|| {
            Reason::new(
                format!("unknown modifier `{word}`"),
                format!("`{key}` uses the modifier `{word}`, which the Sigma specification does not define"),
            )
        })?;
        mods.push(m);
    }
    let mut plan = Plan::from_modifiers(key, &mods)?;
    if field.is_empty() && plan.anchor == Anchor::Whole {
        // Keywords are searched for inside the event's strings.
        plan.anchor = Anchor::Anywhere;
    }
    if values.is_empty() {
        return Err(Reason::new(
            "empty value list",
            format!("`{key}` has an empty list of values"),
        ));
    }
    let mut out = Vec::new();
    for v in values {
        plan.values_of(key, v, placeholders, &mut out)?;
    }
    Ok(FieldSpec {
        field: (!field.is_empty()).then(|| field.to_string()),
        values: out,
        all: plan.all,
        negate: plan.neq,
        time: plan.time,
        cased: plan.cased,
    })
}

/// What a modifier chain asks for, checked for contradictions.
struct Plan {
    anchor: Anchor,
    all: bool,
    cased: bool,
    neq: bool,
    expand: bool,
    transforms: Vec<Modifier>,
    kind: Kind,
    re_flags: (bool, bool, bool),
    time: Option<TimePart>,
}

#[derive(PartialEq)]
enum Kind {
    Plain,
    Re,
    Cidr,
    Exists,
    Cmp(CmpOp),
    FieldRef,
}

fn conflict(key: &str, a: &str, b: &str) -> Reason {
    Reason::new(
        format!("modifier `{a}` combined with `{b}`"),
        format!("`{key}` combines the modifiers `{a}` and `{b}`, which have no joint meaning"),
    )
}

impl Plan {
    fn from_modifiers(key: &str, mods: &[Modifier]) -> Result<Plan, Reason> {
        let mut plan = Plan {
            anchor: Anchor::Whole,
            all: false,
            cased: false,
            neq: false,
            expand: false,
            transforms: Vec::new(),
            kind: Kind::Plain,
            re_flags: (false, false, false),
            time: None,
        };
        let mut anchor_name = "";
        let mut kind_name = "";
        for m in mods {
            let mut set_kind = |kind: Kind, name: &'static str| -> Result<(), Reason> {
                if plan.kind != Kind::Plain {
                    return Err(conflict(key, kind_name, name));
                }
                plan.kind = kind;
                kind_name = name;
                Ok(())
            };
            match m {
                Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith => {
                    let (a, name) = match m {
                        Modifier::Contains => (Anchor::Anywhere, "contains"),
                        Modifier::StartsWith => (Anchor::Start, "startswith"),
                        _ => (Anchor::End, "endswith"),
                    };
                    if plan.anchor != Anchor::Whole {
                        return Err(conflict(key, anchor_name, name));
                    }
                    plan.anchor = a;
                    anchor_name = name;
                }
                Modifier::All => plan.all = true,
                Modifier::Cased => plan.cased = true,
                Modifier::Neq => plan.neq = true,
                Modifier::Expand => plan.expand = true,
                Modifier::Windash
                | Modifier::Base64
                | Modifier::Base64Offset
                | Modifier::Utf16Le
                | Modifier::Utf16Be
                | Modifier::Utf16
                | Modifier::Wide => plan.transforms.push(*m),
                Modifier::Re => set_kind(Kind::Re, "re")?,
                Modifier::ReI | Modifier::ReM | Modifier::ReS => {
                    if plan.kind != Kind::Re {
                        return Err(Reason::new(
                            "regex flag without `re`",
                            format!("`{key}` uses a regular-expression flag (i, m, s) without a preceding `re`"),
                        ));
                    }
                    match m {
                        Modifier::ReI => plan.re_flags.0 = true,
                        Modifier::ReM => plan.re_flags.1 = true,
                        _ => plan.re_flags.2 = true,
                    }
                }
                Modifier::Cidr => set_kind(Kind::Cidr, "cidr")?,
                Modifier::Exists => set_kind(Kind::Exists, "exists")?,
                Modifier::FieldRef => set_kind(Kind::FieldRef, "fieldref")?,
                Modifier::Lt => set_kind(Kind::Cmp(CmpOp::Lt), "lt")?,
                Modifier::Lte => set_kind(Kind::Cmp(CmpOp::Lte), "lte")?,
                Modifier::Gt => set_kind(Kind::Cmp(CmpOp::Gt), "gt")?,
                Modifier::Gte => set_kind(Kind::Cmp(CmpOp::Gte), "gte")?,
                Modifier::Time(part) => {
                    if plan.time.is_some() {
                        return Err(conflict(key, "time part", "time part"));
                    }
                    plan.time = Some(*part);
                }
            }
        }
        let typed = match plan.kind {
            Kind::Plain => None,
            Kind::Re => Some("re"),
            Kind::Cidr => Some("cidr"),
            Kind::Exists => Some("exists"),
            Kind::Cmp(_) => Some("gt/gte/lt/lte"),
            Kind::FieldRef => Some("fieldref"),
        };
        if let Some(typed) = typed {
            if plan.anchor != Anchor::Whole && plan.kind != Kind::FieldRef {
                return Err(conflict(key, typed, anchor_name));
            }
            if let Some(t) = plan.transforms.first() {
                return Err(conflict(key, typed, &format!("{t:?}").to_lowercase()));
            }
            if plan.expand {
                return Err(conflict(key, typed, "expand"));
            }
        }
        if plan.kind == Kind::FieldRef && plan.anchor != Anchor::Whole {
            return Err(conflict(key, "fieldref", anchor_name));
        }
        if plan.time.is_some() && !matches!(plan.kind, Kind::Plain | Kind::Cmp(_)) {
            return Err(conflict(key, "time part", typed.unwrap_or("")));
        }
        if plan.kind == Kind::Exists && (plan.all || plan.neq) {
            return Err(conflict(
                key,
                "exists",
                if plan.all { "all" } else { "neq" },
            ));
        }
        Ok(plan)
    }

    fn values_of(
        &self,
        key: &str,
        v: &Yaml,
        placeholders: &Placeholders,
        out: &mut Vec<ValuePattern>,
    ) -> Result<(), Reason> {
        let bad = |what: &str| {
            Reason::new(
                format!("{what} value"),
                format!("`{key}` has a {what} value, which this modifier chain cannot take"),
            )
        };
        let text = scalar_text(v);
        match &self.kind {
            Kind::Exists => match v {
                Yaml::Boolean(b) => out.push(ValuePattern::Exists(*b)),
                _ => {
                    return Err(Reason::new(
                        "exists without a boolean",
                        format!("`{key}` needs `true` or `false`"),
                    ))
                }
            },
            Kind::Cmp(op) => {
                let n = number_of(v).ok_or_else(|| bad("non-numeric"))?;
                out.push(ValuePattern::Cmp(*op, n));
            }
            Kind::Cidr => {
                let t = text.ok_or_else(|| bad("non-text"))?;
                let cidr = Cidr::parse(&t).ok_or_else(|| {
                    Reason::new(
                        "invalid CIDR",
                        format!("`{key}`: `{t}` is not a CIDR block"),
                    )
                })?;
                out.push(ValuePattern::Cidr(cidr));
            }
            Kind::FieldRef => {
                let t = text.ok_or_else(|| bad("non-text"))?;
                out.push(ValuePattern::FieldRef {
                    field: t,
                    id: u32::MAX,
                });
            }
            Kind::Re => {
                let t = text.ok_or_else(|| bad("non-text"))?;
                let (i, m, s) = self.re_flags;
                let re = regex::RegexBuilder::new(&t)
                    .case_insensitive(i)
                    .multi_line(m)
                    .dot_matches_new_line(s)
                    .size_limit(4 << 20)
                    .build()
                    .map_err(|e| {
                        let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                        Reason::new(
                            "regular expression the engine cannot compile",
                            format!("`{key}`: the regular expression `{t}` cannot be compiled ({first}); look-around and back-references are outside Sigma's regex subset"),
                        )
                    })?;
                out.push(ValuePattern::Str(StrPattern::regex(re, i)));
            }
            Kind::Plain => match v {
                Yaml::Null => {
                    if self.anchor != Anchor::Whole || !self.transforms.is_empty() {
                        return Err(bad("null"));
                    }
                    out.push(ValuePattern::Null);
                }
                Yaml::Boolean(b) if self.anchor == Anchor::Whole && self.transforms.is_empty() => {
                    out.push(ValuePattern::Bool(*b))
                }
                Yaml::Integer(_) | Yaml::Real(_)
                    if self.anchor == Anchor::Whole
                        && self.transforms.is_empty()
                        && !self.expand
                        && number_of(v).is_some() =>
                {
                    let value = number_of(v).unwrap_or_default();
                    out.push(ValuePattern::Num {
                        value,
                        text: text.unwrap_or_default(),
                    });
                }
                Yaml::String(_) | Yaml::Integer(_) | Yaml::Real(_) | Yaml::Boolean(_) => {
                    let raw = text.unwrap_or_default();
                    self.strings_of(key, &raw, placeholders, out)?;
                }
                Yaml::Array(_) | Yaml::Hash(_) => return Err(bad("nested list or map")),
                _ => return Err(bad("unreadable")),
            },
        }
        if self.time.is_some()
            && !matches!(
                out.last(),
                Some(ValuePattern::Num { .. } | ValuePattern::Cmp(..))
            )
        {
            return Err(Reason::new(
                "time part without a number",
                format!("`{key}`: a time modifier needs a number to compare with"),
            ));
        }
        Ok(())
    }

    fn strings_of(
        &self,
        key: &str,
        raw: &str,
        placeholders: &Placeholders,
        out: &mut Vec<ValuePattern>,
    ) -> Result<(), Reason> {
        let expanded = if self.expand {
            expand(key, raw, placeholders)?
        } else {
            vec![raw.to_string()]
        };
        let mut values: Vec<Val> = expanded
            .iter()
            .map(|s| Val::Str(parse_sigma_string(s)))
            .collect();
        for t in &self.transforms {
            values = apply_transform(key, *t, values)?;
        }
        for v in values {
            let toks = match v {
                Val::Str(toks) => toks,
                Val::Bytes(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => vec![Tok::Lit(s)],
                    Err(_) => {
                        return Err(Reason::new(
                            "utf16 without base64",
                            format!("`{key}`: a UTF-16 value must be base64-encoded after encoding to be matched as text"),
                        ))
                    }
                },
            };
            out.push(ValuePattern::Str(StrPattern::from_tokens(
                toks,
                self.anchor,
                self.cased,
            )));
        }
        Ok(())
    }
}

/// A value between transformations: text with wildcards, or encoded bytes.
enum Val {
    Str(Vec<Tok>),
    Bytes(Vec<u8>),
}

/// The most values one windash expansion may produce before the rule is refused.
const MAX_WINDASH_VARIANTS: usize = 625;

fn apply_transform(key: &str, t: Modifier, values: Vec<Val>) -> Result<Vec<Val>, Reason> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        match t {
            Modifier::Windash => match v {
                Val::Str(toks) => {
                    let variants = windash(&toks);
                    if variants.len() > MAX_WINDASH_VARIANTS {
                        return Err(Reason::new(
                            "windash expansion too large",
                            format!("`{key}`: windash would produce {} variants", variants.len()),
                        ));
                    }
                    out.extend(variants.into_iter().map(Val::Str));
                }
                Val::Bytes(_) => return Err(conflict(key, "windash", "an encoding before it")),
            },
            Modifier::Base64 | Modifier::Base64Offset => {
                let bytes = match v {
                    Val::Str(toks) => {
                        if has_wildcards(&toks) {
                            return Err(Reason::new(
                                "base64 of a value with wildcards",
                                format!("`{key}`: a value with wildcards cannot be base64-encoded"),
                            ));
                        }
                        literal_text(&toks).into_bytes()
                    }
                    Val::Bytes(b) => b,
                };
                if t == Modifier::Base64 {
                    out.push(Val::Str(vec![Tok::Lit(base64(&bytes))]));
                } else {
                    out.extend(
                        base64_offsets(&bytes)
                            .into_iter()
                            .map(|s| Val::Str(vec![Tok::Lit(s)])),
                    );
                }
            }
            Modifier::Utf16Le | Modifier::Wide | Modifier::Utf16Be | Modifier::Utf16 => {
                let text = match v {
                    Val::Str(toks) => {
                        if has_wildcards(&toks) {
                            return Err(Reason::new(
                                "utf16 of a value with wildcards",
                                format!("`{key}`: a value with wildcards cannot be UTF-16 encoded"),
                            ));
                        }
                        literal_text(&toks)
                    }
                    Val::Bytes(_) => return Err(conflict(key, "utf16", "another encoding")),
                };
                out.push(Val::Bytes(utf16(&text, t)));
            }
            _ => out.push(v),
        }
    }
    Ok(out)
}

/// The dash characters `windash` swaps for one another.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Every variant of a string with each flag dash (a `-` or `/` not preceded by a word
/// character and followed by one, as in ` -f` or ` /f`) replaced by each dash.
fn windash(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut variants: Vec<Vec<Tok>> = vec![Vec::new()];
    let mut prev_word = false;
    for (i, t) in toks.iter().enumerate() {
        let Tok::Lit(s) = t else {
            for v in &mut variants {
                v.push(t.clone());
            }
            prev_word = false;
            continue;
        };
        let chars: Vec<char> = s.chars().collect();
        let mut pieces: Vec<Vec<String>> = vec![vec![String::new()]];
        for (j, &c) in chars.iter().enumerate() {
            let next_word = match chars.get(j + 1) {
                Some(n) => is_word(*n),
                None => {
                    matches!(toks.get(i + 1), Some(Tok::Lit(n)) if n.chars().next().is_some_and(is_word))
                }
            };
            if (c == '-' || c == '/') && !prev_word && next_word {
                pieces.push(DASHES.iter().map(|d| d.to_string()).collect());
                pieces.push(vec![String::new()]);
            } else if let Some(last) = pieces.last_mut().and_then(|p| p.first_mut()) {
                last.push(c);
            }
            prev_word = is_word(c);
        }
        let mut next = Vec::new();
        for v in &variants {
            let mut partial: Vec<String> = vec![String::new()];
            for choice in &pieces {
                partial = partial
                    .iter()
                    .flat_map(|p| choice.iter().map(move |c| format!("{p}{c}")))
                    .collect();
                if partial.len() > MAX_WINDASH_VARIANTS {
                    break;
                }
            }
            for p in partial {
                let mut v = v.clone();
                v.push(Tok::Lit(p));
                next.push(v);
            }
        }
        variants = next;
        if variants.len() > MAX_WINDASH_VARIANTS {
            break;
        }
    }
    variants
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The three forms a value takes inside a longer base64 text, one per byte offset:
/// the value is prefixed with 0, 1 or 2 bytes, encoded, and the characters that depend
/// on the unknown neighbouring bytes are cut from both ends.
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(bytes);
            let enc = base64(&shifted);
            let cut = END_CUT[(bytes.len() + i) % 3];
            let end = enc.len().saturating_sub(cut);
            enc.get(START[i]..end.max(START[i]))
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn utf16(text: &str, t: Modifier) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if t == Modifier::Utf16 {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in text.encode_utf16() {
        let b = if t == Modifier::Utf16Be {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&b);
    }
    out
}

/// Replaces `%name%` placeholders with each configured value (`\%` is a plain `%`).
fn expand(key: &str, raw: &str, placeholders: &Placeholders) -> Result<Vec<String>, Reason> {
    let mut results = vec![String::new()];
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\\%") {
            results.iter_mut().for_each(|r| r.push('%'));
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('%') {
            if let Some(end) = after.find('%') {
                let name = &after[..end];
                let values = placeholders.get(name).ok_or_else(|| {
                    Reason::new(
                        format!("placeholder `%{name}%` without values"),
                        format!("`{key}` expands the placeholder `%{name}%`, which has no configured values (attribute `placeholders`)"),
                    )
                })?;
                results = results
                    .iter()
                    .flat_map(|r| values.iter().map(move |v| format!("{r}{v}")))
                    .collect();
                rest = &after[end + 1..];
                continue;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            results.iter_mut().for_each(|r| r.push(c));
        }
        rest = chars.as_str();
    }
    Ok(results)
}

/// The text of a scalar as written (numbers in their YAML spelling).
pub fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number_of(v: &Yaml) -> Option<f64> {
    match v {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(s) | Yaml::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_reference_encoding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn base64_offsets_are_the_three_static_middles() {
        // As the specification's reference implementation computes them.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
        assert_eq!(base64_offsets(b"ab"), vec!["YW", "Fi", "hY"]);
    }

    #[test]
    fn windash_swaps_flag_dashes_only() {
        let v = windash(&parse_sigma_string(" -f x-y"));
        let texts: Vec<String> = v.iter().map(|t| literal_text(t)).collect();
        assert_eq!(texts.len(), 5);
        assert!(texts.contains(&" /f x-y".to_string()));
        assert!(texts.contains(&" \u{2015}f x-y".to_string()));
    }

    #[test]
    fn utf16_variants() {
        assert_eq!(utf16("cmd", Modifier::Utf16Le), b"c\0m\0d\0");
        assert_eq!(utf16("cmd", Modifier::Utf16Be), b"\0c\0m\0d");
        assert_eq!(utf16("cmd", Modifier::Utf16), b"\xFF\xFEc\0m\0d\0");
    }

    #[test]
    fn placeholders_expand_and_escape() {
        let mut p = Placeholders::new();
        p.insert("Servers".into(), vec!["srv1".into(), "srv*".into()]);
        assert_eq!(
            expand("k", "%Servers%.acme", &p).unwrap(),
            vec!["srv1.acme", "srv*.acme"]
        );
        assert_eq!(
            expand("k", r"\%plain%Servers%", &p).unwrap(),
            vec!["%plainsrv1", "%plainsrv*"]
        );
        let err = expand("k", "%nope%", &p).unwrap_err();
        assert!(err.feature.contains("%nope%"));
    }
}
