//! Every component type this build of pipectl knows.

use pipectl_core::topology::Registry;

/// The registry of all component factories (connectors today; models, detection and
/// responders plug in here too).
pub fn registry() -> Registry {
    Registry::new(
        [
            pipectl_connectors::factories(),
            pipectl_core::detect::factories(),
            pipectl_models::factories(),
        ]
        .concat(),
    )
}
