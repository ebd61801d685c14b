//! The component types a runtime knows, gathered from every crate that provides some.

use crate::component::Factory;
use pipectl_dsl::catalogue::Catalogue;
use pipectl_dsl::plan::ComponentKind;

/// Every component type available to [`super::start`], looked up by kind and type
/// name. The same list yields the [`Catalogue`] the checker validates against, so
/// what checks is exactly what runs.
#[derive(Clone, Default)]
pub struct Registry {
    factories: Vec<Factory>,
}

impl Registry {
    /// A registry over `factories`. When two share a kind and type name the first
    /// wins.
    pub fn new(factories: Vec<Factory>) -> Registry {
        Registry { factories }
    }

    /// Adds more factories (e.g. from another crate).
    pub fn extend(&mut self, more: impl IntoIterator<Item = Factory>) {
        self.factories.extend(more);
    }

    /// The catalogue of every registered component type.
    pub fn catalogue(&self) -> Catalogue {
        let mut specs: Vec<_> = Vec::with_capacity(self.factories.len());
        for f in &self.factories {
            if !specs
                .iter()
                .any(|s: &&pipectl_dsl::catalogue::ComponentSpec| {
                    s.kind == f.spec.kind && s.type_name == f.spec.type_name
                })
            {
                specs.push(f.spec);
            }
        }
        Catalogue::new(specs)
    }

    /// The factory for a component type.
    pub fn factory(&self, kind: ComponentKind, type_name: &str) -> Option<&Factory> {
        self.factories
            .iter()
            .find(|f| f.spec.kind == kind && f.spec.type_name == type_name)
    }
}
