//! pipectl's own settings, layered: built-in defaults < `pipectl.toml` < `PIPECTL_*`
//! environment < command-line flags.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings shared by the commands that run pipelines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Where checkpoints and component state live.
    pub data_dir: PathBuf,
    /// A directory of secret files (`secret("name")` reads `<dir>/name`).
    pub secrets_dir: Option<PathBuf>,
    /// Log filter (tracing-subscriber syntax).
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Bounded channel capacity between components, in batches.
    pub channel_capacity: usize,
    /// Where `pipectl serve` listens and where the client commands (`plan`, `apply`,
    /// `status`...) find it. Loopback by default: the control API runs pipelines.
    pub control_address: String,
    /// The control token file for the client commands (default:
    /// `<data_dir>/control.token`, written by `pipectl serve`).
    pub control_token_file: Option<PathBuf>,
    /// TLS for the control API: the daemon's PEM certificate chain and key (both or
    /// neither).
    pub control_tls_cert: Option<PathBuf>,
    pub control_tls_key: Option<PathBuf>,
    /// The CA (PEM) clients trust for an `https://` control address (default: the
    /// system's roots).
    pub control_tls_ca: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            data_dir: PathBuf::from(".pipectl-data"),
            secrets_dir: None,
            log: "info".into(),
            log_format: "text".into(),
            channel_capacity: 4,
            control_address: "127.0.0.1:7171".into(),
            control_token_file: None,
            control_tls_cert: None,
            control_tls_key: None,
            control_tls_ca: None,
        }
    }
}

/// Values given as flags; only those present override the lower layers.
#[derive(Serialize, Default)]
struct FlagOverrides<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<&'a str>,
}

impl Settings {
    /// Loads the layers. An explicit `--config` file must exist; `./pipectl.toml` is
    /// used when present.
    pub fn load(config: Option<&Path>, log_flag: Option<&str>) -> Result<Settings, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config {
            Some(path) => {
                if !path.is_file() {
                    return Err(format!("settings file {} not found", path.display()));
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("pipectl.toml")),
        }
        figment = figment
            .merge(
                // PIPECTL_SECRET_* hold secret values, not settings.
                Env::prefixed("PIPECTL_").filter(|key| !key.as_str().starts_with("secret_")),
            )
            .merge(Serialized::defaults(FlagOverrides { log: log_flag }));
        figment
            .extract()
            .map_err(|e| format!("invalid settings: {e}"))
    }
}

/// Starts the tracing subscriber; logs go to stderr so stdout stays for data.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if settings.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(err) = result {
        eprintln!("warning: logging not initialised: {err}");
    }
}
