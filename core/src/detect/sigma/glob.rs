//! Rule paths: files, directories (searched recursively for `*.yml` / `*.yaml`) and
//! glob patterns (`rules/cloud/**/*.yml`: `*` and `?` within a path component, `**`
//! for any number of directories).

use std::io;
use std::path::{Component, Path, PathBuf};

/// Whether a path string is a pattern rather than a plain path.
pub fn is_pattern(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// The rule files a path or pattern names, sorted. A plain path that does not exist is
/// an error; a pattern that matches nothing yields an empty list.
pub fn expand(text: &str, base: &Path) -> io::Result<Vec<PathBuf>> {
    let path = base.join(text);
    if !is_pattern(text) {
        let meta = std::fs::metadata(&path)?;
        let mut out = Vec::new();
        if meta.is_dir() {
            walk(&path, &mut out)?;
        } else {
            out.push(path);
        }
        out.sort();
        return Ok(out);
    }
    let comps: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let first_pattern = comps
        .iter()
        .position(|c| is_pattern(c))
        .unwrap_or(comps.len());
    let root: PathBuf = path
        .components()
        .take(first_pattern)
        .map(|c: Component<'_>| c.as_os_str())
        .collect();
    let pattern: Vec<&str> = comps[first_pattern..].iter().map(String::as_str).collect();
    let mut files = Vec::new();
    if root.is_dir() {
        walk_all(&root, &mut files)?;
    }
    let mut out: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| {
            let rel: Vec<String> = f
                .strip_prefix(&root)
                .map(|r| {
                    r.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
            match_components(&pattern, &rel)
        })
        .collect();
    out.sort();
    Ok(out)
}

fn is_rule_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut all = Vec::new();
    walk_all(dir, &mut all)?;
    out.extend(all.into_iter().filter(|p| is_rule_file(p)));
    Ok(())
}

fn walk_all(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk_all(&path, out)?;
        } else if kind.is_file() || kind.is_symlink() {
            out.push(path);
        }
    }
    Ok(())
}

/// Matches path components against pattern components (`**` spans any number).
fn match_components(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_components(rest, &path[skip..])),
        Some((p, rest)) => match path.split_first() {
            Some((c, path_rest)) => match_name(p, c) && match_components(rest, path_rest),
            None => false,
        },
    }
}

/// Matches one name against `*` / `?` wildcards.
fn match_name(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_components() {
        assert!(match_name("*.yml", "a.yml"));
        assert!(!match_name("*.yml", "a.yaml"));
        assert!(match_name("aws_?3*", "aws_s3_x"));
        assert!(match_components(&["**", "*.yml"], &["a", "b", "c.yml"]));
        assert!(match_components(&["**", "*.yml"], &["c.yml"]));
        assert!(!match_components(
            &["cloud", "*.yml"],
            &["cloud", "aws", "c.yml"]
        ));
    }

    #[test]
    fn expands_directories_and_patterns() {
        let dir = std::env::temp_dir().join(format!("pipectl-glob-{}", std::process::id()));
        let sub = dir.join("cloud/aws");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("a.yml"), "x").unwrap();
        std::fs::write(sub.join("b.txt"), "x").unwrap();
        std::fs::write(dir.join("top.yaml"), "x").unwrap();
        assert_eq!(expand("cloud", &dir).unwrap().len(), 1);
        assert_eq!(expand("**/*.y*ml", &dir).unwrap().len(), 2);
        assert_eq!(
            expand("cloud/**/*.yml", &dir).unwrap(),
            vec![sub.join("a.yml")]
        );
        assert!(expand("missing", &dir).is_err());
        assert!(expand("nothing/*.yml", &dir).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
