//! Secret values: resolved at build time, never printed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A secret value. Its `Debug` and `Display` print `[redacted]`, so it cannot leak
/// through logs, errors or plans by accident; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (an auth header, a token call).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where `secret("name")` looks: explicitly provided values first, then the
/// environment variable `PIPECTL_SECRET_<NAME>` (upper-cased, `-` and `.` as `_`), then
/// a file `<dir>/<name>` in the secrets directory when one is configured.
#[derive(Default)]
pub struct SecretStore {
    provided: BTreeMap<String, Secret>,
    dir: Option<PathBuf>,
}

/// Why a secret could not be found; names the places searched, never a value.
#[derive(Debug, thiserror::Error)]
#[error("secret `{name}` not found: set {env_var}{dir_hint}")]
pub struct MissingSecret {
    pub name: String,
    pub env_var: String,
    pub dir_hint: String,
}

impl SecretStore {
    pub fn new(dir: Option<PathBuf>) -> SecretStore {
        SecretStore {
            provided: BTreeMap::new(),
            dir,
        }
    }

    /// Adds a value directly (tests, or a secret manager integration).
    pub fn provide(&mut self, name: impl Into<String>, value: Secret) {
        self.provided.insert(name.into(), value);
    }

    /// The environment variable consulted for `name`.
    pub fn env_var_for(name: &str) -> String {
        let mut var = String::from("PIPECTL_SECRET_");
        for c in name.chars() {
            var.push(if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            });
        }
        var
    }

    pub fn resolve(&self, name: &str) -> Result<Secret, MissingSecret> {
        if let Some(s) = self.provided.get(name) {
            return Ok(s.clone());
        }
        let env_var = SecretStore::env_var_for(name);
        if let Ok(v) = std::env::var(&env_var) {
            return Ok(Secret(v));
        }
        if let Some(dir) = &self.dir {
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                && !name.starts_with('.');
            if valid_name {
                if let Ok(v) = std::fs::read_to_string(dir.join(name)) {
                    return Ok(Secret(v.trim_end_matches(['\n', '\r']).to_string()));
                }
            }
        }
        Err(MissingSecret {
            name: name.to_string(),
            env_var,
            dir_hint: match &self.dir {
                Some(d) => format!(" or create {}", d.join(name).display()),
                None => String::new(),
            },
        })
    }
}
