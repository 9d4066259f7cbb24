//! Settings: defaults, then a TOML file (`--config`), then environment variables (`SCANPAY_*`),
//! then command-line flags — each layer overrides the one before. See `docs/configuration.md`.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

/// The keys a config file may hold; each has an environment variable and a flag of the same name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub seed: Option<PathBuf>,
    pub log_format: Option<String>,
}

impl FileSettings {
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<FileSettings> {
        let Some(path) = path else {
            return Ok(FileSettings::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The seed file's text: the given file, or the demo file built into the binary.
pub fn seed_text(path: Option<&std::path::Path>) -> anyhow::Result<String> {
    match path {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        }
        None => Ok(scanpay_bank::seed::DEMO.to_string()),
    }
}
