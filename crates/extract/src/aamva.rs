//! AAMVA DL/ID card barcode payloads: the text inside the PDF417 barcode on the back of US and
//! Canadian driver licences and ID cards, as a barcode reader hands it over.
//!
//! [`parse`] reads the file header (compliance indicator `@`, the separators, file type `ANSI ` or
//! the `AAMVA` of some version 1 payloads, issuer identification number, AAMVA version, subfile
//! designators), finds the `DL` or `ID` subfile, splits it into its three-letter data elements and
//! derives a [`Licence`]: document number, names, dates, sex, address. [`Licence::identity`] turns
//! that into the crate's [`Identity`].
//!
//! Real payloads stray from the standard — separators normalised or garbled by whatever copied
//! them, byte-order marks, subfile offsets a few bytes off or not numbers at all, subfiles without
//! their type prefix, date orders that depend on jurisdiction and version — so the parser trusts
//! the header where it is consistent and otherwise falls back to scanning for the subfile and
//! splitting elements on LF, CR or RS. It never panics, whatever the input.
//!
//! What it is not: a barcode decoder (it takes the decoded text); a validator of the standard (it
//! does not reject a payload for a missing mandatory element or a wrong length field); a reader of
//! jurisdiction-specific (`Z…`) subfiles beyond listing their elements in [`Licence::elements`];
//! and no proof that a licence is genuine or unexpired — a barcode is trivial to forge.
//!
//! Formatting choices, so that callers can compare values:
//! - text values are trimmed of the padding some jurisdictions add, and runs of spaces in names
//!   and addresses are collapsed; `NONE` and `unavl` (AAMVA's "not applicable / unavailable")
//!   read as absent;
//! - US ZIP codes: the standard zero-fills an unknown ZIP+4, so `232690000` becomes `23269`, while
//!   a known one is written `36093-1234`; Canadian postal codes are kept as printed (`T4G 7A7`).

use std::ops::Range;

use scanpay_core::matching::masked_number;
use serde::Serialize;

use crate::{Date, Field, Identity, Source};

/// Why a payload could not be read as an AAMVA DL/ID file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AamvaError {
    /// No `ANSI ` or `AAMVA` file type followed by a numeric issuer id and version near the start.
    #[error("not an AAMVA DL/ID payload: no `ANSI `/`AAMVA` header")]
    NotAamva,
    /// The payload ends inside its header, before its DL/ID data, or well before the end its
    /// header declares for the DL/ID subfile.
    #[error("AAMVA payload is truncated")]
    Truncated,
    /// A complete header, but no DL or ID subfile with any data element.
    #[error("AAMVA payload has no DL or ID subfile")]
    NoSubfile,
}

impl AamvaError {
    /// A stable machine-readable code, for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            AamvaError::NotAamva => "aamva_header_missing",
            AamvaError::Truncated => "aamva_truncated",
            AamvaError::NoSubfile => "aamva_subfile_missing",
        }
    }
}

/// What a licence or ID card barcode says. Values are as encoded, trimmed (see the module doc);
/// absent when the element is missing, empty or `NONE`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Licence {
    /// AAMVA version number from the header: 0 or 1 (AAMVA DL/ID-2000 and before) to 10 (2020).
    pub version: u8,
    /// Issuer identification number, six digits (636000 is Virginia).
    pub issuer_id: String,
    /// Which subfile the fields were read from: `DL` (driver licence) or `ID` (ID card).
    pub subfile_type: String,
    /// State or province code (`DAJ`; else the residence `DAO`; else from the issuer id).
    pub jurisdiction: Option<String>,
    /// `USA` or `CAN` (`MEX` for the Mexican states in AAMVA): `DCG`; else, as versions 1–3 often
    /// lack it, from the issuer id or the jurisdiction.
    pub country: Option<String>,
    /// Customer id number (`DAQ`).
    pub document_number: Option<String>,
    pub surname: Option<String>,
    /// First and middle names joined by a space.
    pub given_names: Option<String>,
    pub suffix: Option<String>,
    pub birth_date: Option<Date>,
    pub expiry_date: Option<Date>,
    pub issue_date: Option<Date>,
    /// `M`, `F` or `X`.
    pub sex: Option<String>,
    /// Street (and second line), city, jurisdiction, postal code, joined by `", "`.
    pub address: Option<String>,
    /// Every element found, in payload order, jurisdiction subfiles included: (id, trimmed value).
    pub elements: Vec<(String, String)>,
}

/// Masked, as every type holding a document number prints; without the address.
impl std::fmt::Debug for Licence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Licence")
            .field("version", &self.version)
            .field("issuer_id", &self.issuer_id)
            .field("subfile_type", &self.subfile_type)
            .field("jurisdiction", &self.jurisdiction)
            .field("country", &self.country)
            .field(
                "document_number",
                &self.document_number.as_deref().map(masked_number),
            )
            .field("surname", &self.surname)
            .field("given_names", &self.given_names)
            .field("suffix", &self.suffix)
            .field("birth_date", &self.birth_date)
            .field("expiry_date", &self.expiry_date)
            .field("issue_date", &self.issue_date)
            .field("sex", &self.sex)
            // The address and the raw elements (the number among them) are left out.
            .finish_non_exhaustive()
    }
}

impl Licence {
    /// The holder's identity. Every present value has confidence 1.0: a PDF417 barcode either
    /// decodes byte-exactly (its error correction is all-or-nothing) or not at all.
    pub fn identity(&self) -> Identity {
        fn sure<T>(value: T) -> Field<T> {
            Field::new(value, 1.0, Source::Barcode)
        }
        let kind = if self.subfile_type == "ID" {
            "id_card"
        } else {
            "driver_license"
        };
        Identity {
            document_type: Some(sure(kind.to_string())),
            document_number: self.document_number.clone().map(sure),
            issuing_country: self.country.clone().map(sure),
            surname: self.surname.clone().map(sure),
            given_names: self.given_names.clone().map(sure),
            // Licences do not record nationality.
            nationality: None,
            birth_date: self.birth_date.map(sure),
            sex: self.sex.clone().map(sure),
            expiry_date: self.expiry_date.map(sure),
            address: self.address.clone().map(sure),
        }
    }
}

/// Parses a decoded AAMVA DL/ID barcode payload.
pub fn parse(payload: &str) -> Result<Licence, AamvaError> {
    let header = read_header(payload)?;
    let body = payload.get(header.end..).unwrap_or("");
    if clean(body).is_empty() {
        return Err(AamvaError::Truncated);
    }
    let data = read_elements(payload, &header);

    // A reader that lost part of the barcode leaves a payload shorter than its header declares.
    // Declared lengths are off by a few bytes in real payloads (and CR LF normalised to LF loses
    // one byte per element), so only a payload missing more than half of its DL/ID subfile counts
    // as truncated; a shorter loss yields what is there. Some issuers declare lengths far off
    // too: a payload whose essential elements were all read, none of them the last (which a cut
    // may have ended inside), stands whatever its header declares.
    let declared = header
        .designators
        .iter()
        .find(|d| is_document_subfile(&d.kind));
    if let Some(d) = declared
        && let (Some(offset), Some(length)) = (d.offset, d.length)
        && payload.len().saturating_sub(header.base) < offset.saturating_add(length / 2)
        && !essentials_read(&data.document)
    {
        return Err(AamvaError::Truncated);
    }
    if data.document.is_empty() {
        return Err(AamvaError::NoSubfile);
    }
    Ok(derive(&header, data))
}

/// Whether a DL/ID subfile's elements hold a document number, a name, a birth date and an
/// expiry date, each followed by another element.
fn essentials_read(document: &[(String, String)]) -> bool {
    let Some((_, before_last)) = document.split_last() else {
        return false;
    };
    let has = |ids: &[&str]| {
        before_last
            .iter()
            .any(|(id, value)| ids.contains(&id.as_str()) && present(value).is_some())
    };
    has(&["DAQ"]) && has(&["DCS", "DAB", "DAA"]) && has(&["DBB"]) && has(&["DBA"])
}

/// The record separator (RS) of the header.
const RS: char = '\u{1e}';
/// How far into the payload the file type may start: past a byte-order mark, `@` and separators
/// that decoders sometimes expand into several characters each.
const HEADER_SEARCH: usize = 64;
/// How far from its declared offset a subfile is looked for: real offsets are a few bytes off.
const OFFSET_SLACK: usize = 12;

struct Header {
    /// Byte index of the compliance indicator `@`; subfile offsets count from it.
    base: usize,
    iin: String,
    version: u8,
    /// The data element separator the header declares, when it is not one of LF, CR, RS already
    /// split on and could not be mistaken for text (one MA sample went through a tool that turned
    /// the separators into `|`).
    separator: Option<char>,
    designators: Vec<Designator>,
    /// Byte index just past the last well-formed subfile designator.
    end: usize,
}

struct Designator {
    kind: String,
    offset: Option<usize>,
    length: Option<usize>,
}

fn read_header(text: &str) -> Result<Header, AamvaError> {
    let b = text.as_bytes();
    let marker = ["ANSI ", "AAMVA"]
        .iter()
        .filter_map(|m| text.find(m))
        .filter(|&p| p <= HEADER_SEARCH)
        .min()
        .ok_or(AamvaError::NotAamva)?;
    let at = text.get(..marker).and_then(|pre| pre.rfind('@'));
    // Without `@` the offsets cannot be anchored exactly; the standard puts the file type 4 bytes
    // after it.
    let base = at.unwrap_or(marker.saturating_sub(4));
    let separator = at
        .and_then(|a| text.get(a + 1..))
        .and_then(|rest| rest.chars().next())
        .filter(|&c| {
            !matches!(c, '\n' | '\r' | RS)
                && (c.is_control() || matches!(c, '|' | '~' | '^' | '\\' | '`' | '{' | '}'))
        });

    let mut p = marker + 5;
    // Checked for digits only: kept as text, as issuer ids are identifiers, not quantities.
    number(b, p, 6)?.ok_or(AamvaError::NotAamva)?;
    p += 6;
    let version = number(b, p, 2)?.ok_or(AamvaError::NotAamva)?;
    p += 2;
    // The standard has a jurisdiction version from version 2 on; some payloads disagree with their
    // own version, so go by shape: two digits before the first designator type are the number of
    // entries alone, four are jurisdiction version and number of entries.
    let has_jurisdiction_version = if digits(b, p, 4) && upper(b, p + 4) && upper(b, p + 5) {
        true
    } else if digits(b, p, 2) && upper(b, p + 2) && upper(b, p + 3) {
        false
    } else {
        version >= 2
    };
    if has_jurisdiction_version {
        number(b, p, 2)?;
        p += 2;
    }
    let entries = number(b, p, 2)?.unwrap_or(0);
    p += 2;

    let mut designators: Vec<Designator> = Vec::new();
    for _ in 0..entries {
        let rest = b.get(p..).unwrap_or_default();
        if rest.len() < 10 {
            // A payload that stops inside a designator is cut; anything else (a miscounted
            // number of entries followed by a short body) is left to the subfile search.
            let prefix_of_designator = rest.iter().enumerate().all(|(i, c)| {
                if i < 2 {
                    c.is_ascii_uppercase()
                } else {
                    c.is_ascii_digit()
                }
            });
            if prefix_of_designator {
                return Err(AamvaError::Truncated);
            }
            break;
        }
        if !(upper(b, p) && upper(b, p + 1)) {
            break;
        }
        let kind = text.get(p..p + 2).unwrap_or_default().to_string();
        let offset = number(b, p + 2, 4)?;
        let length = number(b, p + 6, 4)?;
        if offset.is_none() || length.is_none() {
            // Garbled (an Alberta sample has `DLabac`): keep the type, and let the subfile search
            // start here, as the designator's true extent is unknown.
            if !designators.iter().any(|d| d.kind == kind) {
                designators.push(Designator {
                    kind,
                    offset: None,
                    length: None,
                });
            }
            break;
        }
        designators.push(Designator {
            kind,
            offset,
            length,
        });
        p += 10;
    }

    Ok(Header {
        base,
        iin: text
            .get(marker + 5..marker + 11)
            .unwrap_or_default()
            .to_string(),
        version: u8::try_from(version).unwrap_or(u8::MAX),
        separator,
        designators,
        end: p,
    })
}

/// `n` ASCII digits at `at` as a number: `Ok(None)` if they are not all digits, `Truncated` if the
/// payload ends first.
fn number(b: &[u8], at: usize, n: usize) -> Result<Option<usize>, AamvaError> {
    let field = b
        .get(at..at.saturating_add(n))
        .ok_or(AamvaError::Truncated)?;
    Ok(field.iter().try_fold(0usize, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + usize::from(c - b'0'))
    }))
}

fn digits(b: &[u8], at: usize, n: usize) -> bool {
    b.get(at..at.saturating_add(n))
        .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
}

fn upper(b: &[u8], at: usize) -> bool {
    b.get(at).is_some_and(u8::is_ascii_uppercase)
}

fn is_separator(c: char, declared: Option<char>) -> bool {
    matches!(c, '\n' | '\r' | RS) || Some(c) == declared
}

/// Subfiles whose elements are the document's own (`D…`), as opposed to jurisdiction ones (`Z…`).
fn is_document_subfile(kind: &str) -> bool {
    !kind.starts_with('Z')
}

/// Whether a subfile of type `kind` starts at byte `at`: its type followed by its first element
/// (`DLDAQ…`, `ZVZVA…`) or, if `bare` is allowed, by a separator (`DL\nDCA…`).
fn subfile_at(text: &str, at: usize, kind: &str, declared: Option<char>, bare: bool) -> bool {
    let b = text.as_bytes();
    if kind.len() != 2 || b.get(at..at + 2) != Some(kind.as_bytes()) {
        return false;
    }
    let next = at + 2;
    if bare
        && text
            .get(next..)
            .and_then(|r| r.chars().next())
            .is_some_and(|c| is_separator(c, declared))
    {
        return true;
    }
    if is_document_subfile(kind) {
        data_element_at(b, next)
    } else {
        // Jurisdiction elements repeat the subfile type: `ZV` holds `ZVA`, `ZVB`, …
        b.get(next..next + 2) == Some(kind.as_bytes()) && upper(b, next + 2)
    }
}

/// A DL/ID data element id (`DAQ`, `DCS`, …) at byte `at`.
fn data_element_at(b: &[u8], at: usize) -> bool {
    b.get(at) == Some(&b'D') && upper(b, at + 1) && upper(b, at + 2)
}

/// Trims padding, control characters (some decoders emit C1 controls such as U+0090 around
/// every element) and byte-order marks.
fn clean(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c.is_control() || c == '\u{feff}')
}

struct Elements {
    /// Every element, in order.
    all: Vec<(String, String)>,
    /// The DL/ID subfile's data elements.
    document: Vec<(String, String)>,
    /// Type of the subfile `document` came from.
    kind: String,
}

fn read_elements(text: &str, header: &Header) -> Elements {
    let sep = header.separator;
    let start = header.end;
    let declared_document = header
        .designators
        .iter()
        .map(|d| d.kind.as_str())
        .find(|k| is_document_subfile(k));
    let mut kinds: Vec<&str> = header.designators.iter().map(|d| d.kind.as_str()).collect();
    kinds.extend(["DL", "ID"]);
    let document_kinds: Vec<&str> = declared_document.into_iter().chain(["DL", "ID"]).collect();

    // Byte positions where a subfile starts; the body is cut there as well as at separators.
    let mut cuts = Vec::new();
    if document_kinds
        .iter()
        .any(|k| subfile_at(text, start, k, sep, true))
    {
        cuts.push(start);
    } else if !data_element_at(text.as_bytes(), start) {
        // Not right after the header (garbled designators, a miscounted number of entries):
        // the first place that looks like the start of the DL/ID subfile.
        let found = (start..text.len()).find(|&i| {
            document_kinds
                .iter()
                .any(|k| subfile_at(text, i, k, sep, false))
        });
        cuts.extend(found);
    }
    // Other subfiles near their declared offsets. This is what splits a subfile from the one
    // before when the separator between them was lost (IN, WI: `DDB09212009MZIZIC457`).
    for d in &header.designators {
        let Some(offset) = d.offset else { continue };
        let expected = header.base.saturating_add(offset);
        let found = (0..=OFFSET_SLACK)
            .flat_map(|delta| [expected.checked_sub(delta), expected.checked_add(delta)])
            .flatten()
            .find(|&i| i >= start && subfile_at(text, i, &d.kind, sep, false));
        cuts.extend(found);
    }
    cuts.sort_unstable();
    cuts.dedup();

    let mut current = declared_document.unwrap_or("DL").to_string();
    let mut out = Elements {
        all: Vec::new(),
        document: Vec::new(),
        kind: current.clone(),
    };
    for token in tokens(text, start, &cuts, sep) {
        let mut token = clean(token);
        if let Some((kind, rest)) = split_subfile_prefix(token, &kinds) {
            current = kind.to_string();
            token = rest;
        }
        let Some(id) = token
            .get(..3)
            .filter(|id| id.bytes().all(|c| c.is_ascii_uppercase()))
        else {
            // Padding, an empty line, or trailing garbage (PR ends in a run of `8`s).
            continue;
        };
        let value = clean(token.get(3..).unwrap_or_default());
        if is_document_subfile(&current) && id.starts_with('D') {
            if out.document.is_empty() {
                out.kind.clone_from(&current);
            }
            out.document.push((id.to_string(), value.to_string()));
        }
        out.all.push((id.to_string(), value.to_string()));
    }
    out
}

/// The body from `from`, split at separators and at the `cuts` byte positions.
fn tokens<'a>(text: &'a str, from: usize, cuts: &[usize], sep: Option<char>) -> Vec<&'a str> {
    let mut out = Vec::new();
    let Some(body) = text.get(from..) else {
        return out;
    };
    let mut start = 0;
    for (i, c) in body.char_indices() {
        if is_separator(c, sep) {
            out.push(body.get(start..i).unwrap_or_default());
            start = i + c.len_utf8();
        } else if i > start && cuts.contains(&(from + i)) {
            out.push(body.get(start..i).unwrap_or_default());
            start = i;
        }
    }
    out.push(body.get(start..).unwrap_or_default());
    out
}

/// A token that opens a subfile: its type, then its first element (or nothing).
fn split_subfile_prefix<'a>(token: &'a str, kinds: &[&str]) -> Option<(&'a str, &'a str)> {
    let kind = token
        .get(..2)
        .filter(|k| k.bytes().all(|c| c.is_ascii_uppercase()))?;
    let rest = token.get(2..)?;
    let b = rest.as_bytes();
    let opens = if !is_document_subfile(kind) {
        // Undeclared jurisdiction subfiles too: `ZxZx…` cannot be anything else.
        rest.is_empty() || (rest.starts_with(kind) && upper(b, 2))
    } else {
        kinds.contains(&kind) && (rest.is_empty() || data_element_at(b, 0))
    };
    opens.then_some((kind, rest))
}

fn derive(header: &Header, data: Elements) -> Licence {
    let doc = &data.document;
    let get = |id: &str| -> Option<&str> {
        doc.iter()
            .filter(|(k, _)| k == id)
            .find_map(|(_, v)| present(v))
    };

    let jurisdiction = get("DAJ")
        .or_else(|| get("DAO"))
        .map(str::to_string)
        .or_else(|| issuer(&header.iin).map(|(j, _)| j.to_string()));
    let country = get("DCG")
        .and_then(country_code)
        .or_else(|| issuer(&header.iin).map(|(_, c)| c))
        .or_else(|| {
            let j = jurisdiction.as_deref()?;
            ISSUERS
                .iter()
                .find(|(_, code, _)| *code == j)
                .map(|(_, _, c)| *c)
        })
        .map(str::to_string);

    // Names: AAMVA 2009+ (v4+) has DCS/DAC/DAD; versions 2–3 had DCT (all given names); version 1
    // had the full name in DAA and, in some jurisdictions, family/first/middle in DAB/DAC/DAD.
    // The truncation flags DDE/DDF/DDG only say a name was cut to fit the card; the value stands.
    let full = get("DAA").map(split_full_name).unwrap_or_default();
    let surname = get("DCS")
        .or_else(|| get("DAB"))
        .and_then(surname)
        .or(full.surname);
    let given_names = match get("DAC").and_then(given) {
        Some(first) => Some(join(Some(first), get("DAD").and_then(given))),
        None => get("DCT").and_then(given).or(full.given),
    };
    let suffix = get("DCU").or_else(|| get("DAE")).map(tidy).or(full.suffix);

    // US jurisdictions write MMDDCCYY from version 2 on; Canada and version 1 write CCYYMMDD.
    // Neither rule holds everywhere (NB writes MMDDCCYY, WV and WY CCYYMMDD in version 4), but a
    // plausible year makes the two orders exclusive, so the rule only picks which to try first.
    let year_first = header.version <= 1 || country.as_deref() == Some("CAN");
    let date = |id: &str| get(id).and_then(|v| parse_date(v, year_first));

    Licence {
        version: header.version,
        issuer_id: header.iin.clone(),
        subfile_type: data.kind,
        jurisdiction,
        country,
        document_number: get("DAQ").map(str::to_string),
        surname,
        given_names,
        suffix,
        birth_date: date("DBB"),
        expiry_date: date("DBA"),
        issue_date: date("DBD"),
        sex: get("DBC").and_then(sex),
        address: address(&get),
        elements: data.all,
    }
}

/// A value, unless empty or one of AAMVA's placeholders for "not applicable" / "unavailable".
fn present(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty() && !v.eq_ignore_ascii_case("NONE") && !v.eq_ignore_ascii_case("unavl"))
        .then_some(v)
}

/// Collapses runs of whitespace.
fn tidy(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn join(a: Option<String>, b: Option<String>) -> String {
    [a, b].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

fn surname(s: &str) -> Option<String> {
    // Ontario pads `TESTER,` with a comma.
    let s = tidy(s.trim_matches(|c: char| c == ',' || c.is_whitespace()));
    present(&s).is_some().then_some(s)
}

fn given(s: &str) -> Option<String> {
    // Several middle names, and DCT's first and middle names, are comma-separated.
    let s = tidy(&s.replace(',', " "));
    present(&s).is_some().then_some(s)
}

#[derive(Default)]
struct FullName {
    surname: Option<String>,
    given: Option<String>,
    suffix: Option<String>,
}

/// Version 1's DAA: `LAST,FIRST,MIDDLE,SUFFIX` by the standard; without commas (PA writes
/// `JOHN P SMITH`) the last word is taken as the surname.
fn split_full_name(daa: &str) -> FullName {
    if daa.contains(',') {
        let mut parts = daa.split(',').map(str::trim);
        let last = parts.next().and_then(surname);
        let first = parts.next().and_then(given);
        let middle = parts.next().and_then(given);
        let suffix = parts.next().and_then(present).map(tidy);
        let given = (first.is_some() || middle.is_some()).then(|| join(first, middle));
        FullName {
            surname: last,
            given,
            suffix,
        }
    } else {
        let words: Vec<&str> = daa.split_whitespace().collect();
        match words.split_last() {
            Some((last, [])) => FullName {
                surname: surname(last),
                ..FullName::default()
            },
            Some((last, rest)) => FullName {
                surname: surname(last),
                given: given(&rest.join(" ")),
                suffix: None,
            },
            None => FullName::default(),
        }
    }
}

/// An 8-digit date in either AAMVA order; `year_first` says which to try first.
fn parse_date(value: &str, year_first: bool) -> Option<Date> {
    let s = value.trim();
    if s.len() != 8 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: Range<usize>| s.get(r)?.parse::<u16>().ok();
    let mdy = || date(n(4..8)?, n(0..2)?, n(2..4)?);
    let ymd = || date(n(0..4)?, n(4..6)?, n(6..8)?);
    if year_first {
        ymd().or_else(mdy)
    } else {
        mdy().or_else(ymd)
    }
}

fn date(year: u16, month: u16, day: u16) -> Option<Date> {
    // A year from 1800 on makes the orders exclusive: read in the other order, its first two
    // digits (18–99) would be the month. It also turns placeholders like 00000000 into None.
    if year < 1800 {
        return None;
    }
    Date::new(year, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
}

fn sex(v: &str) -> Option<String> {
    // ANSI D-20 codes, or the letters some jurisdictions write instead.
    let s = match v.trim().to_ascii_uppercase().as_str() {
        "1" | "M" => "M",
        "2" | "F" => "F",
        "9" | "X" => "X",
        _ => return None,
    };
    Some(s.to_string())
}

fn country_code(v: &str) -> Option<&'static str> {
    match v.trim().to_ascii_uppercase().as_str() {
        "USA" | "US" => Some("USA"),
        "CAN" | "CA" => Some("CAN"),
        "MEX" | "MX" => Some("MEX"),
        _ => None,
    }
}

/// Mailing address (DAG–DAK), falling back to the residence address (DAL–DAP) that version 1
/// payloads such as Oregon's use.
fn address<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    let part = |a: &str, b: &str| {
        get(a)
            .or_else(|| get(b))
            .map(|v| tidy(v.trim_end_matches(|c: char| c == ',' || c.is_whitespace())))
            .filter(|v| !v.is_empty())
    };
    let street = part("DAG", "DAL");
    let city = part("DAI", "DAN");
    // Wyoming repeats the city line (`BLUE STREAM, WY  82930`) as the second street line.
    let street2 = part("DAH", "DAM").filter(|s| {
        city.as_deref()
            .is_none_or(|c| !s.to_ascii_uppercase().starts_with(&c.to_ascii_uppercase()))
    });
    let state = part("DAJ", "DAO");
    let postal = part("DAK", "DAP").map(|p| postal_code(&p));
    let parts: Vec<String> = [street, street2, city, state, postal]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// US ZIP codes as `12345` or `12345-6789` (an all-zero +4 is the standard's filler for "unknown");
/// anything else (Canadian codes, odd lengths) as printed.
fn postal_code(raw: &str) -> String {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if compact.len() > 5 && compact.bytes().all(|c| c.is_ascii_digit()) {
        let (zip, plus) = compact.split_at(5);
        if plus.bytes().all(|c| c == b'0') {
            return zip.to_string();
        }
        if plus.len() == 4 {
            return format!("{zip}-{plus}");
        }
    }
    tidy(raw)
}

/// The jurisdiction and country of an issuer identification number.
fn issuer(iin: &str) -> Option<(&'static str, &'static str)> {
    let iin: u32 = iin.parse().ok()?;
    ISSUERS
        .iter()
        .find(|(n, _, _)| *n == iin)
        .map(|(_, j, c)| (*j, *c))
}

/// AAMVA's issuer identification numbers (aamva.org, "IIN and RID"), plus the non-ISO number
/// Alberta's sample cards carry.
const ISSUERS: &[(u32, &str, &str)] = &[
    (604426, "PE", "CAN"),
    (604427, "AS", "USA"),
    (604428, "QC", "CAN"),
    (604429, "YT", "CAN"),
    (604430, "MP", "USA"),
    (604431, "PR", "USA"),
    (604432, "AB", "CAN"),
    (604433, "NU", "CAN"),
    (636000, "VA", "USA"),
    (636001, "NY", "USA"),
    (636002, "MA", "USA"),
    (636003, "MD", "USA"),
    (636004, "NC", "USA"),
    (636005, "SC", "USA"),
    (636006, "CT", "USA"),
    (636007, "LA", "USA"),
    (636008, "MT", "USA"),
    (636009, "NM", "USA"),
    (636010, "FL", "USA"),
    (636011, "DE", "USA"),
    (636012, "ON", "CAN"),
    (636013, "NS", "CAN"),
    (636014, "CA", "USA"),
    (636015, "TX", "USA"),
    (636016, "NL", "CAN"),
    (636017, "NB", "CAN"),
    (636018, "IA", "USA"),
    (636019, "GU", "USA"),
    (636020, "CO", "USA"),
    (636021, "AR", "USA"),
    (636022, "KS", "USA"),
    (636023, "OH", "USA"),
    (636024, "VT", "USA"),
    (636025, "PA", "USA"),
    (636026, "AZ", "USA"),
    (636028, "BC", "CAN"),
    (636029, "OR", "USA"),
    (636030, "MO", "USA"),
    (636031, "WI", "USA"),
    (636032, "MI", "USA"),
    (636033, "AL", "USA"),
    (636034, "ND", "USA"),
    (636035, "IL", "USA"),
    (636036, "NJ", "USA"),
    (636037, "IN", "USA"),
    (636038, "MN", "USA"),
    (636039, "NH", "USA"),
    (636040, "UT", "USA"),
    (636041, "ME", "USA"),
    (636042, "SD", "USA"),
    (636043, "DC", "USA"),
    (636044, "SK", "CAN"),
    (636045, "WA", "USA"),
    (636046, "KY", "USA"),
    (636047, "HI", "USA"),
    (636048, "MB", "CAN"),
    (636049, "NV", "USA"),
    (636050, "ID", "USA"),
    (636051, "MS", "USA"),
    (636052, "RI", "USA"),
    (636053, "TN", "USA"),
    (636054, "NE", "USA"),
    (636055, "GA", "USA"),
    (636056, "COA", "MEX"),
    (636057, "HID", "MEX"),
    (636058, "OK", "USA"),
    (636059, "AK", "USA"),
    (636060, "WY", "USA"),
    (636061, "WV", "USA"),
    (636062, "VI", "USA"),
    (990876, "AB", "CAN"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TESTDATA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/aamva"
    );

    /// The AAMVA 2020 standard's example, stored escaped (`\n`, `\x1e`, `\r`).
    fn virginia() -> String {
        let raw = std::fs::read_to_string(format!("{TESTDATA}/virginia-sample.txt"))
            .expect("virginia-sample.txt");
        raw.trim_end_matches(['\n', '\r'])
            .replace("\\n", "\n")
            .replace("\\x1e", "\u{1e}")
            .replace("\\r", "\r")
    }

    fn payload(name: &str) -> String {
        std::fs::read_to_string(format!("{TESTDATA}/payloads/{name}.txt"))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn licence(name: &str) -> Licence {
        parse(&payload(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    /// One field of a licence as text, by name, for table-driven checks.
    fn field(l: &Licence, name: &str) -> Option<String> {
        let iso = |d: Option<Date>| d.map(|d| d.iso());
        match name {
            "version" => Some(l.version.to_string()),
            "issuer" => Some(l.issuer_id.clone()),
            "subfile" => Some(l.subfile_type.clone()),
            "jurisdiction" => l.jurisdiction.clone(),
            "country" => l.country.clone(),
            "number" => l.document_number.clone(),
            "surname" => l.surname.clone(),
            "given" => l.given_names.clone(),
            "suffix" => l.suffix.clone(),
            "birth" => iso(l.birth_date),
            "expiry" => iso(l.expiry_date),
            "issue" => iso(l.issue_date),
            "sex" => l.sex.clone(),
            "address" => l.address.clone(),
            other => panic!("no field {other}"),
        }
    }

    fn check(what: &str, l: &Licence, want: &[(&str, Option<&str>)]) {
        for (name, value) in want {
            assert_eq!(field(l, name).as_deref(), *value, "{what}: {name}");
        }
    }

    #[test]
    fn virginia_sample() {
        let l = parse(&virginia()).unwrap();
        let printed = format!("{l:?}");
        assert!(
            !printed.contains("T64235789") && printed.contains("•••789"),
            "{printed}"
        );
        check(
            "virginia sample",
            &l,
            &[
                ("version", Some("10")),
                ("issuer", Some("636000")),
                ("subfile", Some("DL")),
                ("jurisdiction", Some("VA")),
                ("country", Some("USA")),
                ("number", Some("T64235789")),
                ("surname", Some("SAMPLE")),
                ("given", Some("MICHAEL JOHN")),
                ("suffix", Some("JR")),
                ("birth", Some("1986-06-06")),
                ("expiry", Some("2024-12-10")),
                ("issue", Some("2019-06-06")),
                ("sex", Some("M")),
                // DAK is `232690000  `: the all-zero ZIP+4 is the standard's "unknown" filler.
                (
                    "address",
                    Some("2300 WEST BROAD STREET, RICHMOND, VA, 23269"),
                ),
            ],
        );
        // 28 DL elements, then the jurisdiction subfile's one.
        assert_eq!(l.elements.len(), 29);
        assert_eq!(
            l.elements.first(),
            Some(&("DAQ".to_string(), "T64235789".to_string()))
        );
        assert_eq!(
            l.elements.last(),
            Some(&("ZVA".to_string(), "01".to_string()))
        );

        let id = l.identity();
        let text = |f: &Option<Field<String>>| f.as_ref().map(|f| f.value.clone());
        assert_eq!(text(&id.document_type).as_deref(), Some("driver_license"));
        assert_eq!(text(&id.document_number).as_deref(), Some("T64235789"));
        assert_eq!(text(&id.issuing_country).as_deref(), Some("USA"));
        assert_eq!(text(&id.surname).as_deref(), Some("SAMPLE"));
        assert_eq!(text(&id.given_names).as_deref(), Some("MICHAEL JOHN"));
        assert_eq!(text(&id.sex).as_deref(), Some("M"));
        assert_eq!(id.nationality, None);
        let birth = id.birth_date.unwrap();
        assert_eq!(birth.value, Date::new(1986, 6, 6).unwrap());
        assert_eq!((birth.confidence, birth.source), (1.0, Source::Barcode));
        assert_eq!(
            id.expiry_date.unwrap().value,
            Date::new(2024, 12, 10).unwrap()
        );
        assert!(
            id.address
                .unwrap()
                .value
                .starts_with("2300 WEST BROAD STREET")
        );
    }

    #[test]
    fn virginia_sample_without_compliance_indicator() {
        // Some readers drop the `@` and separators before the file type.
        let v = virginia();
        let l = parse(v.trim_start_matches(['@', '\n', '\u{1e}', '\r'])).unwrap();
        assert_eq!(l.document_number.as_deref(), Some("T64235789"));
        assert_eq!(l.birth_date, Date::new(1986, 6, 6));
    }

    #[test]
    fn every_payload() {
        let dir = format!("{TESTDATA}/payloads");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("payloads dir")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 65, "{names:?}");
        // New York's sample is a specimen with placeholders: DAQ is `NONE`, and birth, issue
        // and expiry are all 08312013.
        let placeholder_sample = ["NY"];
        for name in &names {
            let l = licence(name);
            let birth = l.birth_date.unwrap_or_else(|| panic!("{name}: birth"));
            let expiry = l.expiry_date.unwrap_or_else(|| panic!("{name}: expiry"));
            assert!((1900..=2025).contains(&birth.year), "{name}: {birth:?}");
            assert!(l.surname.is_some(), "{name}: surname");
            assert!(l.given_names.is_some(), "{name}: given names");
            assert!(l.sex.is_some(), "{name}: sex");
            assert!(l.address.is_some(), "{name}: address");
            assert!(l.jurisdiction.is_some(), "{name}: jurisdiction");
            assert!(
                matches!(l.country.as_deref(), Some("USA" | "CAN")),
                "{name}: {:?}",
                l.country
            );
            assert!(l.version <= 10, "{name}: version {}", l.version);
            assert_eq!(l.issuer_id.len(), 6, "{name}");
            if placeholder_sample.contains(&name.as_str()) {
                assert_eq!(l.document_number, None, "{name}");
                assert_eq!(birth, expiry, "{name}");
            } else {
                assert!(l.document_number.is_some(), "{name}: document number");
                assert!(birth < expiry, "{name}: {birth:?} !< {expiry:?}");
            }
        }
    }

    #[test]
    fn payload_fields() {
        type Want = &'static [(&'static str, Option<&'static str>)];
        let cases: &[(&str, Want)] = &[
            // Garbled designator (`DLabac`), non-ISO issuer id, no DCG: Canada from the id.
            (
                "AB",
                &[
                    ("number", Some("123400-056")),
                    ("surname", Some("MOTORIST")),
                    ("given", Some("MARY SMITH")),
                    ("country", Some("CAN")),
                    (
                        "address",
                        Some("123 MAPLE LEAF TERR SW, CALGARY, AB, T4G 7A7"),
                    ),
                ],
            ),
            // Version 1: full name in DAA, suffix in its fourth part.
            (
                "CT Suffix",
                &[
                    ("version", Some("1")),
                    ("surname", Some("CORTEZ")),
                    ("given", Some("PABLO")),
                    ("suffix", Some("JR")),
                    ("birth", Some("1976-10-07")),
                ],
            ),
            (
                "CT Multiple Middle Names",
                &[
                    ("given", Some("PABLO LUIS RODRIGUEZ")),
                    ("suffix", Some("JR")),
                ],
            ),
            // Pennsylvania's version 1 DAA has no commas: FIRST MIDDLE… LAST.
            (
                "PA Three Middle Names",
                &[
                    ("surname", Some("SMITH")),
                    ("given", Some("JOHN ROBERT LEE JOHNSON")),
                ],
            ),
            (
                "PA",
                &[("surname", Some("SMITH")), ("given", Some("JOHN P"))],
            ),
            (
                "LA",
                &[
                    ("surname", Some("JONES")),
                    ("given", Some("MARCIA MOTORIST")),
                ],
            ),
            // `SMITH, MARY JONES`, and the residence address (DAL) instead of an empty DAG.
            (
                "OR",
                &[
                    ("surname", Some("SMITH")),
                    ("given", Some("MARY JONES")),
                    ("address", Some("4455 SE 25TH ST, CORVALLIS, OR, 97330")),
                ],
            ),
            // Version 3 DCT with comma-separated names; `TESTER,` padded with a comma.
            (
                "ON",
                &[
                    ("surname", Some("TESTER")),
                    ("given", Some("MARY ANN")),
                    ("birth", Some("1996-06-03")),
                    ("address", Some("123 ST GEORGE ST E, FERGUS, ON, N1M 3J6")),
                ],
            ),
            ("VA", &[("given", Some("JUSTIN WILLIAM"))]),
            ("MI", &[("given", Some("ROBERT")), ("country", Some("USA"))]),
            // Canadian, yet MMDDCCYY.
            (
                "NB",
                &[
                    ("country", Some("CAN")),
                    ("birth", Some("1962-08-08")),
                    ("expiry", Some("2021-08-08")),
                ],
            ),
            // US version 4, yet CCYYMMDD; no `DL` before the first element.
            (
                "WV",
                &[
                    ("birth", Some("1972-11-03")),
                    ("expiry", Some("2022-11-03")),
                    ("address", Some("518 S RANDOM STREET, ANYTOWN, WV, 12345")),
                ],
            ),
            (
                "WY",
                &[
                    ("surname", Some("O NEIL")),
                    ("given", Some("MOTORIST E")),
                    ("address", Some("1234 MAIN WAY, BLUE STREAM, WY, 82930")),
                ],
            ),
            // Separators turned into `|`.
            (
                "MA Piped",
                &[
                    ("number", Some("S65807412")),
                    ("given", Some("ROBERT LOWNEY")),
                    ("address", Some("123 MAIN STREET, BOSTON, MA, 02108")),
                ],
            ),
            ("MA No Middle Name", &[("given", Some("TONY"))]),
            // Every element wrapped in U+0090.
            (
                "CT Undefined Characters",
                &[
                    ("number", Some("123456780")),
                    ("surname", Some("MOTORIST")),
                    ("given", Some("WENDY SMITH")),
                    ("birth", Some("1966-01-26")),
                ],
            ),
            (
                "TN-ID",
                &[("subfile", Some("ID")), ("number", Some("115775955"))],
            ),
            (
                "GA",
                &[("suffix", Some("PH.D.")), ("given", Some("JANICE"))],
            ),
            (
                "CO 2013",
                &[("suffix", Some("SR")), ("given", Some("JANE LYNN"))],
            ),
            ("DE", &[("given", Some("MOTORIST")), ("suffix", None)]),
            (
                "AR",
                &[("address", Some("321 MAIN ST, HOT SPRINGS, AR, 71901-4455"))],
            ),
            (
                "PE",
                &[
                    ("issuer", Some("604426")),
                    ("country", Some("CAN")),
                    ("birth", Some("1955-09-04")),
                ],
            ),
            (
                "PR",
                &[("surname", Some("ORTIZ ORTIZ")), ("country", Some("USA"))],
            ),
            ("NY", &[("number", None), ("given", Some("M Motorist"))]),
        ];
        for (name, want) in cases {
            check(name, &licence(name), want);
        }
    }

    #[test]
    fn alberta_dates_are_year_first() {
        let l = licence("AB");
        assert_eq!(l.birth_date, Date::new(1993, 2, 4)); // DBB19930204
        assert_eq!(l.expiry_date, Date::new(2019, 1, 8)); // DBA20190108
    }

    #[test]
    fn same_licence_whatever_the_separators() {
        assert_eq!(licence("MA Piped"), licence("MA 2009"));
        assert_eq!(licence("CT Web Browser"), licence("CT"));
    }

    #[test]
    fn subfile_split_at_its_declared_offset() {
        // Indiana's payload lost the CR between the DL and ZI subfiles (`DDB09212009MZIZIC457`).
        let l = licence("IN");
        let get = |id: &str| {
            l.elements
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("DDB"), Some("09212009M"));
        assert_eq!(get("ZIC"), Some("457"));
    }

    #[test]
    fn identity_of_an_id_card() {
        let id = licence("TN-ID").identity();
        assert_eq!(id.document_type.unwrap().value, "id_card");
        assert_eq!(id.issuing_country.unwrap().value, "USA");
    }

    #[test]
    fn dates() {
        let d = |y, m, day| Date::new(y, m, day);
        let cases = [
            ("12102024", false, d(2024, 12, 10)),
            ("12102024", true, d(2024, 12, 10)),
            ("20241210", false, d(2024, 12, 10)),
            ("20241210", true, d(2024, 12, 10)),
            ("02292024", false, d(2024, 2, 29)),
            ("02292023", false, None),
            ("00000000", false, None),
            ("99999999", false, None),
            ("2024121", false, None),
            ("2024-12-10", false, None),
            ("", false, None),
        ];
        for (text, year_first, want) in cases {
            assert_eq!(parse_date(text, year_first), want, "{text}");
        }
    }

    #[test]
    fn sexes() {
        for (code, want) in [
            ("1", Some("M")),
            ("2", Some("F")),
            ("9", Some("X")),
            ("M", Some("M")),
            ("f", Some("F")),
            ("0", None),
            ("", None),
        ] {
            assert_eq!(sex(code).as_deref(), want, "{code}");
        }
    }

    #[test]
    fn postal_codes() {
        for (raw, want) in [
            ("232690000  ", "23269"),
            ("360931234", "36093-1234"),
            ("85641-4321", "85641-4321"),
            ("71901 4455 ", "71901-4455"),
            ("96826     0", "96826"),
            ("0210800000  ", "02108"),
            ("633011", "633011"),
            ("00783", "00783"),
            ("T4G 7A7", "T4G 7A7"),
            ("E5K 1Y3    ", "E5K 1Y3"),
        ] {
            assert_eq!(postal_code(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn a_whole_payload_under_a_header_declaring_too_much_stands() {
        let v = virginia();
        assert!(v.contains("DL00410278"), "the sample's DL designator");
        let overstated = v.replacen("DL00410278", "DL00419999", 1);
        let l = parse(&overstated).expect("every element is there");
        assert_eq!(l, parse(&v).unwrap());
    }

    #[test]
    fn errors() {
        let v = virginia();
        let cases: Vec<(String, AamvaError)> = vec![
            (String::new(), AamvaError::NotAamva),
            ("hello, world".into(), AamvaError::NotAamva),
            ("ANSI C is a standard".into(), AamvaError::NotAamva),
            (
                format!("{}ANSI 636000100102", "x".repeat(80)),
                AamvaError::NotAamva,
            ),
            ("@\n\u{1e}\rANSI 63600".into(), AamvaError::Truncated),
            ("@\n\u{1e}\rANSI 6360001001".into(), AamvaError::Truncated),
            (
                "@\n\u{1e}\rANSI 636000100102DL0041".into(),
                AamvaError::Truncated,
            ),
            // The header and nothing else.
            (v.get(..41).unwrap().into(), AamvaError::Truncated),
            // Less than half of the 278 bytes the header declares for the DL subfile.
            (v.get(..150).unwrap().into(), AamvaError::Truncated),
            // The same cut under a header declaring far more: still missing what matters.
            (
                v.get(..150)
                    .unwrap()
                    .replacen("DL00410278", "DL00419999", 1),
                AamvaError::Truncated,
            ),
            // Only a jurisdiction subfile.
            (
                "@\n\u{1e}\rANSI 636000100101ZV00310008ZVZVA01\r".into(),
                AamvaError::NoSubfile,
            ),
            (
                "@\n\u{1e}\rANSI 636000100101DL00310010hello world".into(),
                AamvaError::NoSubfile,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&text), Err(want), "{text:?}");
        }
        assert_eq!(AamvaError::NotAamva.code(), "aamva_header_missing");
        assert_eq!(AamvaError::Truncated.code(), "aamva_truncated");
        assert_eq!(AamvaError::NoSubfile.code(), "aamva_subfile_missing");
    }

    #[test]
    fn every_cut_of_the_sample() {
        let v = virginia();
        let whole = parse(&v).unwrap();
        let mut first_read = None;
        for cut in (0..=v.len()).filter(|&c| v.is_char_boundary(c)) {
            let result = parse(&v[..cut]);
            match cut {
                // `@`, separators, and not yet the whole `ANSI `.
                0..9 => assert_eq!(result, Err(AamvaError::NotAamva), "cut {cut}"),
                // Inside the header, or less than half of the DL subfile (41 + 278 / 2): truncated,
                // unless the essentials were read whole (then they are the sample's own).
                9..180 => match result {
                    Err(error) => assert_eq!(error, AamvaError::Truncated, "cut {cut}"),
                    Ok(l) => {
                        first_read.get_or_insert(cut);
                        for name in ["number", "surname", "given", "birth", "expiry"] {
                            assert_eq!(field(&l, name), field(&whole, name), "cut {cut}");
                        }
                    }
                },
                _ => assert!(result.is_ok(), "cut {cut}: {result:?}"),
            }
        }
        // The header, names and dates take more than the first 150 bytes.
        assert!(first_read.is_some_and(|cut| cut > 150), "{first_read:?}");
    }

    fn soup_part() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("DL".to_string()),
            Just("ID".to_string()),
            Just("ZV".to_string()),
            Just("DBB".to_string()),
            Just("ANSI ".to_string()),
            Just("@".to_string()),
            Just("\n".to_string()),
            Just("\r".to_string()),
            Just("\u{1e}".to_string()),
            Just("|".to_string()),
            Just("\u{90}".to_string()),
            Just("é".to_string()),
            "D[A-Z]{2}",
            "Z[A-Z]{2}",
            "[0-9]{1,10}",
            "\\PC{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_after_a_header(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            // Bytes as a decoder would hand them over when it maps them one to one to chars.
            let tail: String = bytes.iter().map(|&b| char::from(b)).collect();
            for head in [
                "@\n\u{1e}\rANSI ",
                "@\n\u{1e}\rANSI 636000100102",
                "@\n\u{1e}\rAAMVA6360060101",
                "@\n\u{1e}\rANSI 636000100102DL00410278ZV03190008",
                "@\n\u{1e}\rANSI 636000100102DL00410278ZV03190008DL",
            ] {
                let _ = parse(&format!("{head}{tail}"));
            }
        }

        #[test]
        fn never_panics_on_element_soup(parts in prop::collection::vec(soup_part(), 0..80)) {
            let body = parts.concat();
            let _ = parse(&format!("@\n\u{1e}\rANSI 636000100102DL00410278ZV03190008{body}"));
            let _ = parse(&format!("@|\u{1e}|ANSI 6360060101DL0029{body}"));
        }

        #[test]
        fn never_panics_on_a_damaged_sample(at in any::<prop::sample::Index>(), c in any::<char>(), cut in any::<prop::sample::Index>()) {
            let mut v = virginia();
            let at = at.index(v.len() + 1);
            if v.is_char_boundary(at) {
                v.insert(at, c);
            }
            let cut = cut.index(v.len() + 1);
            let _ = parse(v.get(..cut).unwrap_or(&v));
        }
    }
}
