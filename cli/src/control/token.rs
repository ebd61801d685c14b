//! The control API's bearer token: 32 random bytes in hex, generated at the daemon's
//! first start into `<data_dir>/control.token` with mode 0600, compared in constant
//! time.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The daemon's token. Never printed, logged or put in an error.
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The token file of a data directory.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(super::api::TOKEN_FILE)
}

impl Token {
    /// Reads the token of `data_dir`, generating it first when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<Token, String> {
        let path = path_in(data_dir);
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("cannot generate a token: {e}"))?;
        let fresh = hex(&bytes);
        match create_private(&path) {
            Ok(mut file) => {
                file.write_all(fresh.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "generated the control token");
                Ok(Token(fresh))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                warn_if_readable_by_others(&path);
                Ok(Token(read(&path)?))
            }
            Err(e) => Err(format!("cannot create {}: {e}", path.display())),
        }
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

/// Reads a token file (for clients); surrounding whitespace is ignored.
pub fn read(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the control token {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "the control token file {} is empty",
            path.display()
        ));
    }
    Ok(token.to_string())
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the control token file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Compares every byte whatever the first difference; only the length (public: every
/// token is 64 hex digits) ends it early.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_created_once_private_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("pipectl-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = Token::load_or_create(&dir).unwrap();
        assert_eq!(first.0.len(), 64);
        assert!(first.0.bytes().all(|b| b.is_ascii_hexdigit()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path_in(&dir))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Token::load_or_create(&dir).unwrap();
        assert!(again.matches(&first.0));
        assert!(!again.matches(""));
        assert!(!again.matches(&first.0[1..]));
        let mut wrong = first.0.clone().into_bytes();
        wrong[63] = if wrong[63] == b'0' { b'1' } else { b'0' };
        assert!(!again.matches(&String::from_utf8(wrong).unwrap()));
        assert!(!format!("{first:?}").contains(&first.0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
