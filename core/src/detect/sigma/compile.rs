//! Rules to matchers that share work.
//!
//! Every field any rule names is resolved once to its candidate paths and gets an id;
//! the paths of all fields form one trie, so a single walk over an event collects the
//! values of every field any rule uses, whatever the number of rules. For each rule a
//! *trigger* is derived from its condition: a set of (field, literal) pairs at least
//! one of which must occur in the event for the rule to possibly match (for example
//! the literals of the selection every match needs). All triggers on a field form one
//! Aho-Corasick automaton (ASCII case-insensitive), so each field value is scanned
//! once for all rules, and only rules whose trigger fired — plus the few without a
//! usable trigger — are evaluated in full. Cost therefore follows the event's size and
//! the number of candidate rules, not the number of rules loaded.

use super::condition::Cond;
use super::eval::{eval_cond, EventFields, KEYWORDS};
use super::fieldmap::{FieldMap, KeyPath};
use super::logsource::{LogsourceMap, Unmapped};
use super::modifiers::{FieldSpec, ValuePattern};
use super::rule::{DetectionRule, RuleMeta};
use crate::value::{Str, Value};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// An index into the engine's field table.
pub type FieldId = u32;

/// A compiled detection rule.
#[derive(Debug)]
pub struct CompiledRule {
    pub meta: Arc<RuleMeta>,
    /// The log source entries that select it (0: unmapped).
    pub(super) mask: u64,
    /// Per search: OR of AND-ed matchers.
    pub(super) searches: Vec<Vec<Vec<Matcher>>>,
    pub(super) cond: Cond,
}

/// A field spec with its field resolved.
#[derive(Debug)]
pub struct Matcher {
    /// The field, or [`KEYWORDS`] for keyword searches.
    pub(super) field: FieldId,
    pub(super) spec: FieldSpec,
}

/// One field: its Sigma name and the paths it is looked up at.
#[derive(Debug)]
pub struct FieldInfo {
    pub name: String,
    pub paths: Vec<KeyPath>,
}

/// A fast, non-cryptographic hasher for the trie's short keys.
#[derive(Default)]
pub(super) struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FnvHasher>>;

#[derive(Debug, Default)]
pub(super) struct TrieNode {
    pub(super) children: FastMap<Str, u32>,
    pub(super) fields: Vec<FieldId>,
}

/// The union of all fields' paths.
#[derive(Debug)]
pub(super) struct Trie {
    pub(super) nodes: Vec<TrieNode>,
}

impl Trie {
    fn insert(&mut self, path: &[Str], field: FieldId) {
        let mut node = 0usize;
        for key in path {
            let next = match self.nodes[node].children.get(key) {
                Some(&n) => n as usize,
                None => {
                    self.nodes.push(TrieNode::default());
                    let n = self.nodes.len() - 1;
                    self.nodes[node].children.insert(key.clone(), n as u32);
                    n
                }
            };
            node = next;
        }
        if !self.nodes[node].fields.contains(&field) {
            self.nodes[node].fields.push(field);
        }
    }
}

/// A shared automaton over one field's trigger literals.
#[derive(Debug)]
pub(super) struct Automaton {
    pub(super) ac: AhoCorasick,
    /// Pattern id → the rules it triggers.
    pub(super) rules: Vec<Vec<u32>>,
}

/// All rules, compiled.
#[derive(Debug)]
pub struct Engine {
    pub(super) trie: Trie,
    pub(super) fields: Vec<FieldInfo>,
    /// By field id; the keyword pseudo-field's automaton is `keyword_automaton`.
    pub(super) automata: Vec<Option<Automaton>>,
    pub(super) keyword_automaton: Option<Automaton>,
    pub(super) rules: Vec<CompiledRule>,
    /// Rules with no usable trigger, evaluated on every event they apply to.
    pub(super) always: Vec<u32>,
    pub(super) logsources: LogsourceMap,
    /// The masks of rules that need the keyword scan (any bit, or unmapped).
    pub(super) keyword_rules_mask: u64,
    pub(super) keyword_rules_unmapped: bool,
    /// By field id: rules whose trigger is the field's mere presence.
    pub(super) presence: Vec<Vec<u32>>,
    /// By field id: whole lowercase values → the rules they trigger.
    pub(super) exact: Vec<FastMap<String, Vec<u32>>>,
}

/// Statistics of a compiled engine, for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    pub rules: usize,
    pub fields: usize,
    pub triggered: usize,
    pub always: usize,
    pub needles: usize,
}

/// A (field, literal) a rule needs, or just the field's presence (`needle: None`);
/// one of a rule's triggers must occur for it to possibly match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Trigger {
    field: FieldId,
    needle: Option<String>,
    /// The needle is the whole value (looked up by hash instead of scanned for).
    exact: bool,
}

struct Builder<'a> {
    fieldmap: &'a FieldMap,
    field_ids: HashMap<(String, Vec<KeyPath>), FieldId>,
    fields: Vec<FieldInfo>,
    trie: Trie,
}

impl Builder<'_> {
    fn field(&mut self, name: &str, namespaces: &[KeyPath]) -> FieldId {
        let key = (name.to_string(), namespaces.to_vec());
        if let Some(&id) = self.field_ids.get(&key) {
            return id;
        }
        let paths = self.fieldmap.paths(name, namespaces);
        let id = self.fields.len() as FieldId;
        for p in &paths {
            self.trie.insert(p, id);
        }
        self.fields.push(FieldInfo {
            name: name.to_string(),
            paths,
        });
        self.field_ids.insert(key, id);
        id
    }
}

/// The most trigger literals a rule may bring before it is evaluated on every event
/// instead (a trigger of thousands of literals would flood the candidates).
const MAX_TRIGGERS_PER_RULE: usize = 4096;

/// The most literals one matcher brings before its field's presence is used as its
/// trigger instead (long hash lists).
const MAX_NEEDLES_PER_MATCHER: usize = 512;

impl Engine {
    /// Compiles detection rules against a field map and log source configuration.
    pub fn new(rules: &[DetectionRule], fieldmap: &FieldMap, logsources: LogsourceMap) -> Engine {
        let mut b = Builder {
            fieldmap,
            field_ids: HashMap::new(),
            fields: Vec::new(),
            trie: Trie {
                nodes: vec![TrieNode::default()],
            },
        };
        let mut compiled = Vec::with_capacity(rules.len());
        let mut triggers_of: Vec<Option<Vec<Trigger>>> = Vec::with_capacity(rules.len());
        for rule in rules {
            let resolved = logsources.resolve(&rule.meta.logsource);
            let searches: Vec<Vec<Vec<Matcher>>> = rule
                .searches
                .iter()
                .map(|(_, alternatives)| {
                    alternatives
                        .iter()
                        .map(|conj| {
                            conj.iter()
                                .map(|spec| {
                                    let mut spec = spec.clone();
                                    for v in &mut spec.values {
                                        if let ValuePattern::FieldRef { field, id } = v {
                                            *id = b.field(field, &resolved.namespaces);
                                        }
                                    }
                                    let field = match &spec.field {
                                        Some(name) => b.field(name, &resolved.namespaces),
                                        None => KEYWORDS,
                                    };
                                    Matcher { field, spec }
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect();
            let c = CompiledRule {
                meta: rule.meta.clone(),
                mask: resolved.mask,
                searches,
                cond: rule.condition.clone(),
            };
            triggers_of.push(
                cond_triggers(&c, &c.cond)
                    .filter(|t| !t.is_empty() && t.len() <= MAX_TRIGGERS_PER_RULE),
            );
            compiled.push(c);
        }
        let mut per_field: HashMap<FieldId, Vec<(String, u32)>> = HashMap::new();
        let mut exact: Vec<FastMap<String, Vec<u32>>> = vec![FastMap::default(); b.fields.len()];
        let mut presence: Vec<Vec<u32>> = vec![Vec::new(); b.fields.len()];
        let mut always = Vec::new();
        for (i, t) in triggers_of.into_iter().enumerate() {
            let Some(triggers) = t else {
                always.push(i as u32);
                continue;
            };
            for tr in triggers {
                if let (true, Some(n), Some(map)) =
                    (tr.exact, &tr.needle, exact.get_mut(tr.field as usize))
                {
                    let rules = map.entry(n.to_lowercase()).or_default();
                    if !rules.contains(&(i as u32)) {
                        rules.push(i as u32);
                    }
                    continue;
                }
                match (tr.needle, presence.get_mut(tr.field as usize)) {
                    (Some(n), _) => per_field.entry(tr.field).or_default().push((n, i as u32)),
                    (None, Some(list)) => {
                        if !list.contains(&(i as u32)) {
                            list.push(i as u32);
                        }
                    }
                    (None, None) => always.push(i as u32),
                }
            }
        }
        always.sort_unstable();
        always.dedup();
        let mut automata: Vec<Option<Automaton>> = (0..b.fields.len()).map(|_| None).collect();
        let mut keyword_automaton = None;
        for (field, pairs) in per_field {
            let a = build_automaton(pairs);
            if field == KEYWORDS {
                keyword_automaton = a;
            } else if let Some(slot) = automata.get_mut(field as usize) {
                *slot = a;
            }
        }
        let mut keyword_rules_mask = 0;
        let mut keyword_rules_unmapped = false;
        for r in &compiled {
            let uses_keywords = r
                .searches
                .iter()
                .flatten()
                .flatten()
                .any(|m| m.field == KEYWORDS);
            if uses_keywords {
                keyword_rules_mask |= r.mask;
                keyword_rules_unmapped |= r.mask == 0;
            }
        }
        Engine {
            trie: b.trie,
            fields: b.fields,
            automata,
            keyword_automaton,
            rules: compiled,
            always,
            logsources,
            keyword_rules_mask,
            keyword_rules_unmapped,
            presence,
            exact,
        }
    }

    /// The compiled rules, indexed like the input.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// The field table.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.fields
    }

    /// How the rules compiled.
    pub fn stats(&self) -> EngineStats {
        let needles: usize = self
            .automata
            .iter()
            .flatten()
            .chain(self.keyword_automaton.iter())
            .map(|a| a.rules.len())
            .sum::<usize>()
            + self.exact.iter().map(|m| m.len()).sum::<usize>();
        EngineStats {
            rules: self.rules.len(),
            fields: self.fields.len(),
            triggered: self.rules.len() - self.always.len(),
            always: self.always.len(),
            needles,
        }
    }

    /// Whether a rule applies to an event of the given log source classes.
    pub(super) fn applies(&self, rule: &CompiledRule, mask: u64) -> bool {
        if rule.mask == 0 {
            self.logsources.unmapped == Unmapped::AllEvents
        } else {
            rule.mask & mask != 0
        }
    }

    /// Indices of the rules that match `event`, in rule order, appended to `out`.
    /// Returns the event's field values (for explaining matches); hand them back with
    /// [`Scratch::recycle`] to reuse their memory.
    pub fn matches<'e>(
        &self,
        event: &'e Value,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) -> EventFields<'e> {
        let mask = self.logsources.classify(event);
        let fields = EventFields::collect(self, event, std::mem::take(&mut scratch.values));
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            scratch.stamps.iter_mut().for_each(|s| *s = 0);
            scratch.generation = 1;
        }
        scratch.stamps.resize(self.rules.len(), 0);
        scratch.candidates.clear();
        let mut text_buf = String::new();
        let mut lower_buf = String::new();
        let mut previous = None;
        for (field, value) in fields.entries() {
            if previous != Some(*field) {
                previous = Some(*field);
                if let Some(rules) = self.presence.get(*field as usize) {
                    self.add_candidates(rules, mask, scratch);
                }
            }
            if let Some(map) = self.exact.get(*field as usize).filter(|m| !m.is_empty()) {
                if let Some(text) = scalar_text(value, &mut text_buf) {
                    lower_buf.clear();
                    if text.is_ascii() {
                        lower_buf.extend(text.chars().map(|c| c.to_ascii_lowercase()));
                    } else {
                        lower_buf.push_str(&text.to_lowercase());
                    }
                    if let Some(rules) = map.get(lower_buf.as_str()) {
                        self.add_candidates(rules, mask, scratch);
                    }
                }
            }
            let Some(Some(automaton)) = self.automata.get(*field as usize) else {
                continue;
            };
            if let Some(text) = scalar_text(value, &mut text_buf) {
                self.scan(automaton, text, mask, scratch);
            }
        }
        if let Some(automaton) = &self.keyword_automaton {
            let wanted = self.keyword_rules_mask & mask != 0
                || (self.keyword_rules_unmapped && self.logsources.unmapped == Unmapped::AllEvents);
            if wanted {
                // One scan over every string joined (a match across a separator only
                // adds a candidate, which evaluation then rejects).
                let mut joined = std::mem::take(&mut scratch.joined);
                joined.clear();
                for (_, value) in fields.keyword_values() {
                    if let Some(text) = scalar_text(value, &mut text_buf) {
                        joined.push_str(text);
                        joined.push('\0');
                    }
                }
                self.scan(automaton, &joined, mask, scratch);
                scratch.joined = joined;
            }
        }
        for &r in &self.always {
            let rule = &self.rules[r as usize];
            if self.applies(rule, mask) {
                scratch.candidates.push(r);
            }
        }
        scratch.candidates.sort_unstable();
        for &r in &scratch.candidates {
            let rule = &self.rules[r as usize];
            if eval_cond(rule, &rule.cond, &fields) {
                out.push(r);
            }
        }
        fields
    }

    fn scan(&self, automaton: &Automaton, text: &str, mask: u64, scratch: &mut Scratch) {
        for m in automaton.ac.find_overlapping_iter(text) {
            if let Some(rules) = automaton.rules.get(m.pattern().as_usize()) {
                self.add_candidates(rules, mask, scratch);
            }
        }
    }

    fn add_candidates(&self, rules: &[u32], mask: u64, scratch: &mut Scratch) {
        for &r in rules {
            let Some(stamp) = scratch.stamps.get_mut(r as usize) else {
                continue;
            };
            if *stamp == scratch.generation {
                continue;
            }
            *stamp = scratch.generation;
            if self.applies(&self.rules[r as usize], mask) {
                scratch.candidates.push(r);
            }
        }
    }
}

/// Per-thread buffers reused from event to event.
#[derive(Debug, Default)]
pub struct Scratch {
    stamps: Vec<u32>,
    generation: u32,
    candidates: Vec<u32>,
    values: Vec<(FieldId, usize)>,
    joined: String,
}

impl Scratch {
    /// Takes back the memory of an event's field values.
    pub fn recycle(&mut self, fields: EventFields<'_>) {
        self.values = fields.into_storage();
    }
}

/// The text a scalar is matched as (numbers in decimal, booleans as words).
pub(super) fn scalar_text<'a>(value: &'a Value, buf: &'a mut String) -> Option<&'a str> {
    use std::fmt::Write;
    match value {
        Value::String(s) => Some(s),
        Value::Int(i) => {
            buf.clear();
            let _ = write!(buf, "{i}");
            Some(buf)
        }
        Value::Float(f) => {
            buf.clear();
            let _ = write!(buf, "{f}");
            Some(buf)
        }
        Value::Bool(b) => Some(if *b { "true" } else { "false" }),
        _ => None,
    }
}

fn build_automaton(pairs: Vec<(String, u32)>) -> Option<Automaton> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut needles: Vec<String> = Vec::new();
    let mut rules: Vec<Vec<u32>> = Vec::new();
    for (needle, rule) in pairs {
        let i = *index.entry(needle.clone()).or_insert_with(|| {
            needles.push(needle);
            rules.push(Vec::new());
            rules.len() - 1
        });
        if !rules[i].contains(&rule) {
            rules[i].push(rule);
        }
    }
    // A full DFA is the fastest to scan with and affordable for the small per-field
    // sets Sigma produces; very large sets use the default (contiguous NFA).
    let kind = (needles.len() <= 2_000).then_some(AhoCorasickKind::DFA);
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(kind)
        .build(&needles)
        .ok()?;
    Some(Automaton { ac, rules })
}

/// Triggers of a condition: `None` when it can match without any literal occurring.
fn cond_triggers(rule: &CompiledRule, cond: &Cond) -> Option<Vec<Trigger>> {
    match cond {
        Cond::Search(i) => search_triggers(rule.searches.get(*i)?),
        Cond::Not(_) => None,
        Cond::And(items) => best(items.iter().map(|c| cond_triggers(rule, c))),
        Cond::Or(items) => union(items.iter().map(|c| cond_triggers(rule, c))),
        Cond::All(ids) => best(ids.iter().map(|i| search_triggers(rule.searches.get(*i)?))),
        Cond::AtLeast(_, ids) => union(ids.iter().map(|i| search_triggers(rule.searches.get(*i)?))),
    }
}

fn search_triggers(alternatives: &[Vec<Matcher>]) -> Option<Vec<Trigger>> {
    union(
        alternatives
            .iter()
            .map(|conj| best(conj.iter().map(matcher_triggers))),
    )
}

fn matcher_triggers(m: &Matcher) -> Option<Vec<Trigger>> {
    if m.spec.negate {
        return None;
    }
    let needs_value =
        |v: &ValuePattern| !matches!(v, ValuePattern::Null | ValuePattern::Exists(false));
    let presence = || {
        (m.field != KEYWORDS && m.spec.values.iter().all(needs_value)).then(|| {
            vec![Trigger {
                field: m.field,
                needle: None,
                exact: false,
            }]
        })
    };
    if m.spec.time.is_some() {
        return presence();
    }
    let needle_of = |v: &ValuePattern| -> Option<Trigger> {
        let (needle, exact) = match v {
            ValuePattern::Str(p) => match p.exact() {
                Some(whole) => (whole.to_string(), true),
                None => {
                    let n = p.needle()?;
                    if n.is_empty() || !(p.is_cased() || n.is_ascii()) {
                        return None;
                    }
                    (n.to_string(), false)
                }
            },
            ValuePattern::Num { value, text }
                if value.fract() == 0.0 && text.parse::<i64>().is_ok() =>
            {
                ((*value as i64).to_string(), false)
            }
            _ => return None,
        };
        Some(Trigger {
            field: m.field,
            needle: Some(needle),
            exact,
        })
    };
    let needles = if m.spec.all {
        // Every value must match: the best single value's trigger suffices.
        m.spec
            .values
            .iter()
            .filter_map(needle_of)
            .min_by_key(|t| cost(std::slice::from_ref(t)))
            .map(|t| vec![t])
    } else {
        m.spec
            .values
            .iter()
            .map(needle_of)
            .collect::<Option<Vec<_>>>()
    };
    match needles {
        Some(n) if n.iter().filter(|t| !t.exact).count() <= MAX_NEEDLES_PER_MATCHER => Some(n),
        _ => presence(),
    }
}

/// The cheapest of several alternative trigger sets (each alone is necessary).
fn best(items: impl Iterator<Item = Option<Vec<Trigger>>>) -> Option<Vec<Trigger>> {
    items.flatten().min_by_key(|t| cost(t))
}

/// All trigger sets together (any branch may match); `None` if any branch has none.
fn union(items: impl Iterator<Item = Option<Vec<Trigger>>>) -> Option<Vec<Trigger>> {
    let mut out = Vec::new();
    for t in items {
        out.extend(t?);
    }
    Some(out)
}

/// How many candidates a trigger set lets through, roughly: short literals occur
/// everywhere, so they weigh more.
fn cost(t: &[Trigger]) -> usize {
    t.iter()
        .map(|tr| match tr.needle.as_ref().map(String::len) {
            _ if tr.exact => 1,
            None => 32,
            Some(0..=1) => 64,
            Some(2) => 16,
            Some(3) => 4,
            Some(4..=5) => 2,
            Some(_) => 1,
        })
        .sum()
}
