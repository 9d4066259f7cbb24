//! `scanpay wallet …`: the phone's side in a terminal.
//!
//! The wallet keeps a profile (hub URL, its token, its terminal identifier) in a directory, mode
//! 0600; on first use in a fresh profile it makes a terminal identifier and signs up with the hub,
//! so one `register … --yes` works from scratch. Registration today takes the fields the phone
//! read (the FIG. 4 path: flags or a JSON file); reading them from photos arrives with document
//! extraction.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the wallet remembers between runs.
#[derive(Serialize, Deserialize)]
struct Profile {
    hub_url: String,
    token: String,
    terminal_id: String,
}

pub struct Wallet {
    profile: Profile,
    http: reqwest::Client,
}

fn profile_file(dir: &Path) -> PathBuf {
    dir.join("profile.json")
}

/// The default profile directory: `$SCANPAY_PROFILE`, else `~/.scanpay`.
pub fn default_profile_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".scanpay"))
        .unwrap_or_else(|| PathBuf::from(".scanpay"))
}

fn error_text(body: &Value, status: u16) -> String {
    match (body["code"].as_str(), body["message"].as_str()) {
        (Some(code), Some(message)) => format!("{message} ({code})"),
        _ => format!("the hub answered {status}"),
    }
}

impl Wallet {
    /// Opens the profile in `dir`, or makes one: a new terminal identifier and a sign-up.
    pub async fn open(dir: &Path, hub_url: &str, name: &str) -> anyhow::Result<Wallet> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        let file = profile_file(dir);
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut profile: Profile = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", file.display()))?;
            profile.hub_url = hub_url.trim_end_matches('/').to_string();
            return Ok(Wallet { profile, http });
        }
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
        };
        std::fs::create_dir_all(dir)?;
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
        Ok(Wallet { profile, http })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.profile.hub_url))
            .bearer_auth(&self.profile.token);
        if let Some(body) = body {
            // Every creating call carries a fresh key; a retry of this process's call reuses it.
            request = request
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&body);
        }
        let response = request.send().await.context("reaching the hub")?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            bail!("{}", error_text(&body, status));
        }
        Ok(body)
    }

    /// Sends a photo for the hub to read; `carrier` is `id_document` or `payment_card`.
    async fn upload(&self, id: &str, carrier: &str, path: &Path) -> anyhow::Result<Value> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let content_type = if bytes.starts_with(b"\x89PNG") {
            "image/png"
        } else {
            "image/jpeg"
        };
        eprintln!("Reading {} …", path.display());
        let response = self
            .http
            .post(format!(
                "{}/v1/registrations/{id}/images?carrier={carrier}",
                self.profile.hub_url
            ))
            .bearer_auth(&self.profile.token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .context("reaching the hub")?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            bail!("{}: {}", path.display(), error_text(&body, status));
        }
        Ok(body)
    }

    /// Runs a registration: photos of the ID document and the card (read by the hub), and/or
    /// `fields` (`{identity, card}`) read on the phone. Shows the fields, lets the user confirm or
    /// edit them (unless `yes`), confirms, and prints the code.
    pub async fn register(
        &self,
        photos: (Option<&Path>, Option<&Path>),
        fields: Option<Value>,
        yes: bool,
    ) -> anyhow::Result<String> {
        let started = self
            .call(
                reqwest::Method::POST,
                "/v1/registrations",
                Some(json!({"terminal_id": self.profile.terminal_id})),
            )
            .await?;
        let id = started["id"]
            .as_str()
            .context("no registration id")?
            .to_string();
        let mut current = started;
        if let Some(path) = photos.0 {
            current = self.upload(&id, "id_document", path).await?;
        }
        if let Some(path) = photos.1 {
            current = self.upload(&id, "payment_card", path).await?;
        }
        if let Some(fields) = &fields {
            current = self
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/registrations/{id}/fields"),
                    Some(fields.clone()),
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
                    "It is shown once; the bank has bound it to this phone ({}).",
                    self.profile.terminal_id
                );
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
                "{}  {:<22}  {:<20}  {}",
                item["created_at"].as_str().unwrap_or(""),
                item["state"].as_str().unwrap_or(""),
                item["card"]["card_masked"].as_str().unwrap_or("-"),
                item["bank_id"].as_str().unwrap_or("-"),
            );
        }
        Ok(())
    }
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
    let mut identity = fields["identity"].clone();
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
        let mut fields = match &self.fields_file {
            Some(path) => serde_json::from_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{} is not JSON", path.display()))?,
            None => json!({"identity": {}, "card": {}}),
        };
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
