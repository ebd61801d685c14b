//! Small readers for attribute shapes many components share, on top of
//! [`Attrs`]: enum words, counts that must be positive, sizes used as buffer lengths.

use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;

/// The value of an enum attribute, mapped through `options`.
pub(crate) fn choice<T: Copy>(
    attrs: &Attrs<'_>,
    key: &str,
    options: &[(&str, T)],
) -> Result<T, BuildError> {
    let word = attrs.string(key)?;
    options
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let words: Vec<String> = options.iter().map(|(w, _)| format!("\"{w}\"")).collect();
            attrs.error(format!(
                "attribute `{key}`: `{word}` is not one of {}",
                words.join(", ")
            ))
        })
}

/// A whole number of at least 1 (batch sizes, operation limits).
pub(crate) fn positive(attrs: &Attrs<'_>, key: &str) -> Result<usize, BuildError> {
    let n = attrs.int(key)?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| attrs.error(format!("attribute `{key}` must be at least 1, not {n}")))
}

/// A size of at least one byte, as a buffer length.
pub(crate) fn size_limit(attrs: &Attrs<'_>, key: &str) -> Result<usize, BuildError> {
    let bytes = attrs.size(key)?;
    usize::try_from(bytes)
        .ok()
        .filter(|b| *b >= 1)
        .ok_or_else(|| {
            attrs.error(format!(
                "attribute `{key}` must be at least 1 byte and fit in memory, not {bytes} bytes"
            ))
        })
}
