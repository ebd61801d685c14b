//! Failures at the edge, each mapped to its documented exit code.

use std::process::ExitCode;

/// A command's failure: what to print and which exit code to return.
#[derive(Debug)]
pub struct Exit {
    code: u8,
    /// Already printed (e.g. diagnostics) when `None`.
    message: Option<String>,
}

/// Runtime failure.
pub const RUNTIME: u8 = 1;
/// Usage error (bad flags, unreadable settings).
pub const USAGE: u8 = 2;
/// Invalid configuration (EX_CONFIG).
pub const CONFIG: u8 = 78;

/// The message, for callers that report a failure inside their own output (a failed
/// test); one printed already says so.
impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or("(reported above)"))
    }
}

impl Exit {
    pub fn runtime(err: impl std::fmt::Display) -> Exit {
        Exit {
            code: RUNTIME,
            message: Some(format!("{err:#}")),
        }
    }

    pub fn usage(err: impl std::fmt::Display) -> Exit {
        Exit {
            code: USAGE,
            message: Some(format!("{err:#}")),
        }
    }

    /// Invalid configuration whose diagnostics were already printed.
    pub fn config_reported() -> Exit {
        Exit {
            code: CONFIG,
            message: None,
        }
    }

    /// A failure whose explanation was already printed.
    pub fn silent(code: u8) -> Exit {
        Exit {
            code,
            message: None,
        }
    }

    pub fn report(self) -> ExitCode {
        if let Some(message) = self.message {
            eprintln!("error: {message}");
        }
        ExitCode::from(self.code)
    }
}
