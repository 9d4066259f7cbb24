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
    /// When payments need a verification code (the `[payments]` table).
    pub payments: Option<PaymentSettings>,
    /// Merchants' webhooks (the `[webhooks]` table).
    pub webhooks: Option<WebhookSettings>,
}

/// `[webhooks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `false` (default): webhooks go to public addresses only; `true` lets them reach loopback
    /// and private networks (merchants on the hub's own network, a demo on one machine).
    pub allow_private_networks: Option<bool>,
}

/// `[payments]`: each key overrides the default of `scanpay_core::payment::Policy`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// `true` (default): a request from another terminal gets a code on the bound one (step-up);
    /// `false`: it is refused with `terminal_mismatch`.
    pub step_up_other_terminal: Option<bool>,
    /// A repeat payment to a known payee up to this much needs no code (default 3000 = 30.00).
    pub exemption_single_max_minor: Option<i64>,
    /// …while the exempted ones since the last verified payment stay within this sum (10000).
    pub exemption_cumulative_max_minor: Option<i64>,
    /// …and this count (5).
    pub exemption_count_max: Option<u32>,
    /// How long a verification code is good for, in seconds (300, at most 300).
    pub code_lifetime_seconds: Option<u32>,
    /// `true`: a registration without the terminal's public key is refused, so no code ever
    /// travels in clear on the wallet's stream (default `false`: wallets from before keys).
    pub terminal_key_required: Option<bool>,
    /// A program that also gets each verification code (an SMS gateway script): the message on
    /// standard input, `SCANPAY_WALLET_ID` and `SCANPAY_PAYMENT_ID` in the environment.
    pub code_command: Option<std::path::PathBuf>,
}

impl PaymentSettings {
    pub fn policy(&self) -> anyhow::Result<scanpay_core::payment::Policy> {
        let mut policy = scanpay_core::payment::Policy::default();
        if let Some(v) = self.step_up_other_terminal {
            policy.step_up_other_terminal = v;
        }
        if let Some(v) = self.exemption_single_max_minor {
            policy.exemption_single_max_minor = v;
        }
        if let Some(v) = self.exemption_cumulative_max_minor {
            policy.exemption_cumulative_max_minor = v;
        }
        if let Some(v) = self.exemption_count_max {
            policy.exemption_count_max = v;
        }
        if let Some(v) = self.terminal_key_required {
            policy.terminal_key_required = v;
        }
        if let Some(v) = self.code_lifetime_seconds {
            anyhow::ensure!(
                (1..=300).contains(&v),
                "payments.code_lifetime_seconds is 1 to 300"
            );
            policy.code_lifetime_ms = i64::from(v) * 1000;
        }
        Ok(policy)
    }
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
