//! `scanpay extract IMAGE…`: every identity and card field found in photos, as text or JSON.
//!
//! Barcodes are always read; text (MRZ, card numbers) needs the OCR models that `scripts/models`
//! installs (`--models DIR`, or `SCANPAY_MODELS`). Card numbers are masked unless
//! `--show-card-numbers` is given: the output ends up in terminals and logs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use scanpay_extract::Date;
use scanpay_extract::document::{Extraction, Options, TextReader, extract};
use serde_json::{Value, json};

pub struct ExtractCommand {
    pub images: Vec<PathBuf>,
    pub json: bool,
    pub models: Option<PathBuf>,
    pub no_ocr: bool,
    pub show_card_numbers: bool,
    pub pixels_max: u64,
}

fn today() -> Date {
    let day = scanpay_core::registration::Day::from_unix_ms(scanpay_http::now_ms());
    Date::new(day.year, day.month, day.day).expect("a civil date")
}

/// The OCR engine, when its models are installed (and not turned off).
pub fn load_reader(
    models: Option<&Path>,
    no_ocr: bool,
) -> anyhow::Result<Option<Box<dyn TextReader>>> {
    if no_ocr {
        return Ok(None);
    }
    let dir = models
        .map(Path::to_path_buf)
        .unwrap_or_else(scanpay_extract::ocr::default_models_dir);
    match scanpay_extract::ocr::Ocr::load(&dir) {
        Ok(ocr) => Ok(Some(Box::new(ocr))),
        Err(error) if error.code() == "ocr_models_missing" => {
            eprintln!(
                "note: no OCR models in {} (run scripts/models); reading barcodes only.",
                dir.display()
            );
            Ok(None)
        }
        Err(error) => Err(anyhow::anyhow!("loading the OCR models: {error}")),
    }
}

pub fn to_json(extraction: &Extraction, show_card_numbers: bool) -> Value {
    let mut value = serde_json::to_value(extraction).unwrap_or(Value::Null);
    if !show_card_numbers && let Some(number) = value["card"]["card_number"]["value"].as_str() {
        let masked = format!("•••• {}", &number[number.len().saturating_sub(4)..]);
        value["card"]["card_number"]["value"] = Value::String(masked);
    }
    value
}

pub fn run(command: ExtractCommand) -> anyhow::Result<bool> {
    let reader = load_reader(command.models.as_deref(), command.no_ocr)?;
    let options = Options {
        pixels_max: command.pixels_max,
        today: today(),
        reader: reader.as_deref(),
    };
    let mut documents = Vec::new();
    let mut all_found = true;
    for path in &command.images {
        let started = Instant::now();
        let result = std::fs::read(path)
            .map_err(|e| ("file_unreadable".to_string(), e.to_string()))
            .and_then(|bytes| {
                extract(&bytes, &options).map_err(|e| (e.code().to_string(), e.to_string()))
            });
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let entry = match result {
            Ok(extraction) => json!({
                "file": path.display().to_string(),
                "elapsed_ms": elapsed_ms,
                "result": to_json(&extraction, command.show_card_numbers),
            }),
            Err((code, message)) => {
                all_found = false;
                json!({
                    "file": path.display().to_string(),
                    "elapsed_ms": elapsed_ms,
                    "error": {"code": code, "message": message},
                })
            }
        };
        documents.push(entry);
    }
    if command.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "documents": documents }))?
        );
    } else {
        for document in &documents {
            print_text(document);
        }
    }
    Ok(all_found)
}

fn print_text(document: &Value) {
    println!(
        "{} ({:.0} ms)",
        document["file"].as_str().unwrap_or("?"),
        document["elapsed_ms"].as_f64().unwrap_or(0.0)
    );
    if let Some(error) = document.get("error") {
        println!(
            "  error: {} ({})",
            error["message"].as_str().unwrap_or(""),
            error["code"].as_str().unwrap_or("")
        );
        return;
    }
    let result = &document["result"];
    let field = |value: &Value| -> Option<String> {
        let v = &value["value"];
        let text = v
            .as_str()
            .map(str::to_string)
            .or_else(|| v.as_u64().map(|n| n.to_string()))?;
        Some(format!(
            "{text}  [{} {:.2}]",
            value["source"].as_str().unwrap_or(""),
            value["confidence"].as_f64().unwrap_or(0.0)
        ))
    };
    if let Some(identity) = result["identity"].as_object() {
        println!("  identity");
        for (key, value) in identity {
            if let Some(text) = field(value) {
                println!("    {key:<16} {text}");
            }
        }
    }
    if let Some(card) = result["card"].as_object() {
        println!("  card");
        for key in ["card_number", "expiry_month", "expiry_year", "holder_name"] {
            if let Some(text) = card.get(key).and_then(field) {
                println!("    {key:<16} {text}");
            }
        }
    }
    for barcode in result["barcodes"].as_array().into_iter().flatten() {
        println!(
            "  barcode {} ({} characters)",
            barcode["symbology"].as_str().unwrap_or(""),
            barcode["text"].as_str().map(str::len).unwrap_or(0)
        );
    }
}
