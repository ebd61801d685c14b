//! Pipeline files: loading them from disk and finding lines and columns in them.

use std::path::{Path, PathBuf};

/// The extension of pipeline files, looked for when a directory is given.
pub const EXTENSION: &str = "pipe";

/// One pipeline file: the path as it should appear in messages, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

impl SourceFile {
    /// A file with the path to show in messages and its text.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// Why a path could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot read `{path}`: the file is not valid UTF-8 (first bad byte at offset {offset})"
    )]
    NotUtf8 { path: String, offset: usize },
}

/// Reads pipeline files: files are taken as given, directories are walked recursively
/// for `*.pipe` files in sorted order. A path given twice is read once.
///
/// Symbolic links to directories are not followed while walking, so a link loop cannot
/// make loading run forever; links to files are read.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<SourceFile>, LoadError> {
    let mut found: Vec<PathBuf> = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
        if meta.is_dir() {
            walk(path, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    for path in found {
        if !seen.insert(path.clone()) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| read_error(&path, source))?;
        let text = String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
            path: display(&path),
            offset: e.utf8_error().valid_up_to(),
        })?;
        files.push(SourceFile::new(display(&path), text));
    }
    Ok(files)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let mut entries: Vec<PathBuf> = Vec::new();
    let reader = std::fs::read_dir(dir).map_err(|source| read_error(dir, source))?;
    for entry in reader {
        let entry = entry.map_err(|source| read_error(dir, source))?;
        entries.push(entry.path());
    }
    entries.sort();
    for path in entries {
        let link_meta =
            std::fs::symlink_metadata(&path).map_err(|source| read_error(&path, source))?;
        if link_meta.is_dir() {
            walk(&path, found)?;
        } else if path.extension().is_some_and(|e| e == EXTENSION) {
            let is_file = if link_meta.file_type().is_symlink() {
                std::fs::metadata(&path).is_ok_and(|m| m.is_file())
            } else {
                link_meta.is_file()
            };
            if is_file {
                found.push(path);
            }
        }
    }
    Ok(())
}

fn read_error(path: &Path, source: std::io::Error) -> LoadError {
    LoadError::Read {
        path: display(path),
        source,
    }
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The 1-based line and column (in characters) of a byte offset. Offsets past the end
/// or inside a character are clamped, so a bad span can never make rendering panic.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(text, offset);
    let before = &text[..offset];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Line starts of a text, for many line lookups in one file (a lookup is a binary
/// search instead of a scan from the start).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// The byte range of the line holding `offset`, without its line break.
pub fn line_bounds(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(text, offset);
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let end = if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    };
    (start, end)
}

/// The byte offset where 1-based line `line` starts, if the text has that line.
pub fn line_start(text: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    if line == 1 {
        return Some(0);
    }
    text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)
}

/// The largest character boundary not after `offset`.
pub fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters() {
        let text = "ab\nçé x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        // `x` is after two two-byte characters and a space.
        assert_eq!(line_col(text, 8), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
        // Inside a character: clamped to its start.
        assert_eq!(line_col(text, 4), (2, 1));
    }

    #[test]
    fn the_line_index_agrees_with_scanning() {
        let text = "a\nbc\n\nd";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() {
            assert_eq!(
                index.line(offset),
                line_col(text, offset).0,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn line_bounds_strip_carriage_returns() {
        let text = "one\r\ntwo";
        assert_eq!(line_bounds(text, 1), (0, 3));
        assert_eq!(line_bounds(text, 6), (5, 8));
        assert_eq!(line_start(text, 2), Some(5));
        assert_eq!(line_start(text, 3), None);
    }

    #[test]
    fn directories_are_walked_for_pipe_files_in_order() {
        let dir = std::env::temp_dir().join(format!("pipectl-dsl-load-{}", std::process::id()));
        let nested = dir.join("nested");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.join("b.pipe"), "# b").unwrap();
        std::fs::write(dir.join("a.pipe"), "# a").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        std::fs::write(nested.join("c.pipe"), "# c").unwrap();
        std::fs::write(dir.join("bad.pipe.txt"), [0xff]).unwrap();
        let files = load_paths(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(names, ["# a", "# b", "# c"]);

        let bad = dir.join("bad.pipe.txt");
        let err = load_paths(&[bad]).unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
        let missing = load_paths(&[dir.join("missing.pipe")]).unwrap_err();
        assert!(missing.to_string().contains("missing.pipe"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
