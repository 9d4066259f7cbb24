//! A registration session: from scanned documents to a registration code bound at the bank
//! (seed 000, claims 1–8).
//!
//! ```text
//! started ─▶ carriers_received ─▶ awaiting_confirmation ─▶ confirmed ─▶ bank_identified
//!               ▲   (fields in)        │  ▲ modify / rescan                   │
//!               └──────── rescan ──────┘  └──── near miss (correct fields) ◀── verified ─▶ code_issued ─▶ bound
//! any state before bound ─▶ cancelled | expired;  verification mismatch ─▶ rejected
//! ```
//!
//! [`Registration::apply`] is the only way a session changes: it takes an [`Event`] and `now_ms`
//! and either moves the session or says why not ([`StepError`], with a stable code). Applying an
//! event that the session already reflects is a no-op, so a retried step is harmless. The hub
//! does the I/O around it (asking the bank, issuing the code) and feeds the results back as
//! events.
//!
//! Deliberately not here: how fields are extracted (`scanpay-extract`), how the bank is asked.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::card::Pan;
use crate::matching::{FieldMatch, MatchReport};

/// Verifications that did not match (near misses included) before the session is rejected: a
/// caller cannot probe the bank's saved identity without end.
pub const VERIFICATION_FAILURES_MAX: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Started,
    CarriersReceived,
    AwaitingConfirmation,
    Confirmed,
    BankIdentified,
    Verified,
    CodeIssued,
    Bound,
    Rejected,
    Cancelled,
    Expired,
    /// Was bound; the user (a lost phone) or an operator revoked the code. The code no longer
    /// pays, and the card may be registered again.
    Revoked,
}

impl State {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Bound | State::Rejected | State::Cancelled | State::Expired | State::Revoked
        )
    }

    pub fn code(self) -> &'static str {
        match self {
            State::Started => "started",
            State::CarriersReceived => "carriers_received",
            State::AwaitingConfirmation => "awaiting_confirmation",
            State::Confirmed => "confirmed",
            State::BankIdentified => "bank_identified",
            State::Verified => "verified",
            State::CodeIssued => "code_issued",
            State::Bound => "bound",
            State::Rejected => "rejected",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
            State::Revoked => "revoked",
        }
    }
}

/// The identity read from the document (or typed by the user), as the hub keeps it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFields {
    pub full_name: String,
    /// `passport`, `id_card`, `driver_license`.
    pub document_type: String,
    pub document_number: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `YYYY-MM-DD`. Required: without it an expired document could not be told apart.
    pub expiry_date: String,
    #[serde(default)]
    pub nationality: String,
    #[serde(default)]
    pub address: String,
}

impl std::fmt::Debug for IdentityFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityFields")
            .field("document_type", &self.document_type)
            .finish_non_exhaustive()
    }
}

/// The payment card read from the photo (or typed). Never a CVV.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFields {
    pub card_number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    #[serde(default)]
    pub holder_name: String,
}

impl std::fmt::Debug for CardFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardFields")
            .field("expiry_month", &self.expiry_month)
            .field("expiry_year", &self.expiry_year)
            .finish_non_exhaustive()
    }
}

/// A calendar day, for expiry checks (the hub passes today's date in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Day {
    /// The UTC calendar day of a Unix time in milliseconds (Howard Hinnant's civil-from-days).
    pub fn from_unix_ms(ms: i64) -> Day {
        let z = ms.div_euclid(86_400_000) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Day { year, month, day }
    }

    /// Milliseconds since the Unix epoch at the start of this UTC day (days-from-civil).
    pub fn to_unix_ms(self) -> i64 {
        let (month, day) = (i64::from(self.month), i64::from(self.day));
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let yoe = year - era * 400;
        let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146_097 + doe - 719_468) * 86_400_000
    }

    /// `YYYY-MM-DD`, a day that exists (not `2024-02-30`, which would count as March's first).
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            b.get(range.clone())
                .filter(|d| d.iter().all(u8::is_ascii_digit))
                .and_then(|_| text.get(range)?.parse::<u16>().ok())
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let parsed = Day {
            year: digits(0..4)?,
            month: u8::try_from(digits(5..7)?).ok()?,
            day: u8::try_from(digits(8..10)?).ok()?,
        };
        ((1..=12).contains(&parsed.month)
            && (1..=31).contains(&parsed.day)
            && Day::from_unix_ms(parsed.to_unix_ms()) == parsed)
            .then_some(parsed)
    }
}

/// Why fields were refused. Stable codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{0}")]
    Card(#[from] crate::card::CardError),
    #[error("the card expired")]
    CardExpired,
    #[error("the card's expiry month is not 1 to 12")]
    CardExpiryInvalid,
    #[error("the identity document expired")]
    IdentityDocumentExpired,
    #[error("{0} is missing or malformed")]
    IdentityFieldInvalid(&'static str),
}

impl FieldError {
    pub fn code(&self) -> &'static str {
        match self {
            FieldError::Card(e) => e.code(),
            FieldError::CardExpired => "card_expired",
            FieldError::CardExpiryInvalid => "card_expiry_invalid",
            FieldError::IdentityDocumentExpired => "identity_document_expired",
            FieldError::IdentityFieldInvalid(_) => "identity_field_invalid",
        }
    }
}

/// How strict validation is; the hub's configuration.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Refuse identity documents past their expiry date (`identity_document_expired`).
    pub refuse_expired_documents: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            refuse_expired_documents: true,
        }
    }
}

/// Checks identity fields: required ones present, dates valid, document not expired.
pub fn validate_identity(
    identity: &IdentityFields,
    today: Day,
    policy: Policy,
) -> Result<(), FieldError> {
    if identity.full_name.trim().is_empty() || identity.full_name.len() > 256 {
        return Err(FieldError::IdentityFieldInvalid("full_name"));
    }
    if identity.document_number.trim().is_empty() || identity.document_number.len() > 64 {
        return Err(FieldError::IdentityFieldInvalid("document_number"));
    }
    if !["passport", "id_card", "driver_license"].contains(&identity.document_type.as_str()) {
        return Err(FieldError::IdentityFieldInvalid("document_type"));
    }
    let birth =
        Day::parse(&identity.birth_date).ok_or(FieldError::IdentityFieldInvalid("birth_date"))?;
    if birth > today {
        return Err(FieldError::IdentityFieldInvalid("birth_date"));
    }
    let expiry =
        Day::parse(&identity.expiry_date).ok_or(FieldError::IdentityFieldInvalid("expiry_date"))?;
    if policy.refuse_expired_documents && expiry < today {
        return Err(FieldError::IdentityDocumentExpired);
    }
    Ok(())
}

/// Checks card fields: the number (digits, length, Luhn) and an expiry not passed. A card is
/// valid through the last day of its expiry month.
pub fn validate_card(card: &CardFields, today: Day) -> Result<Pan, FieldError> {
    let pan = Pan::parse(&card.card_number)?;
    if !(1..=12).contains(&card.expiry_month) {
        return Err(FieldError::CardExpiryInvalid);
    }
    if (card.expiry_year, card.expiry_month) < (today.year, today.month) {
        return Err(FieldError::CardExpired);
    }
    Ok(pan)
}

/// What the hub learned or the user did.
#[derive(Clone, Debug)]
pub enum Event {
    /// Fields arrived, from the hub's extraction or from the wallet (FIG. 4). Either part may be
    /// absent when only one carrier was scanned; a second call fills the rest (a guided
    /// sequence) or replaces a part (a re-scan).
    FieldsReceived {
        identity: Option<IdentityFields>,
        card: Option<CardFields>,
    },
    /// The user changed fields on the confirmation screen (claims 3–5).
    Modified {
        identity: Option<IdentityFields>,
        card: Option<CardFields>,
    },
    Confirmed,
    BankIdentified {
        bank_id: String,
    },
    Verified {
        report: MatchReport,
        account_id: Uuid,
    },
    /// The bank does not know the card (or has no customer for it): back to the confirmation
    /// screen to re-enter or re-scan it.
    CardNotFoundAtBank,
    CodeIssued,
    Bound,
    /// The bank refused to bind the issued code, with its code (`registration_code_already_bound`:
    /// an earlier registration's binding is still there): the session ends, its code given back.
    BindRefused {
        code: String,
    },
    Cancelled,
    /// The code of a bound registration is revoked (a lost phone): it pays no more.
    Revoked,
}

/// Why an event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the registration is {}; that step does not apply now", .0.code())]
    OutOfOrder(State),
    #[error("the registration is finished ({})", .0.code())]
    Finished(State),
    #[error("the registration expired")]
    Expired,
}

impl StepError {
    pub fn code(&self) -> &'static str {
        match self {
            StepError::OutOfOrder(_) => "registration_step_out_of_order",
            StepError::Finished(_) => "registration_finished",
            StepError::Expired => "registration_expired",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub id: Uuid,
    pub caller_id: Uuid,
    /// The phone the code will be bound to.
    pub terminal_id: String,
    pub state: State,
    pub identity: Option<IdentityFields>,
    pub card: Option<CardFields>,
    pub bank_id: Option<String>,
    pub account_id: Option<Uuid>,
    /// The last verification's result, shown to the user on a near miss.
    pub last_match: Option<MatchReport>,
    pub verification_failures: u32,
    /// Why it was rejected (a stable code), when it was.
    pub rejection: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub expires_at_ms: i64,
}

impl Registration {
    pub fn new(
        id: Uuid,
        caller_id: Uuid,
        terminal_id: String,
        now_ms: i64,
        lifetime_ms: i64,
    ) -> Registration {
        Registration {
            id,
            caller_id,
            terminal_id,
            state: State::Started,
            identity: None,
            card: None,
            bank_id: None,
            account_id: None,
            last_match: None,
            verification_failures: 0,
            rejection: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            expires_at_ms: now_ms + lifetime_ms,
        }
    }

    /// Which carriers the wallet still has to send: `id_document`, `payment_card`.
    pub fn carriers_needed(&self) -> Vec<&'static str> {
        let mut needed = Vec::new();
        if self.identity.is_none() {
            needed.push("id_document");
        }
        if self.card.is_none() {
            needed.push("payment_card");
        }
        needed
    }

    /// Moves an unfinished session past its expiry to `expired`; says whether it did. A session
    /// whose code is issued but not yet bound does not expire: its code is reserved, and only
    /// binding (retried by `confirm`) finishes it.
    pub fn expire_if_due(&mut self, now_ms: i64) -> bool {
        if !self.state.is_final() && self.state != State::CodeIssued && now_ms >= self.expires_at_ms
        {
            self.state = State::Expired;
            self.updated_at_ms = now_ms;
            return true;
        }
        false
    }

    pub fn apply(&mut self, event: Event, now_ms: i64) -> Result<(), StepError> {
        if self.expire_if_due(now_ms) {
            return Err(StepError::Expired);
        }
        use State as S;
        let next = match (self.state, event) {
            (S::Expired, _) => return Err(StepError::Expired),
            (state, Event::Cancelled) if state.is_final() => {
                return if state == S::Cancelled {
                    Ok(())
                } else {
                    Err(StepError::Finished(state))
                };
            }
            // An issued code is reserved for this session; binding, not cancelling, ends it.
            (S::CodeIssued, Event::Cancelled) => return Err(StepError::OutOfOrder(S::CodeIssued)),
            (_, Event::Cancelled) => S::Cancelled,
            (S::Bound, Event::Revoked) => S::Revoked,
            (S::Revoked, Event::Revoked) => return Ok(()),
            (state, _) if state.is_final() => return Err(StepError::Finished(state)),
            (
                S::Started | S::CarriersReceived | S::AwaitingConfirmation,
                Event::FieldsReceived { identity, card },
            ) => {
                if identity.is_some() {
                    self.identity = identity;
                }
                if card.is_some() {
                    self.card = card;
                }
                self.last_match = None;
                if self.carriers_needed().is_empty() {
                    S::AwaitingConfirmation
                } else {
                    S::CarriersReceived
                }
            }
            (S::AwaitingConfirmation, Event::Modified { identity, card }) => {
                if identity.is_some() {
                    self.identity = identity;
                }
                if card.is_some() {
                    self.card = card;
                }
                S::AwaitingConfirmation
            }
            (S::AwaitingConfirmation, Event::Confirmed) => S::Confirmed,
            (S::Confirmed, Event::BankIdentified { bank_id }) => {
                self.bank_id = Some(bank_id);
                S::BankIdentified
            }
            (S::BankIdentified, Event::Verified { report, account_id }) => {
                let verdict = report.verdict;
                self.last_match = Some(report);
                match verdict {
                    FieldMatch::Match => {
                        self.account_id = Some(account_id);
                        S::Verified
                    }
                    FieldMatch::NearMiss | FieldMatch::Mismatch => {
                        self.verification_failures += 1;
                        if self.verification_failures >= VERIFICATION_FAILURES_MAX {
                            self.rejection = Some("identity_mismatch".to_string());
                            S::Rejected
                        } else {
                            S::AwaitingConfirmation
                        }
                    }
                }
            }
            (S::Confirmed | S::BankIdentified, Event::CardNotFoundAtBank) => {
                S::AwaitingConfirmation
            }
            (S::Verified, Event::CodeIssued) => S::CodeIssued,
            (S::CodeIssued, Event::Bound) => S::Bound,
            (S::CodeIssued, Event::BindRefused { code }) => {
                self.rejection = Some(code);
                S::Rejected
            }
            // A retried step the session already reflects is a no-op.
            (S::Confirmed | S::BankIdentified | S::Verified | S::CodeIssued, Event::Confirmed) => {
                return Ok(());
            }
            (state, _) => return Err(StepError::OutOfOrder(state)),
        };
        self.state = next;
        self.updated_at_ms = now_ms;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{IdentityToMatch, compare};

    const TODAY: Day = Day {
        year: 2026,
        month: 11,
        day: 22,
    };

    fn identity() -> IdentityFields {
        IdentityFields {
            full_name: "SAMPLE MICHAEL JOHN".to_string(),
            document_type: "driver_license".to_string(),
            document_number: "T64235789".to_string(),
            birth_date: "1986-06-06".to_string(),
            expiry_date: "2030-12-10".to_string(),
            ..IdentityFields::default()
        }
    }

    fn card() -> CardFields {
        CardFields {
            card_number: "3023 3348 7786 1104".to_string(),
            expiry_month: 7,
            expiry_year: 2037,
            holder_name: "SAMPLE MICHAEL JOHN".to_string(),
        }
    }

    fn report(name: &str) -> MatchReport {
        let saved = IdentityToMatch {
            full_name: "SAMPLE MICHAEL JOHN".to_string(),
            document_number: "T64235789".to_string(),
            birth_date: "1986-06-06".to_string(),
        };
        compare(
            &IdentityToMatch {
                full_name: name.to_string(),
                ..saved.clone()
            },
            &saved,
        )
    }

    fn session() -> Registration {
        Registration::new(Uuid::nil(), Uuid::nil(), "phone-1".to_string(), 0, 600_000)
    }

    /// A session with both carriers in, confirmed, and its bank identified.
    fn at_the_bank() -> Registration {
        let mut r = session();
        r.apply(
            Event::FieldsReceived {
                identity: Some(identity()),
                card: Some(card()),
            },
            1,
        )
        .unwrap();
        r.apply(Event::Confirmed, 2).unwrap();
        r.apply(
            Event::BankIdentified {
                bank_id: "south".to_string(),
            },
            3,
        )
        .unwrap();
        r
    }

    #[test]
    fn the_whole_way_in_a_guided_sequence() {
        let mut r = session();
        r.apply(
            Event::FieldsReceived {
                identity: Some(identity()),
                card: None,
            },
            1,
        )
        .unwrap();
        assert_eq!(
            (r.state, r.carriers_needed()),
            (State::CarriersReceived, vec!["payment_card"])
        );
        r.apply(
            Event::FieldsReceived {
                identity: None,
                card: Some(card()),
            },
            2,
        )
        .unwrap();
        assert_eq!(r.state, State::AwaitingConfirmation);
        r.apply(Event::Confirmed, 3).unwrap();
        r.apply(Event::Confirmed, 3).unwrap();
        r.apply(
            Event::BankIdentified {
                bank_id: "south".to_string(),
            },
            4,
        )
        .unwrap();
        r.apply(
            Event::Verified {
                report: report("SAMPLE MICHAEL JOHN"),
                account_id: Uuid::max(),
            },
            5,
        )
        .unwrap();
        assert_eq!(r.account_id, Some(Uuid::max()));
        r.apply(Event::CodeIssued, 6).unwrap();
        r.apply(Event::Bound, 7).unwrap();
        assert_eq!(r.state, State::Bound);
        assert_eq!(
            r.apply(Event::Cancelled, 8),
            Err(StepError::Finished(State::Bound))
        );
        // A lost phone: the code is revoked, once; a revoked registration takes no other step.
        r.apply(Event::Revoked, 9).unwrap();
        assert_eq!((r.state, r.updated_at_ms), (State::Revoked, 9));
        r.apply(Event::Revoked, 10).unwrap();
        assert_eq!(r.updated_at_ms, 9, "a repeated revocation changes nothing");
        assert_eq!(
            r.apply(Event::Bound, 11),
            Err(StepError::Finished(State::Revoked))
        );
        assert_eq!(
            r.apply(Event::Cancelled, 11),
            Err(StepError::Finished(State::Revoked))
        );
    }

    #[test]
    fn only_a_bound_registration_is_revoked() {
        let mut r = at_the_bank();
        assert_eq!(
            r.apply(Event::Revoked, 4),
            Err(StepError::OutOfOrder(State::BankIdentified))
        );
        r.apply(Event::Cancelled, 5).unwrap();
        assert_eq!(
            r.apply(Event::Revoked, 6),
            Err(StepError::Finished(State::Cancelled))
        );
    }

    #[test]
    fn near_miss_goes_back_to_confirmation_and_failures_end_it() {
        let mut r = at_the_bank();
        r.apply(
            Event::Verified {
                report: report("SAMPLE MICHAEL"),
                account_id: Uuid::nil(),
            },
            4,
        )
        .unwrap();
        assert_eq!(r.state, State::AwaitingConfirmation);
        assert_eq!(
            r.last_match.as_ref().unwrap().fields_to_check(),
            ["full_name"]
        );
        // Near misses and mismatches both count, so the bank's record cannot be probed forever.
        let mut attempts = 1;
        while r.state != State::Rejected {
            r.apply(Event::Confirmed, 5).unwrap();
            r.apply(
                Event::BankIdentified {
                    bank_id: "south".to_string(),
                },
                6,
            )
            .unwrap();
            r.apply(
                Event::Verified {
                    report: report("SOMEONE ELSE"),
                    account_id: Uuid::nil(),
                },
                7,
            )
            .unwrap();
            attempts += 1;
        }
        assert_eq!(attempts, VERIFICATION_FAILURES_MAX);
        assert_eq!(r.rejection.as_deref(), Some("identity_mismatch"));
        assert_eq!(r.account_id, None);
    }

    #[test]
    fn a_card_the_bank_does_not_know_goes_back_to_confirmation() {
        let mut r = at_the_bank();
        r.apply(Event::CardNotFoundAtBank, 4).unwrap();
        assert_eq!(r.state, State::AwaitingConfirmation);
        r.apply(
            Event::Modified {
                identity: None,
                card: Some(card()),
            },
            5,
        )
        .unwrap();
    }

    #[test]
    fn an_issued_code_neither_cancels_nor_expires() {
        let mut r = at_the_bank();
        r.apply(
            Event::Verified {
                report: report("SAMPLE MICHAEL JOHN"),
                account_id: Uuid::max(),
            },
            4,
        )
        .unwrap();
        r.apply(Event::CodeIssued, 5).unwrap();
        assert_eq!(
            r.apply(Event::Cancelled, 6),
            Err(StepError::OutOfOrder(State::CodeIssued))
        );
        assert!(!r.expire_if_due(10 * 600_000));
        let mut refused = r.clone();
        r.apply(Event::Bound, 10 * 600_000).unwrap();
        // Or the bank refuses the binding: the session ends, saying why.
        refused
            .apply(
                Event::BindRefused {
                    code: "registration_code_already_bound".to_string(),
                },
                7,
            )
            .unwrap();
        assert_eq!(refused.state, State::Rejected);
        assert_eq!(
            refused.rejection.as_deref(),
            Some("registration_code_already_bound")
        );
    }

    #[test]
    fn out_of_order_cancel_and_expiry() {
        let mut r = session();
        assert_eq!(
            r.apply(Event::Confirmed, 1),
            Err(StepError::OutOfOrder(State::Started))
        );
        assert_eq!(
            r.apply(Event::CodeIssued, 1).unwrap_err().code(),
            "registration_step_out_of_order"
        );
        r.apply(Event::Cancelled, 2).unwrap();
        r.apply(Event::Cancelled, 3).unwrap();
        assert_eq!(
            r.apply(Event::Confirmed, 4),
            Err(StepError::Finished(State::Cancelled))
        );
        let mut r = session();
        assert_eq!(r.apply(Event::Confirmed, 600_000), Err(StepError::Expired));
        assert_eq!(r.state, State::Expired);
    }

    #[test]
    fn days_from_unix_time() {
        let check = |ms: i64, expect: (u16, u8, u8)| {
            let day = Day::from_unix_ms(ms);
            assert_eq!((day.year, day.month, day.day), expect, "{ms}");
        };
        check(0, (1970, 1, 1));
        check(86_399_999, (1970, 1, 1));
        check(951_782_400_000, (2000, 2, 29));
        check(1_795_312_800_000, (2026, 11, 22));
        check(-1, (1969, 12, 31));
        // And back: each day's start, over four centuries of days.
        for days in (-146_097..146_097 * 2).step_by(37) {
            let start = days * 86_400_000;
            assert_eq!(Day::from_unix_ms(start).to_unix_ms(), start, "day {days}");
            assert_eq!(Day::from_unix_ms(start + 86_399_999).to_unix_ms(), start);
        }
    }

    #[test]
    fn days_parsed_only_when_they_exist() {
        let parsed = |text| Day::parse(text).map(|d| (d.year, d.month, d.day));
        assert_eq!(parsed("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parsed("2024-12-31"), Some((2024, 12, 31)));
        // Past the month's end: not the next month's first days.
        for text in [
            "2024-02-30",
            "2023-02-29",
            "2100-02-29",
            "2024-04-31",
            "2024-13-01",
            "1974-8-012",
            "+974-08-12",
            "2024-00-10",
            "2024-01-00",
        ] {
            assert_eq!(parsed(text), None, "{text}");
        }
        assert_eq!(parsed("2000-02-29"), Some((2000, 2, 29)));
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate_identity(&identity(), TODAY, Policy::default()),
            Ok(())
        );
        let expired = IdentityFields {
            expiry_date: "2012-04-15".to_string(),
            ..identity()
        };
        assert_eq!(
            validate_identity(&expired, TODAY, Policy::default())
                .unwrap_err()
                .code(),
            "identity_document_expired"
        );
        let lenient = Policy {
            refuse_expired_documents: false,
        };
        assert_eq!(validate_identity(&expired, TODAY, lenient), Ok(()));
        let no_expiry = IdentityFields {
            expiry_date: String::new(),
            ..identity()
        };
        assert_eq!(
            validate_identity(&no_expiry, TODAY, Policy::default()),
            Err(FieldError::IdentityFieldInvalid("expiry_date"))
        );
        let unborn = IdentityFields {
            birth_date: "2030-01-01".to_string(),
            ..identity()
        };
        assert!(validate_identity(&unborn, TODAY, Policy::default()).is_err());
        assert!(validate_card(&card(), TODAY).is_ok());
        let this_month = CardFields {
            expiry_month: 11,
            expiry_year: 2026,
            ..card()
        };
        assert!(
            validate_card(&this_month, TODAY).is_ok(),
            "valid through the month's end"
        );
        let last_month = CardFields {
            expiry_month: 10,
            expiry_year: 2026,
            ..card()
        };
        assert_eq!(
            validate_card(&last_month, TODAY).unwrap_err().code(),
            "card_expired"
        );
        let luhn = CardFields {
            card_number: "3023 3348 7786 1105".to_string(),
            ..card()
        };
        assert_eq!(
            validate_card(&luhn, TODAY).unwrap_err().code(),
            "card_number_luhn_failed"
        );
    }
}
