//! Loading a rule tree: every file under the given paths, every document in each, and
//! a report of what loaded and what was refused, with the reason.

use super::glob;
use super::modifiers::Placeholders;
use super::rule::{parse_file, CorrelationRule, DetectionRule, Document, Reason, RuleMeta};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A document that could not be used.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub file: String,
    /// The rule's title, when it got that far.
    pub title: String,
    pub reason: Reason,
}

/// The outcome of loading a rule tree.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: usize,
    pub detections: Vec<DetectionRule>,
    pub correlations: Vec<CorrelationRule>,
    pub refusals: Vec<Refusal>,
}

/// A path that could not be read (missing file, unreadable directory).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct LoadError {
    pub path: String,
    pub message: String,
}

impl Loaded {
    /// Rules loaded (detections and correlations).
    pub fn loaded(&self) -> usize {
        self.detections.len() + self.correlations.len()
    }

    /// Refusals counted by their feature, most frequent first.
    pub fn refusals_by_feature(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.refusals {
            *counts.entry(r.reason.feature.as_str()).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    fn refuse(&mut self, meta: &RuleMeta, reason: Reason) {
        self.refusals.push(Refusal {
            file: meta.file.clone(),
            title: meta.title.clone(),
            reason,
        });
    }

    /// Refuses duplicate ids and correlations whose referenced rules are not loaded
    /// (repeatedly, as refusing one correlation can orphan another).
    fn check_references(&mut self) {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut detections = Vec::with_capacity(self.detections.len());
        for d in std::mem::take(&mut self.detections) {
            if let Some(first) = seen.get(&d.meta.id) {
                let reason = Reason::new(
                    "duplicate rule id",
                    format!("rule id `{}` is already used by {first}", d.meta.id),
                );
                self.refuse(&d.meta, reason);
                continue;
            }
            seen.insert(d.meta.id.clone(), d.meta.file.clone());
            detections.push(d);
        }
        self.detections = detections;
        loop {
            let known: Vec<String> = self
                .detections
                .iter()
                .map(|d| &d.meta)
                .chain(self.correlations.iter().map(|c| &c.meta))
                .flat_map(|m| [Some(m.id.clone()), m.name.clone()])
                .flatten()
                .collect();
            let before = self.correlations.len();
            let mut kept = Vec::with_capacity(before);
            for c in std::mem::take(&mut self.correlations) {
                match c.rules.iter().find(|r| {
                    !known.contains(r) || **r == c.meta.id || c.meta.name.as_ref() == Some(r)
                }) {
                    Some(missing) => {
                        let reason = Reason::new(
                            "correlation references an unknown rule",
                            format!("the correlation references `{missing}`, which is not a loaded rule (or is itself)"),
                        );
                        self.refuse(&c.meta, reason);
                    }
                    None => kept.push(c),
                }
            }
            self.correlations = kept;
            if self.correlations.len() == before {
                break;
            }
        }
    }
}

/// Loads every rule file under `paths` (files, directories, globs). Relative paths are
/// tried against each of `bases` in turn; the first base where a path names something
/// wins.
pub fn load(
    paths: &[String],
    bases: &[PathBuf],
    placeholders: &Placeholders,
) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        files.extend(resolve(p, bases)?);
    }
    files.sort();
    files.dedup();
    let mut loaded = Loaded {
        files: files.len(),
        ..Loaded::default()
    };
    for file in &files {
        let name = file.to_string_lossy().into_owned();
        let text = match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    let meta = RuleMeta {
                        file: name.clone(),
                        ..RuleMeta::default()
                    };
                    loaded.refuse(
                        &meta,
                        Reason::new("not UTF-8", "the file is not UTF-8 text"),
                    );
                    continue;
                }
            },
            Err(e) => {
                return Err(LoadError {
                    path: name,
                    message: e.to_string(),
                })
            }
        };
        for parsed in parse_file(&name, &text, placeholders) {
            match parsed {
                Ok(Document::Detection(d)) => loaded.detections.push(d),
                Ok(Document::Correlation(c)) => loaded.correlations.push(c),
                Err(refused) => loaded.refuse(&refused.0, refused.1),
            }
        }
    }
    loaded.check_references();
    Ok(loaded)
}

fn resolve(p: &str, bases: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let err = |message: String| LoadError {
        path: p.to_string(),
        message,
    };
    if Path::new(p).is_absolute() || bases.is_empty() {
        return glob::expand(p, Path::new("")).map_err(|e| err(e.to_string()));
    }
    let mut last = None;
    for base in bases {
        match glob::expand(p, base) {
            Ok(files) if !files.is_empty() => return Ok(files),
            Ok(files) => last = Some(Ok(files)),
            Err(e) => last = Some(Err(err(format!("{e} (looked in {})", base.display())))),
        }
    }
    last.unwrap_or_else(|| Ok(Vec::new()))
}
