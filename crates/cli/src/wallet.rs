//! `scanpay wallet …`: the phone's side in a terminal.
//!
//! The wallet keeps a profile (hub URL, its token, its terminal identifier) in a directory, mode
//! 0600; on first use in a fresh profile it makes a terminal identifier and signs up with the hub,
//! so one `register … --yes` works from scratch. Registration today takes the fields the phone
//! read (the FIG. 4 path: flags or a JSON file), or photos the hub reads.
//!
//! The registration code is what pays, so the profile keeps it (like a card on a phone, in a file
//! only its owner reads). `pay` is the payment flow guide of seed 002: it offers the recent payees
//! and the merchants, and when the hub sends a verification code to this terminal it reads it from
//! the notification stream (as a phone fills in an SMS code) and asks the user to confirm.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{HubClient, error_text};

/// What the wallet remembers between runs.
#[derive(Serialize, Deserialize)]
struct Profile {
    hub_url: String,
    token: String,
    terminal_id: String,
    /// This terminal's X25519 secret (hex): verification codes for its cards arrive sealed to
    /// its public key. Made on first use; profiles made before it have none (codes in clear).
    #[serde(default)]
    terminal_secret: Option<String>,
    /// The hub's sealing key (hex) as first seen: pinned, so a key swapped in later by something
    /// between this terminal and the hub is refused rather than trusted.
    #[serde(default)]
    hub_sealing_key: Option<String>,
    /// Registration codes issued to this wallet, newest last.
    #[serde(default)]
    codes: Vec<SavedCode>,
}

#[derive(Clone, Serialize, Deserialize)]
struct SavedCode {
    code: String,
    card_masked: String,
    bank_id: String,
    /// The registration that issued it; profiles from before it was saved have none.
    #[serde(default)]
    registration_id: Option<String>,
}

/// What `scanpay wallet pay` was asked.
pub struct PayArgs {
    /// A merchant's name or id, a wallet's id; `None`: choose from the guide.
    pub to: Option<String>,
    /// In major units (`12.34`); `None`: the last amount paid to the payee, or ask.
    pub amount: Option<String>,
    pub currency: String,
    /// Another code than the newest one saved.
    pub code: Option<String>,
    /// Another terminal identifier than this profile's (to try a step-up).
    pub terminal: Option<String>,
    pub yes: bool,
}

pub struct Wallet {
    profile: Profile,
    client: HubClient,
}

/// `plaintext` sealed to the hub's `key` for the registration `id` and the endpoint `kind`.
fn sealed(key: &[u8; 32], id: &str, kind: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
    let id: uuid::Uuid = id.parse().context("the hub's registration id")?;
    let mut random = [0u8; 44];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
    let aad = scanpay_proto::seal::registration_aad(id, kind);
    Ok(scanpay_proto::seal::seal(key, &aad, plaintext, random))
}

fn profile_file(dir: &Path) -> PathBuf {
    dir.join("profile.json")
}

/// Where `scanpay up` listens: the hub a new profile signs up with unless told otherwise.
const DEFAULT_HUB: &str = "http://127.0.0.1:7080";

/// The default profile directory: `$SCANPAY_PROFILE`, else `~/.scanpay`.
pub fn default_profile_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".scanpay"))
        .unwrap_or_else(|| PathBuf::from(".scanpay"))
}

impl Wallet {
    /// Opens the profile in `dir`, or makes one: a new terminal identifier and a sign-up at
    /// `hub_url` (default: where `scanpay up` listens). A profile talks to the hub it signed up
    /// with: its token and codes go nowhere else, and another `hub_url` is refused.
    pub async fn open(dir: &Path, hub_url: Option<&str>, name: &str) -> anyhow::Result<Wallet> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        let file = profile_file(dir);
        if let Ok(text) = std::fs::read_to_string(&file) {
            let profile: Profile = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", file.display()))?;
            if let Some(asked) = hub_url.map(|u| u.trim_end_matches('/'))
                && asked != profile.hub_url
            {
                bail!(
                    "the profile in {} belongs to the hub at {}, not {asked}: its token goes to \
                     no other hub (use --profile for another wallet)",
                    dir.display(),
                    profile.hub_url
                );
            }
            let client = HubClient::new(&profile.hub_url, profile.token.clone())?;
            return Ok(Wallet { profile, client });
        }
        let hub_url = hub_url.unwrap_or(DEFAULT_HUB);
        let response = http
            .post(format!("{}/v1/wallets", hub_url.trim_end_matches('/')))
            .json(&json!({ "name": name }))
            .send()
            .await
            .with_context(|| format!("reaching the hub at {hub_url} (is `scanpay up` running?)"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 201 {
            bail!("signing up: {}", error_text(&body, status));
        }
        let profile = Profile {
            hub_url: hub_url.trim_end_matches('/').to_string(),
            token: body["token"]
                .as_str()
                .context("sign-up answer without token")?
                .to_string(),
            terminal_id: format!("terminal-{}", uuid::Uuid::new_v4()),
            terminal_secret: Some(hex::encode(rand::random::<[u8; 32]>())),
            hub_sealing_key: None,
            codes: Vec::new(),
        };
        scanpay_store::files::create_private_dir(dir)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options
            .open(&file)
            .with_context(|| format!("creating {}", file.display()))?;
        out.write_all(serde_json::to_string_pretty(&profile)?.as_bytes())?;
        eprintln!(
            "New wallet profile in {} (terminal {}).",
            dir.display(),
            profile.terminal_id
        );
        let client = HubClient::new(&profile.hub_url, profile.token.clone())?;
        Ok(Wallet { profile, client })
    }

    /// Writes the profile back (a new file renamed over the old, so a crash leaves one whole).
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let file = profile_file(dir);
        let temporary = dir.join("profile.json.new");
        // A leftover file keeps its mode when opened: start from none, so the new one is 0600.
        let _ = std::fs::remove_file(&temporary);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options
            .open(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        out.write_all(serde_json::to_string_pretty(&self.profile)?.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&temporary, &file)
            .with_context(|| format!("replacing {}", file.display()))?;
        Ok(())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.client.call(method, path, body).await
    }

    /// The hub's public key for sealed bodies and terminal proofs: the one this profile pinned
    /// when it first met the hub; a different one now is refused.
    async fn sealing_key(&self) -> anyhow::Result<[u8; 32]> {
        use base64::Engine;
        let view = self
            .call(reqwest::Method::GET, "/v1/sealing-key", None)
            .await?;
        let text = view["public_key"]
            .as_str()
            .context("the hub published no sealing key")?;
        let bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the hub's sealing key is not 32 bytes"))?;
        if let Some(pinned) = &self.profile.hub_sealing_key
            && *pinned != hex::encode(bytes)
        {
            bail!(
                "the hub's sealing key is not the one this profile first saw; if the hub's \
                 operator changed it on purpose, remove `hub_sealing_key` from the profile"
            );
        }
        Ok(bytes)
    }

    /// Sends a photo for the hub to read, sealed to the hub's `key`; `carrier` is `id_document`
    /// or `payment_card`.
    async fn upload(
        &self,
        key: &[u8; 32],
        id: &str,
        carrier: &str,
        path: &Path,
    ) -> anyhow::Result<Value> {
        let bytes = crate::extract::read_photo(path)
            .with_context(|| format!("reading {}", path.display()))?;
        eprintln!("Reading {} …", path.display());
        self.client
            .post_bytes(
                &format!("/v1/registrations/{id}/images?carrier={carrier}"),
                scanpay_proto::seal::MEDIA_TYPE,
                sealed(key, id, "images", &bytes)?,
            )
            .await
            .with_context(|| path.display().to_string())
    }

    /// Runs a registration: photos of the ID document and the card (read by the hub), and/or
    /// `fields` (`{identity, card}`) read on the phone. Shows the fields, lets the user confirm or
    /// edit them (unless `yes`), confirms, and prints the code.
    pub async fn register(
        &mut self,
        dir: &Path,
        photos: (Option<&Path>, Option<&Path>),
        fields: Option<Value>,
        yes: bool,
    ) -> anyhow::Result<String> {
        let started = self
            .call(
                reqwest::Method::POST,
                "/v1/registrations",
                Some(self.start_request()?),
            )
            .await?;
        let id = started["id"]
            .as_str()
            .context("no registration id")?
            .to_string();
        let mut current = started;
        // Photos and fields go sealed to the hub's key: only the hub reads them. The key is
        // pinned the first time.
        let key = self.sealing_key().await?;
        if self.profile.hub_sealing_key.is_none() {
            self.profile.hub_sealing_key = Some(hex::encode(key));
            self.save(dir)?;
        }
        if let Some(path) = photos.0 {
            current = self.upload(&key, &id, "id_document", path).await?;
        }
        if let Some(path) = photos.1 {
            current = self.upload(&key, &id, "payment_card", path).await?;
        }
        if let Some(fields) = &fields {
            current = self
                .client
                .post_bytes(
                    &format!("/v1/registrations/{id}/fields"),
                    scanpay_proto::seal::MEDIA_TYPE,
                    sealed(&key, &id, "fields", &serde_json::to_vec(fields)?)?,
                )
                .await?;
        }
        let fields = fields.unwrap_or_else(|| json!({ "identity": current["identity"].clone() }));
        let mut modify: Option<Value> = None;
        loop {
            show(&current);
            if !yes {
                match ask("Confirm these fields? [y]es / [e]dit / [c]ancel: ")?.as_str() {
                    "y" | "yes" | "" => {}
                    "e" | "edit" => {
                        modify = Some(edit(&fields)?);
                    }
                    _ => {
                        self.call(
                            reqwest::Method::POST,
                            &format!("/v1/registrations/{id}/cancel"),
                            Some(json!(null)),
                        )
                        .await?;
                        bail!("cancelled");
                    }
                }
            }
            let body = match modify.take() {
                Some(m) => json!({ "modify": m }),
                None => json!({}),
            };
            current = self
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/registrations/{id}/confirm"),
                    Some(body),
                )
                .await?;
            if let Some(code) = current["registration_code"].as_str() {
                println!(
                    "Registered: card {} at {}.",
                    current["card"]["card_masked"].as_str().unwrap_or("?"),
                    current["bank_id"].as_str().unwrap_or("?")
                );
                println!("Your registration code: {code}");
                println!(
                    "The hub shows it once; the bank has bound it to this phone ({}).",
                    self.profile.terminal_id
                );
                self.profile.codes.push(SavedCode {
                    code: code.to_string(),
                    card_masked: current["card"]["card_masked"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    bank_id: current["bank_id"].as_str().unwrap_or("").to_string(),
                    registration_id: current["id"].as_str().map(str::to_string),
                });
                self.save(dir)?;
                println!("Saved in this wallet's profile: `scanpay wallet pay` uses it.");
                return Ok(code.to_string());
            }
            let check: Vec<&str> = current["fields_to_check"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if yes || check.is_empty() {
                bail!(
                    "the bank's records differ in: {}; check the fields and try again",
                    check.join(", ")
                );
            }
            println!(
                "The bank's records differ slightly in: {}. Please check them.",
                check.join(", ")
            );
            modify = Some(edit(&fields)?);
        }
    }

    pub async fn registrations(&self) -> anyhow::Result<()> {
        let list = self
            .call(reqwest::Method::GET, "/v1/registrations", None)
            .await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            println!("No registrations yet.");
        }
        for item in items {
            println!(
                "{}  {}  {:<22}  {:<20}  {}",
                item["id"].as_str().unwrap_or(""),
                item["created_at"].as_str().unwrap_or(""),
                item["state"].as_str().unwrap_or(""),
                item["card"]["card_masked"].as_str().unwrap_or("-"),
                item["bank_id"].as_str().unwrap_or("-"),
            );
        }
        Ok(())
    }

    /// Revokes a registration's code and forgets it in the profile.
    pub async fn revoke(&mut self, dir: &Path, registration: &str) -> anyhow::Result<()> {
        let id = uuid::Uuid::parse_str(registration.trim())
            .context("a registration id (`scanpay wallet registrations` lists them)")?;
        let revoked = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/registrations/{id}/revoke"),
                Some(serde_json::json!({})),
            )
            .await?;
        let card = revoked["card"]["card_masked"].as_str().unwrap_or("");
        let bank = revoked["bank_id"].as_str().unwrap_or("");
        let id = id.to_string();
        self.profile
            .codes
            .retain(|saved| match &saved.registration_id {
                Some(saved_id) => *saved_id != id,
                None => !(saved.card_masked == card && saved.bank_id == bank),
            });
        self.save(dir)?;
        println!("Revoked: the code of card {card} at {bank} pays no more.");
        println!("Register the card again to pay with it from this phone.");
        Ok(())
    }
}

impl Wallet {
    /// Pays: picks the payee and amount (flags or the guide), sends the payment, and when a code
    /// is needed takes it from this terminal's notifications and sends the payment again with it.
    pub async fn pay(&self, args: PayArgs) -> anyhow::Result<Value> {
        let code = match &args.code {
            Some(code) => code.clone(),
            None => self
                .profile
                .codes
                .last()
                .map(|c| c.code.clone())
                .context("no registration code in this profile: run `scanpay wallet register` first, or pass --code")?,
        };
        let currency = scanpay_core::money::Currency::parse(&args.currency)
            .map_err(|e| anyhow::anyhow!("--currency: {e}"))?;
        let payees = self.call(reqwest::Method::GET, "/v1/payees", None).await?;
        let merchants = self
            .call(reqwest::Method::GET, "/v1/merchants", None)
            .await?;
        let (payee_id, payee_name, last_amount) =
            choose_payee(args.to.as_deref(), &payees, &merchants, args.yes)?;
        let amount_minor = match (&args.amount, last_amount) {
            (Some(text), _) => scanpay_core::money::parse_major(text, currency)
                .map_err(|e| anyhow::anyhow!("--amount {text}: {e}"))?,
            (None, Some(last)) if args.yes => last,
            (None, last) => {
                let shown = last
                    .map(|l| scanpay_core::money::format_major(l, currency))
                    .unwrap_or_default();
                let text = ask(&format!("Amount in {} [{shown}]: ", currency.code()))?;
                let text = if text.is_empty() { shown } else { text };
                scanpay_core::money::parse_major(&text, currency)
                    .map_err(|e| anyhow::anyhow!("amount {text}: {e}"))?
            }
        };
        let shown = format!(
            "{} {}",
            scanpay_core::money::format_major(amount_minor, currency),
            currency.code()
        );
        if !args.yes {
            let answer = ask(&format!("Pay {shown} to {payee_name}? [y]es / [n]o: "))?;
            if !matches!(answer.as_str(), "y" | "yes" | "") {
                bail!("not paid");
            }
        }
        let terminal_id = args
            .terminal
            .clone()
            .unwrap_or_else(|| self.profile.terminal_id.clone());
        let mut body = json!({
            "registration_code": code,
            "terminal_id": terminal_id,
            "payee_id": payee_id,
            "amount_minor": amount_minor,
            "currency": currency.code(),
        });
        // This terminal proves it holds its key (another `--terminal` cannot, and gets a step-up).
        let key = uuid::Uuid::new_v4().to_string();
        if let (None, Some(terminal)) = (&args.terminal, self.terminal_key()?) {
            use base64::Engine;
            let payee: uuid::Uuid = payee_id.parse().context("the payee's id")?;
            let message = scanpay_proto::seal::proof_message(
                &key,
                &terminal_id,
                payee,
                amount_minor,
                currency.code(),
            );
            let hub = self.sealing_key().await?;
            let proof = terminal
                .proof(&hub, &message)
                .context("the hub's sealing key is not usable")?;
            body["terminal_proof"] =
                json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(proof));
        }
        let mut payment = self.client.post_keyed("/v1/payments", &body, &key).await?;
        if payment["status"] == "requires_verification" {
            let id = payment["id"]
                .as_str()
                .context("a payment without id")?
                .to_string();
            let reason = payment["next_action"]["reason"].as_str().unwrap_or("");
            if reason == "step_up_required" {
                println!(
                    "This is not the phone the code is bound to: the hub sent a code to that phone."
                );
            }
            let received = self.received_code(&id).await?;
            let entered = if args.yes {
                received
            } else {
                println!("A verification code arrived on this phone: {received}");
                let typed = ask("Type the code to confirm the payment (Enter to use it): ")?;
                if typed.is_empty() { received } else { typed }
            };
            payment = self
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/payments/{id}/verify"),
                    Some(
                        json!({"verification_code": entered, "amount_minor": amount_minor,
                                "currency": currency.code(), "payee_id": payee_id}),
                    ),
                )
                .await?;
        }
        match payment["status"].as_str() {
            Some("succeeded") => println!(
                "Paid {shown} to {payee_name}{} (payment {}).",
                if payment["exempted"] == true {
                    ", without a code (a small repeat payment)"
                } else {
                    ""
                },
                payment["id"].as_str().unwrap_or("?")
            ),
            status => println!(
                "Payment {} is {}: the payee's bank is still to be credited.",
                payment["id"].as_str().unwrap_or("?"),
                status.unwrap_or("?")
            ),
        }
        Ok(payment)
    }

    /// The start of a registration: this terminal, and its public key when the profile has one.
    fn start_request(&self) -> anyhow::Result<Value> {
        use base64::Engine;
        let mut request = json!({"terminal_id": self.profile.terminal_id});
        if let Some(key) = self.terminal_key()? {
            request["terminal_public_key"] =
                json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public()));
        }
        Ok(request)
    }

    /// This terminal's key for sealed verification codes, if the profile has one.
    fn terminal_key(&self) -> anyhow::Result<Option<scanpay_proto::seal::SealingKey>> {
        let Some(secret) = &self.profile.terminal_secret else {
            return Ok(None);
        };
        let bytes: [u8; 32] = hex::decode(secret)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the profile's terminal secret is not 32 bytes"))?;
        Ok(Some(scanpay_proto::seal::SealingKey::from_secret(bytes)))
    }

    /// Opens a verification code the hub sealed to this terminal.
    fn open_code(&self, payment: &str, sealed: &str) -> anyhow::Result<String> {
        use base64::Engine;
        let key = self
            .terminal_key()?
            .context("a code sealed to a terminal key this profile does not have")?;
        let envelope = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sealed)?;
        let aad = scanpay_proto::seal::verification_code_aad(payment.parse()?);
        let code = key.open(&envelope, &aad).map_err(|_| {
            anyhow::anyhow!("the verification code was sealed to another phone's key")
        })?;
        Ok(String::from_utf8(code)?)
    }

    /// Waits (up to 30 s) for the verification code of `payment` on this wallet's stream.
    async fn received_code(&self, payment: &str) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut after = 0;
        let mut found = None;
        while std::time::Instant::now() < deadline {
            let wait = if found.is_some() { 0 } else { 5 };
            let page = self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/notifications?after={after}&wait={wait}"),
                    None,
                )
                .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            for item in &items {
                if item["kind"] == "verification_code" && item["payment_id"] == payment {
                    found = match item["sealed_verification_code"].as_str() {
                        Some(sealed) => Some(self.open_code(payment, sealed)?),
                        None => item["verification_code"].as_str().map(str::to_string),
                    };
                }
            }
            after = page["next_after"].as_i64().unwrap_or(after);
            if items.is_empty() && found.is_some() {
                break;
            }
        }
        found.context("no verification code arrived within 30 seconds")
    }

    /// The wallet's payments, made and received, newest first.
    pub async fn history(&self) -> anyhow::Result<()> {
        let me = self.call(reqwest::Method::GET, "/v1/me", None).await?;
        let page = self
            .call(reqwest::Method::GET, "/v1/payments?limit=50", None)
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            println!("No payments yet.");
        }
        for item in items {
            let outgoing = item["payer"]["id"] == me["id"];
            let other = if outgoing {
                &item["payee"]
            } else {
                &item["payer"]
            };
            let currency =
                scanpay_core::money::Currency::parse(item["currency"].as_str().unwrap_or("USD"))
                    .unwrap_or(scanpay_core::money::Currency::USD);
            let amount = item["amount_minor"].as_i64().unwrap_or(0);
            println!(
                "{}  {}{:>12} {}  {:<24} {:<22} {}",
                item["created_at"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(19)
                    .collect::<String>(),
                if outgoing { "-" } else { "+" },
                scanpay_core::money::format_major(amount, currency),
                currency.code(),
                other["name"].as_str().unwrap_or("?"),
                item["status"].as_str().unwrap_or("?"),
                item["id"].as_str().unwrap_or("")
            );
        }
        Ok(())
    }
}

/// Picks the payee: `to` as a merchant name or a caller id, else from the guide (recent payees
/// first, then merchants). Returns id, name and the last amount paid to it.
fn choose_payee(
    to: Option<&str>,
    payees: &Value,
    merchants: &Value,
    yes: bool,
) -> anyhow::Result<(String, String, Option<i64>)> {
    let recent = payees.as_array().cloned().unwrap_or_default();
    let shops = merchants.as_array().cloned().unwrap_or_default();
    let last_amount = |id: &str| {
        recent
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["last_amount_minor"].as_i64())
    };
    let pick = |entry: &Value| {
        let id = entry["id"].as_str().unwrap_or("").to_string();
        let name = entry["name"].as_str().unwrap_or("").to_string();
        let last = last_amount(&id);
        (id, name, last)
    };
    if let Some(to) = to {
        let wanted = to.trim().to_lowercase();
        for entry in recent.iter().chain(shops.iter()) {
            if entry["id"].as_str() == Some(to.trim())
                || entry["name"].as_str().map(str::to_lowercase) == Some(wanted.clone())
            {
                return Ok(pick(entry));
            }
        }
        if uuid::Uuid::parse_str(to.trim()).is_ok() {
            return Ok((to.trim().to_string(), to.trim().to_string(), None));
        }
        bail!(
            "no merchant or recent payee is called {to:?} (see `scanpay wallet pay` without --to)"
        );
    }
    if yes {
        bail!("--to is needed with --yes");
    }
    let mut choices: Vec<&Value> = recent.iter().collect();
    for shop in &shops {
        if !recent.iter().any(|p| p["id"] == shop["id"]) {
            choices.push(shop);
        }
    }
    if choices.is_empty() {
        bail!("no merchants yet and no recent payees; pass --to");
    }
    println!("Pay whom?");
    for (index, choice) in choices.iter().enumerate() {
        match choice["last_amount_minor"].as_i64() {
            Some(last) => println!(
                "  {}. {}  (last paid {} {})",
                index + 1,
                choice["name"].as_str().unwrap_or("?"),
                scanpay_core::money::format_major(
                    last,
                    scanpay_core::money::Currency::parse(
                        choice["currency"].as_str().unwrap_or("USD")
                    )
                    .unwrap_or(scanpay_core::money::Currency::USD)
                ),
                choice["currency"].as_str().unwrap_or("")
            ),
            None => println!(
                "  {}. {}",
                index + 1,
                choice["name"].as_str().unwrap_or("?")
            ),
        }
    }
    let answer = ask("Number: ")?;
    let index: usize = answer.parse().context("a number from the list")?;
    let choice = choices
        .get(index.wrapping_sub(1))
        .context("a number from the list")?;
    Ok(pick(choice))
}

fn show(view: &Value) {
    println!("Please check what was read:");
    if let Some(identity) = view["identity"].as_object() {
        for key in [
            "full_name",
            "document_type",
            "document_number",
            "birth_date",
            "expiry_date",
        ] {
            println!(
                "  {key:<16} {}",
                identity.get(key).and_then(Value::as_str).unwrap_or("")
            );
        }
    }
    if view["card"].is_object() {
        let card = &view["card"];
        println!(
            "  {:<16} {}",
            "card",
            card["card_masked"].as_str().unwrap_or("")
        );
        println!(
            "  {:<16} {:02}/{}",
            "card expiry",
            card["expiry_month"].as_u64().unwrap_or(0),
            card["expiry_year"].as_u64().unwrap_or(0)
        );
    }
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no answer on standard input (use --yes in scripts)");
    }
    Ok(line.trim().to_lowercase())
}

/// Asks for each identity field, Enter keeping the current value.
fn edit(fields: &Value) -> anyhow::Result<Value> {
    let mut identity = match &fields["identity"] {
        Value::Object(_) => fields["identity"].clone(),
        _ => json!({}),
    };
    for key in ["full_name", "document_number", "birth_date", "expiry_date"] {
        let current = identity[key].as_str().unwrap_or("").to_string();
        print!("  {key} [{current}]: ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.trim();
        if !line.is_empty() {
            identity[key] = Value::String(line.to_uppercase());
        }
    }
    Ok(json!({ "identity": identity }))
}

/// The fields as flags give them; `None` where a flag was not given.
#[derive(clap::Args)]
pub struct FieldFlags {
    /// A JSON file `{"identity": {...}, "card": {...}}`; the flags below override its fields.
    #[arg(long = "fields")]
    pub fields_file: Option<PathBuf>,
    #[arg(long)]
    pub full_name: Option<String>,
    /// passport, id_card or driver_license.
    #[arg(long)]
    pub document_type: Option<String>,
    #[arg(long)]
    pub document_number: Option<String>,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// The identity document's expiry, YYYY-MM-DD.
    #[arg(long)]
    pub document_expiry: Option<String>,
    #[arg(long)]
    pub card_number: Option<String>,
    /// `MM/YYYY` or `MM/YY`.
    #[arg(long)]
    pub card_expiry: Option<String>,
}

impl FieldFlags {
    /// `{identity, card}` from the JSON file, overridden by any flags given; `None` when no
    /// field was given at all (photos only).
    pub fn to_fields(&self) -> anyhow::Result<Option<Value>> {
        let given = self.fields_file.is_some()
            || [
                &self.full_name,
                &self.document_type,
                &self.document_number,
                &self.birth_date,
                &self.document_expiry,
                &self.card_number,
                &self.card_expiry,
            ]
            .iter()
            .any(|f| f.is_some());
        if !given {
            return Ok(None);
        }
        let mut fields: Value = match &self.fields_file {
            Some(path) => serde_json::from_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{} is not JSON", path.display()))?,
            None => json!({"identity": {}, "card": {}}),
        };
        // Indexing below assigns into objects: anything else is the file's mistake, said so.
        let sections_ok = fields.as_object().is_some_and(|o| {
            ["identity", "card"]
                .iter()
                .all(|s| o.get(*s).is_none_or(|v| v.is_object() || v.is_null()))
        });
        if !sections_ok {
            bail!("the fields file must be a JSON object whose `identity` and `card` are objects");
        }
        let mut set = |section: &str, key: &str, value: &Option<String>| {
            if let Some(value) = value {
                fields[section][key] = Value::String(value.clone());
            }
        };
        set("identity", "full_name", &self.full_name);
        set("identity", "document_type", &self.document_type);
        set("identity", "document_number", &self.document_number);
        set("identity", "birth_date", &self.birth_date);
        set("identity", "expiry_date", &self.document_expiry);
        set("card", "card_number", &self.card_number);
        if let Some(expiry) = &self.card_expiry {
            let (month, year) = expiry.split_once('/').context("--card-expiry is MM/YYYY")?;
            let month: u8 = month.parse().context("--card-expiry month")?;
            let mut year: u16 = year.parse().context("--card-expiry year")?;
            if year < 100 {
                year += 2000;
            }
            fields["card"]["expiry_month"] = json!(month);
            fields["card"]["expiry_year"] = json!(year);
        }
        // A section left empty is not sent: the photo supplies it.
        for section in ["identity", "card"] {
            if fields[section].as_object().is_some_and(|o| o.is_empty()) {
                fields.as_object_mut().expect("an object").remove(section);
            }
        }
        Ok(Some(fields))
    }
}
