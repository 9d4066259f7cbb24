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
/// A photo's bytes, refused without reading it all when it is larger than any photo the
/// extraction takes (`/dev/zero` or a stray disk image must not fill the memory first).
pub fn read_photo(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let most = scanpay_extract::photo::IMAGE_BYTES_MAX;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(most as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > most {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {} MiB", most >> 20),
        ));
    }
    Ok(bytes)
}

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
        let result = read_photo(path)
            .map_err(|e| {
                let code = if e.kind() == std::io::ErrorKind::FileTooLarge {
                    "image_too_large"
                } else {
                    "file_unreadable"
                };
                (code.to_string(), e.to_string())
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_larger_than_any_photo_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.png");
        std::fs::write(&small, b"not much").unwrap();
        assert_eq!(read_photo(&small).unwrap(), b"not much");
        let large = dir.path().join("large.png");
        let file = std::fs::File::create(&large).unwrap();
        file.set_len(scanpay_extract::photo::IMAGE_BYTES_MAX as u64 + 1)
            .unwrap();
        let error = read_photo(&large).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::FileTooLarge);
    }
}
