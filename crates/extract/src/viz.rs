//! The visual inspection zone (ICAO 9303's VIZ): the fields a document prints for people, each
//! under or beside a label. Read when a photo has neither a machine-readable zone nor a barcode
//! (an identity card without a zone, a page whose zone is cut off or covered).
//!
//! Works on OCR lines and their boxes. A line whose words name a field, in one of the languages
//! documents print their labels in, is a label ([`label`]); its value is the nearest line below
//! it that starts where it starts, else the nearest line to its right on the same row, else
//! what follows a colon on the label's own line. Each value is parsed by what its field holds
//! (a name, a date, a document number). Nothing checks a value the way an MRZ's check digit
//! does, so each field's confidence is its line's, scaled by [`VIZ_CONFIDENCE_SCALE`].

use crate::ocr::Line;
use crate::{Date, Field, Identity, Source, mrz};

/// A value read from the visual zone is trusted less than the OCR's confidence in its
/// characters: its label may have been paired with the wrong line.
pub const VIZ_CONFIDENCE_SCALE: f32 = 0.8;

/// What a label names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Surname,
    GivenNames,
    DocumentNumber,
    IssuingCountry,
    Nationality,
    BirthDate,
    Sex,
    ExpiryDate,
    Address,
    /// A field we do not report (place of birth, date of issue, authority, type, personal
    /// number): its value must not be taken for another field's.
    Other,
}

/// Labels as words (lower case, without diacritics), in the languages of the documents we have
/// seen. A line's words are matched left to right, the longest label first, so `place of
/// birth` is not a birth date and `given name` is not a surname.
const LABELS: &[(Kind, &[&str])] = &[
    // Fields we do not report, whose labels share words with those we do.
    (Kind::Other, &["place", "of", "birth"]),
    (Kind::Other, &["lieu", "de", "naissance"]),
    (Kind::Other, &["lugar", "de", "nacimiento"]),
    (Kind::Other, &["luogo", "di", "nascita"]),
    (Kind::Other, &["miejsce", "urodzenia"]),
    (Kind::Other, &["misto", "narozeni"]),
    (Kind::Other, &["kraj", "rojstva"]),
    (Kind::Other, &["mjesto", "rodenja"]),
    (Kind::Other, &["geburtsort"]),
    (Kind::Other, &["birthplace"]),
    (Kind::Other, &["country", "of", "birth"]),
    (Kind::Other, &["category"]),
    (Kind::Other, &["syntymapaikka"]),
    (Kind::Other, &["geboorteplaats"]),
    (Kind::Other, &["fodelseort"]),
    (Kind::Other, &["date", "of", "issue"]),
    (Kind::Other, &["issue"]),
    (Kind::Other, &["issued"]),
    (Kind::Other, &["delivrance"]),
    (Kind::Other, &["expedicion"]),
    (Kind::Other, &["ausstellungsdatum"]),
    (Kind::Other, &["rilascio"]),
    (Kind::Other, &["wydania"]),
    (Kind::Other, &["myontamispaiva"]),
    (Kind::Other, &["afgifte"]),
    (Kind::Other, &["vydani"]),
    (Kind::Other, &["authority"]),
    (Kind::Other, &["autorite"]),
    (Kind::Other, &["autoridad"]),
    (Kind::Other, &["behorde"]),
    (Kind::Other, &["personal", "no"]),
    (Kind::Other, &["personal", "number"]),
    (Kind::Other, &["personal", "code"]),
    (Kind::Other, &["personnel"]),
    // On a passport, the holder's national identity number, not the document's.
    (Kind::Other, &["id", "no"]),
    (Kind::Other, &["id", "number"]),
    (Kind::Other, &["prenume", "parinti"]),
    (Kind::Other, &["type"]),
    (Kind::Other, &["height"]),
    (Kind::Other, &["signature"]),
    (Kind::IssuingCountry, &["country", "code"]),
    (Kind::IssuingCountry, &["code", "of", "issuing", "state"]),
    (Kind::IssuingCountry, &["code", "du", "pays"]),
    (Kind::IssuingCountry, &["code", "pays"]),
    (Kind::IssuingCountry, &["codigo", "del", "pais"]),
    (Kind::Other, &["code"]),
    (Kind::GivenNames, &["secondary", "identifier"]),
    (Kind::GivenNames, &["identifiant", "secondaire"]),
    (Kind::GivenNames, &["prenume"]),
    (Kind::GivenNames, &["given", "names"]),
    (Kind::GivenNames, &["given", "name"]),
    (Kind::GivenNames, &["first", "names"]),
    (Kind::GivenNames, &["first", "name"]),
    (Kind::GivenNames, &["forenames"]),
    (Kind::GivenNames, &["forename"]),
    (Kind::GivenNames, &["prenoms"]),
    (Kind::GivenNames, &["prenom"]),
    (Kind::GivenNames, &["nombres"]),
    (Kind::GivenNames, &["nombre"]),
    (Kind::GivenNames, &["vornamen"]),
    (Kind::GivenNames, &["vorname"]),
    (Kind::GivenNames, &["nome"]),
    (Kind::GivenNames, &["nomi"]),
    (Kind::GivenNames, &["imiona"]),
    (Kind::GivenNames, &["imie"]),
    (Kind::GivenNames, &["etunimet"]),
    (Kind::GivenNames, &["fornamn"]),
    (Kind::GivenNames, &["voornamen"]),
    (Kind::GivenNames, &["jmena"]),
    (Kind::GivenNames, &["jmeno"]),
    (Kind::GivenNames, &["ime"]),
    (Kind::Surname, &["primary", "identifier"]),
    (Kind::Surname, &["identifiant", "principal"]),
    (Kind::Surname, &["identifiant", "primaire"]),
    // `Name (Last, First)`: a whole name, its surname first.
    (Kind::Surname, &["name", "last", "first"]),
    (Kind::Surname, &["nom", "de", "famille"]),
    (Kind::Surname, &["nume"]),
    (Kind::Surname, &["last", "name"]),
    (Kind::Surname, &["family", "name"]),
    (Kind::Surname, &["surname"]),
    (Kind::Surname, &["surnames"]),
    (Kind::Surname, &["nom"]),
    (Kind::Surname, &["apellidos"]),
    (Kind::Surname, &["apellido"]),
    (Kind::Surname, &["cognome"]),
    (Kind::Surname, &["nazwisko"]),
    (Kind::Surname, &["sukunimi"]),
    (Kind::Surname, &["efternamn"]),
    (Kind::Surname, &["achternaam"]),
    (Kind::Surname, &["familienname"]),
    (Kind::Surname, &["prijmeni"]),
    (Kind::Surname, &["priimek"]),
    (Kind::Surname, &["prezime"]),
    (Kind::Surname, &["name"]),
    (Kind::DocumentNumber, &["passport", "no"]),
    (Kind::DocumentNumber, &["passeport", "no"]),
    (Kind::DocumentNumber, &["passport", "nr"]),
    (Kind::DocumentNumber, &["passport", "number"]),
    (Kind::DocumentNumber, &["document", "no"]),
    (Kind::DocumentNumber, &["document", "nr"]),
    (Kind::DocumentNumber, &["document", "number"]),
    (Kind::DocumentNumber, &["card", "no"]),
    (Kind::DocumentNumber, &["card", "number"]),
    (Kind::DocumentNumber, &["n", "du", "passeport"]),
    (Kind::DocumentNumber, &["no", "du", "passeport"]),
    (Kind::DocumentNumber, &["numero", "du", "passeport"]),
    (Kind::DocumentNumber, &["n", "de", "pasaporte"]),
    (Kind::DocumentNumber, &["no", "de", "pasaporte"]),
    (Kind::DocumentNumber, &["pasaporte", "no"]),
    (Kind::DocumentNumber, &["pass", "nr"]),
    (Kind::DocumentNumber, &["passi", "nro"]),
    (Kind::DocumentNumber, &["nr", "paszportu"]),
    (Kind::DocumentNumber, &["numer", "paszportu"]),
    (Kind::DocumentNumber, &["passnummer"]),
    (Kind::DocumentNumber, &["dokumentnummer"]),
    (Kind::DocumentNumber, &["ausweisnummer"]),
    (Kind::Nationality, &["nationality"]),
    (Kind::Nationality, &["nationalite"]),
    (Kind::Nationality, &["nacionalidad"]),
    (Kind::Nationality, &["staatsangehorigkeit"]),
    (Kind::Nationality, &["cittadinanza"]),
    (Kind::Nationality, &["obywatelstwo"]),
    (Kind::Nationality, &["kansalaisuus"]),
    (Kind::Nationality, &["nationaliteit"]),
    (Kind::Nationality, &["medborgarskap"]),
    (Kind::Nationality, &["drzavljanstvo"]),
    (Kind::BirthDate, &["date", "of", "birth"]),
    (Kind::BirthDate, &["birth", "date"]),
    (Kind::BirthDate, &["birth"]),
    (Kind::BirthDate, &["date", "de", "naissance"]),
    (Kind::BirthDate, &["naissance"]),
    (Kind::BirthDate, &["fecha", "de", "nacimiento"]),
    (Kind::BirthDate, &["nacimiento"]),
    (Kind::BirthDate, &["geburtsdatum"]),
    (Kind::BirthDate, &["geburtstag"]),
    (Kind::BirthDate, &["data", "di", "nascita"]),
    (Kind::BirthDate, &["data", "urodzenia"]),
    (Kind::BirthDate, &["syntymaaika"]),
    (Kind::BirthDate, &["geboortedatum"]),
    (Kind::BirthDate, &["fodelsedatum"]),
    (Kind::BirthDate, &["datum", "narozeni"]),
    (Kind::BirthDate, &["datum", "rojstva"]),
    (Kind::BirthDate, &["datum", "rodenja"]),
    (Kind::BirthDate, &["dob"]),
    (Kind::Sex, &["sex"]),
    (Kind::Sex, &["gender"]),
    (Kind::Sex, &["sexe"]),
    (Kind::Sex, &["sexo"]),
    (Kind::Sex, &["geschlecht"]),
    (Kind::Sex, &["sesso"]),
    (Kind::Sex, &["plec"]),
    (Kind::Sex, &["sukupuoli"]),
    (Kind::Sex, &["kon"]),
    (Kind::Sex, &["kyn"]),
    (Kind::Sex, &["geslacht"]),
    (Kind::Sex, &["pohlavi"]),
    (Kind::Sex, &["spol"]),
    (Kind::ExpiryDate, &["date", "of", "expiry"]),
    (Kind::ExpiryDate, &["expiry", "date"]),
    (Kind::ExpiryDate, &["expiry"]),
    (Kind::ExpiryDate, &["date", "of", "expiration"]),
    (Kind::ExpiryDate, &["expiration"]),
    (Kind::ExpiryDate, &["expires"]),
    (Kind::ExpiryDate, &["exp"]),
    (Kind::ExpiryDate, &["valid", "until"]),
    (Kind::ExpiryDate, &["gultig", "bis"]),
    (Kind::ExpiryDate, &["valable", "jusqu"]),
    (Kind::ExpiryDate, &["valide", "jusqu"]),
    (Kind::ExpiryDate, &["fecha", "de", "caducidad"]),
    (Kind::ExpiryDate, &["caducidad"]),
    (Kind::ExpiryDate, &["scadenza"]),
    (Kind::ExpiryDate, &["termin", "waznosci"]),
    (Kind::ExpiryDate, &["data", "waznosci"]),
    (Kind::ExpiryDate, &["voimassa"]),
    (Kind::ExpiryDate, &["geldig", "tot"]),
    (Kind::ExpiryDate, &["giltig", "till"]),
    (Kind::ExpiryDate, &["platnost", "do"]),
    (Kind::Address, &["address"]),
    (Kind::Address, &["adresse"]),
    (Kind::Address, &["domicilio"]),
    (Kind::Address, &["anschrift"]),
    (Kind::Address, &["indirizzo"]),
    (Kind::Address, &["adres"]),
    (Kind::Address, &["osoite"]),
];

/// Month names and their abbreviations, January first (English, French, Spanish, German,
/// Dutch, Italian, Portuguese), as words without diacritics.
const MONTHS: [&str; 12] = [
    "jan janv january janvier ene enero januar gen gennaio janeiro",
    "feb fev fevr february fevrier febrero februar febbraio fevereiro",
    "mar mars march marzo marz maerz mrt marco",
    "apr avr april avril abr abril aprile",
    "may mai mayo mei mag maggio maio",
    "jun june juin junio juni giu giugno junho",
    "jul july juil juillet julio juli lug luglio julho",
    "aug august aout ago agosto augustus",
    "sep sept september septembre septiembre set settembre setembro",
    "oct october octobre octubre okt oktober ott ottobre out outubro",
    "nov november novembre noviembre novembro",
    "dec december decembre diciembre dez dezember dic dicembre dezembro",
];

/// The identity printed in the visual zone of the document whose OCR lines these are; `None`
/// unless it names the holder (surname or given names) and one more field that tells people
/// apart (birth date, document number or expiry).
pub fn identity(lines: &[Line], today: Date) -> Option<Identity> {
    let mut labels: Vec<Label> = Vec::new();
    let mut is_label = vec![false; lines.len()];
    for (index, line) in lines.iter().enumerate() {
        let Some(segments) = label(&line.text) else {
            continue;
        };
        is_label[index] = true;
        let (left, top, width, height) = rect(line);
        let single = segments.len() == 1;
        labels.extend(segments.into_iter().map(|s| Label {
            line: index,
            kind: s.kind,
            rect: (left + width * s.from, top, width * (s.to - s.from), height),
            single,
        }));
    }
    let dates = Dates {
        today,
        month_first: month_first(lines),
    };
    let mut identity = Identity::default();
    // Every label's candidate values; a value line serves one label, the nearest.
    let mut claims: Vec<(f32, usize, usize)> = Vec::new();
    for (at, label) in labels.iter().enumerate() {
        for (value, distance) in values_of(lines, &is_label, label.rect) {
            claims.push((distance, at, value));
        }
    }
    claims.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut label_done = vec![false; labels.len()];
    let mut value_taken = vec![false; lines.len()];
    for (_, at, value) in claims {
        if label_done[at] || value_taken[value] {
            continue;
        }
        let line = &lines[value];
        if set(
            &mut identity,
            labels[at].kind,
            &line.text,
            line.confidence,
            dates,
        ) {
            label_done[at] = true;
            value_taken[value] = true;
        }
    }
    // A label with its value after a colon on its own line ("Surname: DOE").
    for (at, label) in labels.iter().enumerate() {
        if label_done[at] || !label.single || label.kind == Kind::Other {
            continue;
        }
        let line = &lines[label.line];
        if let Some((_, after)) = line.text.split_once(':') {
            set(&mut identity, label.kind, after, line.confidence, dates);
        }
    }
    let named = identity.surname.is_some() || identity.given_names.is_some();
    let told_apart = identity.birth_date.is_some()
        || identity.document_number.is_some()
        || identity.expiry_date.is_some();
    if !(named && told_apart) {
        return None;
    }
    identity.document_type = document_type(lines);
    Some(identity)
}

/// A field's label: the line it is on, and its part of that line's box.
struct Label {
    line: usize,
    kind: Kind,
    rect: (f32, f32, f32, f32),
    /// The only label on its line (a value after a colon is its own).
    single: bool,
}

/// Parses `text` as the value of a `kind` label and stores it, unless the field already has
/// one; true if it did.
fn set(identity: &mut Identity, kind: Kind, text: &str, confidence: f32, dates: Dates) -> bool {
    fn put<T>(slot: &mut Option<Field<T>>, value: Option<T>, confidence: f32) -> bool {
        let Some(value) = value.filter(|_| slot.is_none()) else {
            return false;
        };
        *slot = Some(Field::new(
            value,
            confidence * VIZ_CONFIDENCE_SCALE,
            Source::Ocr,
        ));
        true
    }
    let c = confidence;
    match kind {
        // `LIN, CHIEN-SHENG`: a whole name, surname first.
        Kind::Surname => match text.split_once(',') {
            Some((surname, given)) => {
                put(&mut identity.given_names, name(given), c);
                put(&mut identity.surname, name(surname), c)
            }
            None => put(&mut identity.surname, name(text), c),
        },
        Kind::GivenNames => put(&mut identity.given_names, name(text), c),
        Kind::DocumentNumber => put(&mut identity.document_number, document_number(text), c),
        Kind::IssuingCountry => put(&mut identity.issuing_country, country(text), c),
        Kind::Nationality => put(&mut identity.nationality, country(text), c),
        Kind::Sex => put(&mut identity.sex, sex(text), c),
        Kind::Address => put(&mut identity.address, address(text), c),
        Kind::BirthDate => {
            let value = date(text, dates, Year::Birth).filter(|d| *d <= dates.today);
            put(&mut identity.birth_date, value, c)
        }
        Kind::ExpiryDate => put(
            &mut identity.expiry_date,
            date(text, dates, Year::Expiry),
            c,
        ),
        // A value of a field we do not report: taken, so no other label takes it.
        Kind::Other => true,
    }
}

/// The lines that may hold the value of a label in `rect`, with how far each is: below the
/// label and starting where it starts, or to its right on the same row.
fn values_of(
    lines: &[Line],
    is_label: &[bool],
    (left, top, width, height): (f32, f32, f32, f32),
) -> Vec<(usize, f32)> {
    let mut found = Vec::new();
    for (other, line) in lines.iter().enumerate() {
        if is_label[other] {
            continue;
        }
        let (l, t, _, h) = rect(line);
        let size = height.max(h);
        // Below: its top within about a line of the label's bottom (boxes overlap a little),
        // its left edge near the label's.
        let gap = t - (top + height);
        let shift = (l - left).abs();
        let below = t + h / 2.0 > top + 0.75 * height;
        if below && gap >= -height / 2.0 && gap <= 1.6 * size && shift <= 2.0 * size {
            found.push((other, gap.max(0.0) + shift / 2.0));
            continue;
        }
        // Right: on the label's row, a little after it.
        let middle = t + h / 2.0;
        let after = l - (left + width);
        if middle >= top && middle <= top + height && after >= -height / 2.0 && after <= 4.0 * size
        {
            // Counted as farther than a value below at the same distance: labels above values
            // are the rule on identity documents.
            found.push((other, after.max(0.0) + size));
        }
    }
    found
}

fn rect(line: &Line) -> (f32, f32, f32, f32) {
    let (l, t, w, h) = line.bbox;
    (l as f32, t as f32, w as f32, h.max(1) as f32)
}

/// A label as the OCR reads it: letters and digits only, lower case, without diacritics, and
/// `rn` as `m` (the OCR often reads one for the other: `Sumame`), so that words run together
/// (`Dateofexpiry`) or split by a misread `/` (`Sexl Sexe`) still match. With each letter, the
/// index of the character it came from.
fn squashed(text: &str) -> (Vec<u8>, Vec<usize>) {
    let (mut bytes, mut origin) = (Vec::new(), Vec::new());
    for (at, c) in text.chars().enumerate() {
        for b in fold(c).into_iter().filter(|b| *b != b'?') {
            if b == b'n' && bytes.last() == Some(&b'r') {
                *bytes.last_mut().expect("checked") = b'm';
                continue;
            }
            bytes.push(b);
            origin.push(at);
        }
    }
    (bytes, origin)
}

/// [`LABELS`] squashed as the lines are, and whether each may be matched with OCR errors (see
/// [`matches_at`]): not one that ends in an abbreviation (`passeport no` would match `passport
/// o(ffice)`).
static SQUASHED_LABELS: std::sync::LazyLock<Vec<(Kind, Vec<u8>, bool)>> =
    std::sync::LazyLock::new(|| {
        LABELS
            .iter()
            .map(|(kind, words)| {
                let fuzzy = words.last().is_some_and(|w| w.len() >= 3);
                (*kind, squashed(&words.join(" ")).0, fuzzy)
            })
            .collect()
    });

/// Labels at least this long are also matched with one misread letter; from
/// [`FUZZY_TWO_ERRORS_LEN`] letters, with two errors of any kind, letters misread, missed or
/// added (`Date ot bith`, `Natlonality`).
const FUZZY_LEN_MIN: usize = 8;
const FUZZY_TWO_ERRORS_LEN: usize = 11;

/// How many letters at the start of `text` match `pattern`, allowing the OCR errors above;
/// `None` when it does not match.
fn matches_at(text: &[u8], pattern: &[u8], fuzzy: bool) -> Option<usize> {
    if text.starts_with(pattern) {
        return Some(pattern.len());
    }
    if !fuzzy || pattern.len() < FUZZY_LEN_MIN || text.first() != pattern.first() {
        return None;
    }
    if pattern.len() < FUZZY_TWO_ERRORS_LEN {
        // One letter misread, none missed or added.
        let same_length = text.get(..pattern.len())?;
        let misread = same_length
            .iter()
            .zip(pattern)
            .filter(|(a, b)| a != b)
            .count();
        return (misread <= 1).then_some(pattern.len());
    }
    const ALLOWED: usize = 2;
    // The edit distance of the pattern to each prefix of the text, up to two letters longer.
    let width = (pattern.len() + ALLOWED).min(text.len());
    let mut row: Vec<usize> = (0..=width).collect();
    for (i, &p) in pattern.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for k in 1..=width {
            let substituted = diagonal + usize::from(text[k - 1] != p);
            diagonal = row[k];
            row[k] = substituted.min(row[k] + 1).min(row[k - 1] + 1);
        }
    }
    (pattern.len().saturating_sub(ALLOWED)..=width)
        .filter(|&k| row[k] <= ALLOWED)
        .min_by_key(|&k| (row[k], k.abs_diff(pattern.len())))
}

/// One field a label line names, and its part of the line, as fractions of the line's width
/// (two fields' labels read as one line are told apart by where each starts).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    kind: Kind,
    from: f32,
    to: f32,
}

/// The fields a label line names, left to right (a label of a field we do not report is
/// [`Kind::Other`]); `None` for a line that is not a label. A line is a label when its matched
/// letters outnumber the others two to one, or when it holds a long label and its matched
/// letters are at least a third of the others (`DATA UPŁYWU TERMINU WAŻNOŚCI/DATE OF
/// EXPIRY`); never when it holds more than two digits.
fn label(text: &str) -> Option<Vec<Segment>> {
    let before_colon = text.split(':').next().unwrap_or_default();
    let (letters, origin) = squashed(before_colon);
    if letters.iter().filter(|b| b.is_ascii_digit()).count() > 2 {
        return None;
    }
    let chars = before_colon.chars().count().max(1) as f32;
    let mut segments: Vec<Segment> = Vec::new();
    let (mut at, mut matched, mut unmatched, mut longest) = (0, 0, 0, 0);
    while at < letters.len() {
        let best = SQUASHED_LABELS
            .iter()
            .filter_map(|(kind, pattern, fuzzy)| {
                matches_at(&letters[at..], pattern, *fuzzy).map(|len| (*kind, len, pattern.len()))
            })
            .max_by_key(|&(_, len, pattern)| (pattern, len));
        let Some((kind, len, pattern)) = best else {
            unmatched += 1;
            at += 1;
            continue;
        };
        let from = origin[at] as f32 / chars;
        match segments.last_mut() {
            Some(last) if last.kind == kind => {}
            Some(last) => {
                last.to = from;
                segments.push(Segment {
                    kind,
                    from,
                    to: 1.0,
                });
            }
            None => segments.push(Segment {
                kind,
                from: 0.0,
                to: 1.0,
            }),
        }
        matched += len;
        longest = longest.max(pattern);
        at += len;
    }
    let is_label =
        matched >= 2 * unmatched || (longest >= FUZZY_LEN_MIN && 3 * matched >= unmatched);
    (matched > 0 && is_label).then_some(segments)
}

trait StartsWithWords {
    fn starts_with_words(&self, pattern: &[&str]) -> bool;
}

impl StartsWithWords for [String] {
    fn starts_with_words(&self, pattern: &[&str]) -> bool {
        self.len() >= pattern.len() && self.iter().zip(pattern).all(|(w, p)| w == p)
    }
}

/// `text` as plain words: lower case, without diacritics, one space between words (`Marí-a
/// Olivia` → `mari a olivia`); for comparing names printed with diacritics with their MRZ
/// transliteration.
pub fn plain(text: &str) -> String {
    words(text).join(" ")
}

/// The words of `text`, lower case, without diacritics (`Prénoms` → `prenoms`); anything that
/// is not a letter or digit separates words.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let folded = fold(c);
        if folded.is_empty() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.extend(folded.into_iter().map(char::from));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A letter or digit as plain lower-case ASCII (`É` → `e`, `ß` → `ss`: the folding identity
/// matching uses, [`scanpay_core::matching::fold_char`]); nothing for anything else. A letter
/// of another alphabet is `?`: it still makes a word (a value in Cyrillic is one), which no
/// label matches.
fn fold(c: char) -> Vec<u8> {
    if !c.is_alphanumeric() {
        return Vec::new();
    }
    scanpay_core::matching::fold_char(c)
        .into_iter()
        .map(|base| {
            if base.is_ascii_alphanumeric() {
                base.to_ascii_lowercase() as u8
            } else {
                b'?'
            }
        })
        .collect()
}

/// A name as printed: letters, spaces, hyphens and apostrophes, upper case; `None` for a value
/// with digits or fewer than two letters.
fn name(text: &str) -> Option<String> {
    let text = text.trim();
    if text.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let kept: String = text
        .chars()
        .filter(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\''))
        .flat_map(char::to_uppercase)
        .collect();
    let value = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    let value = value.trim_matches(|c| c == '-' || c == '\'').to_string();
    (value.chars().filter(|c| c.is_alphabetic()).count() >= 2).then_some(value)
}

/// A document number: the value's letters and digits, 5 to 12 of them with two digits or more
/// (a number printed in groups, `AB 12 34 56`); else its longest word that is one (`P  FIN
/// XP8271602`, three fields read as one line).
fn document_number(text: &str) -> Option<String> {
    let fits = |s: &str| {
        (5..=12).contains(&s.len()) && s.chars().filter(char::is_ascii_digit).count() >= 2
    };
    let tokens: Vec<String> = text
        .split_whitespace()
        .map(|t| {
            t.chars()
                .filter(char::is_ascii_alphanumeric)
                .flat_map(char::to_uppercase)
                .collect()
        })
        .collect();
    let joined: String = tokens.concat();
    if fits(&joined) {
        return Some(joined);
    }
    tokens
        .into_iter()
        .filter(|t| fits(t))
        .max_by_key(String::len)
}

/// A country code (ISO 3166-1 alpha-3, or ICAO's) among the words of a value without digits
/// (`02MAR 1968` is a date, not Morocco).
fn country(text: &str) -> Option<String> {
    if text.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() == 3)
        .map(str::to_ascii_uppercase)
        .find(|w| mrz::is_known_country(w.as_bytes()))
}

/// `M`, `F` or `X`: the value's first one-letter word (`F/F` is `F`).
fn sex(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .find(|w| w.chars().count() == 1)
        .map(str::to_uppercase)
        .filter(|w| matches!(w.as_str(), "M" | "F" | "X"))
}

/// An address: the line as printed, its spaces closed up; at least one letter.
fn address(text: &str) -> Option<String> {
    let value = text.split_whitespace().collect::<Vec<_>>().join(" ");
    value.chars().any(char::is_alphabetic).then_some(value)
}

/// How a two-digit year is read: as the MRZ's are ([`mrz::birth_in_century`],
/// [`mrz::expiry_in_century`]).
#[derive(Clone, Copy)]
enum Year {
    Birth,
    Expiry,
}

/// How a page writes its dates, and the day two-digit years are read from.
#[derive(Clone, Copy)]
struct Dates {
    today: Date,
    /// `06/07/1986` is June 7 (a US document), not 6 July.
    month_first: bool,
}

/// Whether the page is a US document, which writes numeric dates month first: it names the
/// United States, or is a driver license spelt the American way. (Not a lone `USA`, which a
/// place of birth on another country's document may be.)
fn month_first(lines: &[Line]) -> bool {
    const US: &[&[&str]] = &[&["united", "states"], &["driver", "license"]];
    lines.iter().any(|line| {
        let words = words(&line.text);
        (0..words.len()).any(|at| US.iter().any(|us| words[at..].starts_with_words(us)))
    })
}

/// The first date in `text`: `21.12.1971`, `21/12/71`, `21 DEC 1971`, `21 DEC/DÉC 71`,
/// `1971-12-21`. Numeric dates are day first (month first on a US document), unless only the
/// other order makes sense.
fn date(text: &str, dates: Dates, year: Year) -> Option<Date> {
    let today = dates.today;
    #[derive(Clone, Copy, Debug)]
    enum Token {
        Number(u32, usize),
        Month(u8),
    }
    // A word of digits (with `o`, `i`, `l` read for 0 and 1) is a number; any other word is
    // split where letters meet digits (`12AUGUST`, `AVR07`), and its letters may be a month.
    let mut tokens: Vec<Token> = Vec::new();
    for word in words(text) {
        let digits: String = word
            .chars()
            .map(|c| match c {
                'o' => '0',
                'i' | 'l' => '1',
                other => other,
            })
            .collect();
        let pieces: Vec<&str> = if word.chars().any(|c| c.is_ascii_digit())
            && digits.chars().all(|c| c.is_ascii_digit())
        {
            vec![digits.as_str()]
        } else {
            runs(&word)
        };
        for piece in pieces {
            if piece.starts_with(|c: char| c.is_ascii_digit()) {
                if let Ok(value) = piece.parse() {
                    tokens.push(Token::Number(value, piece.len()));
                }
            } else if let Some(month) = MONTHS
                .iter()
                .position(|names| names.split(' ').any(|name| name == piece))
            {
                tokens.push(Token::Month(month as u8 + 1));
            }
        }
    }
    let full_year = |value: u32, len: usize, month: u8, day: u8| -> Option<Date> {
        match len {
            4 => Date::new(u16::try_from(value).ok()?, month, day),
            2 => {
                let yy = i32::try_from(value).ok()?;
                match year {
                    Year::Birth => mrz::birth_in_century(yy, month, day, today),
                    Year::Expiry => mrz::expiry_in_century(yy, month, day, today),
                }
            }
            _ => None,
        }
    };
    for start in 0..tokens.len() {
        let rest = &tokens[start..];
        let found = match rest {
            [
                Token::Number(y, 4),
                Token::Number(m, 1..=2),
                Token::Number(d, 1..=2),
                ..,
            ] => full_year(*y, 4, u8::try_from(*m).ok()?, u8::try_from(*d).ok()?),
            [Token::Number(d, 1..=2), Token::Month(m), more @ ..] => more
                .iter()
                .find_map(|t| match t {
                    Token::Month(_) => None,
                    Token::Number(y, len) => Some((*y, *len)),
                })
                .and_then(|(y, len)| full_year(y, len, *m, u8::try_from(*d).ok()?)),
            [
                Token::Number(a, 1..=2),
                Token::Number(b, 1..=2),
                Token::Number(y, len @ (2 | 4)),
                ..,
            ] => {
                let (a, b) = (u8::try_from(*a).ok()?, u8::try_from(*b).ok()?);
                let (first, second) = if dates.month_first { (b, a) } else { (a, b) };
                let (day, month) = if second > 12 && first <= 12 {
                    (second, first)
                } else {
                    (first, second)
                };
                full_year(*y, *len, month, day)
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// `word` cut where letters meet digits: `12aug` → `12`, `aug`.
fn runs(word: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let bytes = word.as_bytes();
    for at in 1..bytes.len() {
        if bytes[at].is_ascii_digit() != bytes[at - 1].is_ascii_digit() {
            pieces.push(&word[start..at]);
            start = at;
        }
    }
    if start < word.len() {
        pieces.push(&word[start..]);
    }
    pieces
}

/// The kind of document the page's words name (`passport`, `id_card`, `driver_license`), the
/// first named top to bottom.
fn document_type(lines: &[Line]) -> Option<Field<String>> {
    const NAMES: &[(&str, &[&str])] = &[
        ("passport", &["passport"]),
        ("passport", &["passeport"]),
        ("passport", &["pasaporte"]),
        ("passport", &["reisepass"]),
        ("passport", &["passaporto"]),
        ("passport", &["paszport"]),
        ("passport", &["paspoort"]),
        ("id_card", &["identity", "card"]),
        ("id_card", &["id", "card"]),
        ("id_card", &["carte", "nationale", "d", "identite"]),
        ("id_card", &["carte", "d", "identite"]),
        ("id_card", &["personalausweis"]),
        ("id_card", &["documento", "nacional", "de", "identidad"]),
        ("id_card", &["carta", "d", "identita"]),
        ("id_card", &["dowod", "osobisty"]),
        ("id_card", &["henkilokortti"]),
        ("id_card", &["identiteitskaart"]),
        ("driver_license", &["driver", "license"]),
        ("driver_license", &["driver", "licence"]),
        ("driver_license", &["driving", "licence"]),
        ("driver_license", &["permis", "de", "conduire"]),
        ("driver_license", &["fuhrerschein"]),
    ];
    lines.iter().find_map(|line| {
        let words = words(&line.text);
        (0..words.len()).find_map(|at| {
            NAMES
                .iter()
                .find(|(_, pattern)| words[at..].starts_with_words(pattern))
                .map(|(kind, _)| {
                    Field::new(
                        kind.to_string(),
                        line.confidence * VIZ_CONFIDENCE_SCALE,
                        Source::Ocr,
                    )
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 12,
        day: 6,
    };

    fn line(text: &str, left: u32, top: u32, width: u32, height: u32) -> Line {
        Line {
            text: text.to_string(),
            confidence: 0.9,
            bbox: (left, top, width, height),
            alternatives: Vec::new(),
            missed: Vec::new(),
        }
    }

    /// A card laid out as most are: small labels, each above its value; two columns.
    fn card() -> Vec<Line> {
        vec![
            line("IDENTITY CARD", 40, 10, 400, 40),
            line("Surname / Nom", 300, 80, 160, 18),
            line("ERIKSSON", 300, 100, 200, 30),
            line("Given names / Prénoms", 300, 140, 220, 18),
            line("Anna María", 300, 160, 200, 30),
            line("Date of birth", 300, 200, 140, 18),
            line("Sex", 520, 200, 40, 18),
            line("12 AUG/AOÛT 74", 300, 220, 200, 30),
            line("F", 520, 220, 20, 30),
            line("Place of birth", 300, 260, 150, 18),
            line("Stockholm", 300, 280, 150, 30),
            line("Document No.", 300, 320, 140, 18),
            line("Nationality", 520, 320, 120, 18),
            line("D23145890", 300, 340, 180, 30),
            line("UTO", 520, 340, 60, 30),
            line("Date of expiry", 300, 380, 150, 18),
            line("Date of issue", 520, 380, 150, 18),
            line("15.04.2031", 300, 400, 160, 30),
            line("16.04.2021", 520, 400, 160, 30),
        ]
    }

    #[test]
    fn a_card_with_labels_above_values() {
        let identity = identity(&card(), TODAY).expect("an identity");
        let value = |f: &Option<Field<String>>| f.as_ref().map(|f| f.value.clone());
        assert_eq!(value(&identity.surname).as_deref(), Some("ERIKSSON"));
        assert_eq!(value(&identity.given_names).as_deref(), Some("ANNA MARÍA"));
        assert_eq!(
            identity.birth_date.as_ref().map(|f| f.value),
            Date::new(1974, 8, 12)
        );
        assert_eq!(value(&identity.sex).as_deref(), Some("F"));
        assert_eq!(
            value(&identity.document_number).as_deref(),
            Some("D23145890")
        );
        assert_eq!(value(&identity.nationality).as_deref(), Some("UTO"));
        // The expiry, not the date of issue beside it.
        assert_eq!(
            identity.expiry_date.as_ref().map(|f| f.value),
            Date::new(2031, 4, 15)
        );
        assert_eq!(value(&identity.document_type).as_deref(), Some("id_card"));
        let surname = identity.surname.unwrap();
        assert_eq!(surname.source, Source::Ocr);
        assert!((surname.confidence - 0.9 * VIZ_CONFIDENCE_SCALE).abs() < 1e-6);
    }

    #[test]
    fn the_place_of_birth_is_not_the_birth_date() {
        let lines = vec![
            line("Surname", 0, 0, 100, 18),
            line("DOE", 0, 20, 100, 30),
            line("Place of birth", 0, 60, 140, 18),
            line("12.05.1980", 0, 80, 140, 30),
        ];
        // A place that looks like a date is still a place: no birth date, so too little.
        assert_eq!(identity(&lines, TODAY), None);
    }

    #[test]
    fn values_beside_their_labels_and_after_colons() {
        let lines = vec![
            line("Surname:", 0, 0, 90, 20),
            line("DOE", 120, 0, 60, 20),
            line("Given name: JOHN", 0, 40, 200, 20),
            line("Date of birth", 0, 80, 130, 20),
            line("1980-05-12", 150, 80, 120, 20),
        ];
        let identity = identity(&lines, TODAY).expect("an identity");
        assert_eq!(identity.surname.unwrap().value, "DOE");
        assert_eq!(identity.given_names.unwrap().value, "JOHN");
        assert_eq!(
            identity.birth_date.unwrap().value,
            Date::new(1980, 5, 12).unwrap()
        );
    }

    /// The fields a line's label names, or `None` for a line that is not a label.
    fn kinds(text: &str) -> Option<Vec<Kind>> {
        label(text).map(|segments| segments.iter().map(|s| s.kind).collect())
    }

    #[test]
    fn labels_in_other_languages() {
        use Kind::*;
        assert_eq!(kinds("Name/Surname"), Some(vec![Surname]));
        assert_eq!(kinds("Vornamen/Given names"), Some(vec![GivenNames]));
        assert_eq!(kinds("Geburtstag/Date of birth"), Some(vec![BirthDate]));
        assert_eq!(
            kinds("Staatsangehörigkeit/Nationality"),
            Some(vec![Nationality])
        );
        assert_eq!(kinds("Gültig bis/Date of expiry"), Some(vec![ExpiryDate]));
        assert_eq!(kinds("Apellidos"), Some(vec![Surname]));
        assert_eq!(kinds("Nombre / Given name"), Some(vec![GivenNames]));
        assert_eq!(
            kinds("Passi nro/Pass nr/Passport No."),
            Some(vec![DocumentNumber])
        );
        assert_eq!(
            kinds("Lieu de naissance / Place of birth"),
            Some(vec![Other])
        );
        assert_eq!(
            kinds("Date of issue / Date de délivrance"),
            Some(vec![Other])
        );
        assert_eq!(kinds("4a. Date of expiry"), Some(vec![ExpiryDate]));
        assert_eq!(
            kinds("Secondary identifier / Identifiant secondaire"),
            Some(vec![GivenNames])
        );
        // Not labels: values, sentences.
        for text in [
            "ERIKSSON",
            "SEXTON",
            "SPECIMEN",
            "PASSPORT OFFICE",
            "12.08.1974",
            "P",
        ] {
            assert_eq!(kinds(text), None, "{text}");
        }
        assert_eq!(
            kinds("This passport remains the property of the state, whose name it bears"),
            None
        );
    }

    /// Labels as the OCR read them off the specimens in ../shared/testdata/mrz/images.
    #[test]
    fn labels_as_the_ocr_reads_them() {
        use Kind::*;
        assert_eq!(kinds("Sumame/ Nom"), Some(vec![Surname]));
        assert_eq!(kinds("SexlSexe"), Some(vec![Sex]));
        assert_eq!(
            kinds("Dateofexpiry/Datedexpiration"),
            Some(vec![ExpiryDate])
        );
        assert_eq!(kinds("Date ot bith/出生日期"), Some(vec![BirthDate]));
        assert_eq!(kinds("Natlonality/"), Some(vec![Nationality]));
        assert_eq!(kinds("Date of iasue/日期"), Some(vec![Other]));
        assert_eq!(
            kinds("DATAUPLYWIU TERMNU WIAZNOSCVDATE OF EIPIRY"),
            Some(vec![ExpiryDate])
        );
        assert_eq!(kinds("Name（Last,Pirst）/姓名"), Some(vec![Surname]));
        assert_eq!(kinds("5.Sex/Geschlecht/Sexe"), Some(vec![Sex]));
        assert_eq!(kinds("BirthdateCategory"), Some(vec![BirthDate, Other]));
        assert_eq!(kinds("Counlryof Bith"), Some(vec![Other]));
        // Two fields' labels read as one line: each where it starts.
        let segments = label("Country code/Code dupaysPassport NumberlN°de passeport").unwrap();
        assert_eq!(
            segments.iter().map(|s| s.kind).collect::<Vec<_>>(),
            [IssuingCountry, DocumentNumber]
        );
        // `Passport` is the 25th of the line's 54 characters.
        assert!(
            (segments[1].from - 24.0 / 54.0).abs() < 1e-6,
            "{segments:?}"
        );
        assert_eq!((segments[0].to, segments[1].to), (segments[1].from, 1.0));
        assert_eq!(kinds("Date of birth  Sex"), Some(vec![BirthDate, Sex]));
    }

    #[test]
    fn two_labels_on_one_line_each_take_their_value() {
        let lines = vec![
            line(
                "Country code/Code du pays Passport No./N° de passeport",
                100,
                0,
                400,
                20,
            ),
            line("UTO", 110, 22, 40, 20),
            line("L898902C3", 320, 22, 100, 20),
            line("Surname/Nom", 100, 50, 110, 20),
            line("ERIKSSON", 100, 72, 100, 20),
        ];
        let identity = identity(&lines, TODAY).expect("an identity");
        assert_eq!(identity.issuing_country.unwrap().value, "UTO");
        assert_eq!(identity.document_number.unwrap().value, "L898902C3");
        assert_eq!(identity.surname.unwrap().value, "ERIKSSON");
    }

    #[test]
    fn a_us_licence_writes_its_dates_month_first() {
        let lines = vec![
            line("VIRGINIA USA DRIVER LICENSE", 0, 0, 400, 30),
            line("Last Name", 0, 50, 100, 16),
            line("SAMPLE", 0, 68, 100, 20),
            line("DOB", 0, 100, 40, 16),
            line("EXP", 200, 100, 40, 16),
            line("06/07/1986", 0, 118, 110, 20),
            line("06/07/2030", 200, 118, 110, 20),
        ];
        let identity = identity(&lines, TODAY).expect("an identity");
        assert_eq!(
            identity.birth_date.unwrap().value,
            Date::new(1986, 6, 7).unwrap()
        );
        assert_eq!(
            identity.expiry_date.unwrap().value,
            Date::new(2030, 6, 7).unwrap()
        );
        assert_eq!(identity.document_type.unwrap().value, "driver_license");
        // The same page from elsewhere: day first.
        let mut elsewhere = lines.clone();
        elsewhere[0].text = "DRIVING LICENCE".to_string();
        let identity = super::identity(&elsewhere, TODAY).expect("an identity");
        assert_eq!(
            identity.birth_date.unwrap().value,
            Date::new(1986, 7, 6).unwrap()
        );
    }

    #[test]
    fn a_whole_name_surname_first() {
        let lines = vec![
            line("Name (Last, First)", 0, 0, 120, 16),
            line("LIN, CHIEN-SHENG", 0, 18, 140, 20),
            line("Date of birth", 0, 50, 120, 16),
            line("02MAR 1968", 0, 68, 100, 20),
        ];
        let identity = identity(&lines, TODAY).expect("an identity");
        assert_eq!(identity.surname.unwrap().value, "LIN");
        assert_eq!(identity.given_names.unwrap().value, "CHIEN-SHENG");
        assert_eq!(
            identity.birth_date.unwrap().value,
            Date::new(1968, 3, 2).unwrap()
        );
    }

    #[test]
    fn dates_as_documents_print_them() {
        let day_first = Dates {
            today: TODAY,
            month_first: false,
        };
        let birth = |t: &str| date(t, day_first, Year::Birth);
        let expiry = |t: &str| date(t, day_first, Year::Expiry);
        assert_eq!(birth("21.12.1971"), Date::new(1971, 12, 21));
        assert_eq!(birth("21/12/71"), Date::new(1971, 12, 21));
        // Two-digit years: a birth is never in the future; today is 6 December 2026.
        assert_eq!(birth("07 DEC/DÉC 26"), Date::new(1926, 12, 7));
        assert_eq!(birth("06 DEC 26"), Date::new(2026, 12, 6));
        assert_eq!(expiry("05 DEC 26"), Date::new(2026, 12, 5));
        assert_eq!(expiry("12 AOÛT 40"), Date::new(2040, 8, 12));
        assert_eq!(birth("1971-12-21"), Date::new(1971, 12, 21));
        assert_eq!(
            birth("12/21/1971"),
            Date::new(1971, 12, 21),
            "month first only when it must"
        );
        assert_eq!(birth("21 12 197l"), Date::new(1971, 12, 21), "l read for 1");
        assert_eq!(birth("12AUGUST/AOUT74"), Date::new(1974, 8, 12));
        assert_eq!(expiry("16APR/AVR07"), Date::new(2007, 4, 16));
        assert_eq!(birth("31.02.1971"), None);
        // A US document: month first, unless only day first makes sense.
        let us = Dates {
            today: TODAY,
            month_first: true,
        };
        assert_eq!(date("06/07/1986", us, Year::Birth), Date::new(1986, 6, 7));
        assert_eq!(date("21/06/1986", us, Year::Birth), Date::new(1986, 6, 21));
        assert_eq!(date("07 JUN 1986", us, Year::Birth), Date::new(1986, 6, 7));
        assert_eq!(birth("Stockholm"), None);
    }

    #[test]
    fn values_by_field() {
        assert_eq!(name("Virtanen").as_deref(), Some("VIRTANEN"));
        assert_eq!(name("O'Neil-Smith ").as_deref(), Some("O'NEIL-SMITH"));
        assert_eq!(name("12.08.1974"), None);
        assert_eq!(name("-"), None);
        assert_eq!(document_number("XP8271602").as_deref(), Some("XP8271602"));
        assert_eq!(
            document_number("P  FIN  XP8271602").as_deref(),
            Some("XP8271602")
        );
        assert_eq!(document_number("AB 12 34 56").as_deref(), Some("AB123456"));
        assert_eq!(document_number("AA 000000").as_deref(), Some("AA000000"));
        assert_eq!(document_number("Helsinki"), None);
        assert_eq!(country("Utopian / UTO").as_deref(), Some("UTO"));
        assert_eq!(country("Suomi Finland"), None);
        assert_eq!(country("02MAR 1968"), None);
        assert_eq!(sex("F/F").as_deref(), Some("F"));
        assert_eq!(sex("M").as_deref(), Some("M"));
        assert_eq!(sex("Q"), None);
    }

    #[test]
    fn too_little_is_nothing() {
        // A name alone does not tell one holder from another.
        let lines = vec![line("Surname", 0, 0, 100, 18), line("DOE", 0, 20, 100, 30)];
        assert_eq!(identity(&lines, TODAY), None);
        assert_eq!(identity(&[], TODAY), None);
        // Text without labels: a receipt, a letter.
        let lines = vec![
            line("Corner Cafe", 0, 0, 200, 30),
            line("Total 12.34", 0, 40, 200, 30),
            line("05.12.2026", 0, 80, 200, 30),
        ];
        assert_eq!(identity(&lines, TODAY), None);
    }

    proptest::proptest! {
        /// Any lines, labels and dates among them, anywhere: an answer, never a panic.
        #[test]
        fn arbitrary_lines_never_panic(lines in proptest::collection::vec((
            proptest::prop_oneof![
                ".{0,30}",
                "(Surname|Given names|Date of birth|Sex|Passport No\\.|Date of expiry)[ /:]{0,2}.{0,12}",
                "[0-9oOlI]{1,4}[ ./-]?[A-Za-zÉû]{0,9}[ ./-]?[0-9]{0,4}",
            ],
            0u32..3000, 0u32..3000, 0u32..2000, 0u32..200,
        ), 0..24)) {
            let lines: Vec<Line> = lines
                .into_iter()
                .map(|(text, left, top, width, height)| line(&text, left, top, width, height))
                .collect();
            let _ = identity(&lines, TODAY);
        }
    }

    #[test]
    fn words_fold_case_and_diacritics() {
        assert_eq!(words("Prénoms/Given names"), ["prenoms", "given", "names"]);
        assert_eq!(words("Staatsangehörigkeit"), ["staatsangehorigkeit"]);
        assert_eq!(words("N° du passeport"), ["n", "du", "passeport"]);
        assert_eq!(words("Straße"), ["strasse"]);
    }
}
