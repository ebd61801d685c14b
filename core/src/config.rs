//! Reading a component's checked attributes at build time.
//!
//! The checker has already verified types, so a mismatch here means a catalogue entry
//! and its build function disagree; it is still reported as a [`BuildError`], never a
//! panic. `env()` values are resolved here (with their default), `secret()` values via
//! the [`SecretStore`].

use crate::component::{BuildContext, BuildError};
use crate::expr::CompiledExpr;
use crate::path::FieldPath;
use crate::secrets::Secret;
use pipectl_dsl::plan::{ComponentPlan, PlanValue};
use std::time::Duration;

/// Typed access to one component's attributes.
pub struct Attrs<'a> {
    plan: &'a ComponentPlan,
    ctx: &'a BuildContext<'a>,
}

impl<'a> Attrs<'a> {
    pub fn new(plan: &'a ComponentPlan, ctx: &'a BuildContext<'a>) -> Attrs<'a> {
        Attrs { plan, ctx }
    }

    pub fn plan(&self) -> &'a ComponentPlan {
        self.plan
    }

    /// A build error about this component.
    pub fn error(&self, message: impl Into<String>) -> BuildError {
        BuildError::new(self.plan, message)
    }

    fn wrong(&self, key: &str, expected: &str) -> BuildError {
        self.error(format!("attribute `{key}` should be {expected}"))
    }

    fn missing(&self, key: &str) -> BuildError {
        self.error(format!("attribute `{key}` is required"))
    }

    /// The raw plan value, if present.
    pub fn raw(&self, key: &str) -> Option<&'a PlanValue> {
        self.plan.attr(key)
    }

    /// Text with `env()` resolved. A `secret()` is refused here so secrets only flow
    /// through [`Attrs::secret`].
    fn text_of(&self, key: &str, value: &PlanValue) -> Result<String, BuildError> {
        match value {
            PlanValue::String(s) => Ok(s.clone()),
            PlanValue::Env { name, default } => match std::env::var(name) {
                Ok(v) => Ok(v),
                Err(_) => default.clone().ok_or_else(|| {
                    self.error(format!(
                        "attribute `{key}`: environment variable {name} is not set and has no default"
                    ))
                }),
            },
            PlanValue::Secret { .. } => Err(self.error(format!(
                "attribute `{key}` does not take a secret()"
            ))),
            _ => Err(self.wrong(key, "a string")),
        }
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<String>, BuildError> {
        self.raw(key).map(|v| self.text_of(key, v)).transpose()
    }

    pub fn string(&self, key: &str) -> Result<String, BuildError> {
        self.opt_string(key)?.ok_or_else(|| self.missing(key))
    }

    /// A sensitive value: `secret()` from the store, `env()`, or (discouraged) a literal.
    pub fn opt_secret(&self, key: &str) -> Result<Option<Secret>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Secret { name }) => self
                .ctx
                .secrets
                .resolve(name)
                .map(Some)
                .map_err(|e| self.error(format!("attribute `{key}`: {e}"))),
            Some(v) => self.text_of(key, v).map(|s| Some(Secret::new(s))),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Bool(b)) => Ok(Some(*b)),
            Some(v @ PlanValue::Env { .. }) => {
                let text = self.text_of(key, v)?;
                match text.trim() {
                    "true" => Ok(Some(true)),
                    "false" => Ok(Some(false)),
                    other => {
                        Err(self
                            .error(format!("attribute `{key}`: `{other}` is not true or false")))
                    }
                }
            }
            Some(_) => Err(self.wrong(key, "a boolean")),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool, BuildError> {
        self.opt_bool(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Int(i)) => Ok(Some(*i)),
            Some(v @ PlanValue::Env { .. }) => {
                let text = self.text_of(key, v)?;
                text.trim().parse().map(Some).map_err(|_| {
                    self.error(format!("attribute `{key}`: `{text}` is not a whole number"))
                })
            }
            Some(_) => Err(self.wrong(key, "an integer")),
        }
    }

    pub fn int(&self, key: &str) -> Result<i64, BuildError> {
        self.opt_int(key)?.ok_or_else(|| self.missing(key))
    }

    /// A non-negative integer that fits `usize`.
    pub fn usize(&self, key: &str) -> Result<usize, BuildError> {
        let n = self.int(key)?;
        usize::try_from(n)
            .map_err(|_| self.error(format!("attribute `{key}` must not be negative")))
    }

    pub fn opt_duration(&self, key: &str) -> Result<Option<Duration>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Duration(ms)) => Ok(Some(Duration::from_millis(*ms))),
            Some(_) => Err(self.wrong(key, "a duration")),
        }
    }

    pub fn duration(&self, key: &str) -> Result<Duration, BuildError> {
        self.opt_duration(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_size(&self, key: &str) -> Result<Option<u64>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Size(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(key, "a size")),
        }
    }

    pub fn size(&self, key: &str) -> Result<u64, BuildError> {
        self.opt_size(key)?.ok_or_else(|| self.missing(key))
    }

    /// A list of strings (each may be an `env()`).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, BuildError> {
        match self.raw(key) {
            None => Ok(Vec::new()),
            Some(PlanValue::List(items)) => items.iter().map(|v| self.text_of(key, v)).collect(),
            Some(_) => Err(self.wrong(key, "a list of strings")),
        }
    }

    pub fn opt_field(&self, key: &str) -> Result<Option<FieldPath>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Field(f)) => Ok(Some(FieldPath::from(f))),
            Some(_) => Err(self.wrong(key, "a field path")),
        }
    }

    pub fn field(&self, key: &str) -> Result<FieldPath, BuildError> {
        self.opt_field(key)?.ok_or_else(|| self.missing(key))
    }

    /// An expression compiled for evaluation.
    pub fn opt_expr(&self, key: &str) -> Result<Option<CompiledExpr>, BuildError> {
        match self.raw(key) {
            None => Ok(None),
            Some(PlanValue::Expr(e)) => CompiledExpr::compile(e)
                .map(Some)
                .map_err(|err| self.error(format!("attribute `{key}`: {err}"))),
            Some(_) => Err(self.wrong(key, "an expression")),
        }
    }

    pub fn expr(&self, key: &str) -> Result<CompiledExpr, BuildError> {
        self.opt_expr(key)?.ok_or_else(|| self.missing(key))
    }

    /// A map of compiled expressions, in key order (e.g. `route`'s routes).
    pub fn expr_map(&self, key: &str) -> Result<Vec<(String, CompiledExpr)>, BuildError> {
        match self.raw(key) {
            None => Ok(Vec::new()),
            Some(PlanValue::Map(map)) => map
                .iter()
                .map(|(name, v)| match v {
                    PlanValue::Expr(e) => CompiledExpr::compile(e)
                        .map(|c| (name.clone(), c))
                        .map_err(|err| self.error(format!("attribute `{key}.{name}`: {err}"))),
                    _ => Err(self.wrong(key, "a map of expressions")),
                })
                .collect(),
            Some(_) => Err(self.wrong(key, "a map of expressions")),
        }
    }
}
