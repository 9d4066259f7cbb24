//! Demo data: the banks of a seed file (`seed/demo.toml`) and their customers, accounts, cards
//! and opening balances. See `docs/seed.md` for the format.
//!
//! Seeding is deterministic (a seeded random generator makes every id, name and number), so the
//! same file gives the same bank. It runs when a bank starts: records are written once, when the
//! bank has no customer yet; the opening deposits are ledger transfers with fixed ids, submitted
//! on every start and answered `exists` after the first, so a crash half-way through seeding is
//! finished by the next start. Money enters through the bank's funding account: the books balance.

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scanpay_core::card::{Pan, luhn_check_digit};
use scanpay_core::ledger::{Account, BATCH_COMMANDS_MAX, Outcome, TransferCommand, TransferKind};
use scanpay_core::money::Currency;
use scanpay_proto::bank::{CreateCard, CreateCustomer};
use scanpay_store::{AccountKind, AccountRow, BankStore, Record};
use serde::Deserialize;
use uuid::Uuid;

use crate::Bank;

/// The demo seed file shipped with the binary.
pub const DEMO: &str = include_str!("../../../seed/demo.toml");
/// A seed file generates at most this many customers per bank.
pub const GENERATED_CUSTOMERS_MAX: u32 = 100_000;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    pub bank: Vec<SeedBank>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedBank {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub ranges: Vec<[String; 2]>,
    #[serde(default)]
    pub generated_customers: u32,
    #[serde(default = "default_opening_balance")]
    pub opening_balance_minor: [i64; 2],
    #[serde(default)]
    pub random_seed: u64,
    #[serde(default)]
    pub customer: Vec<SeedCustomer>,
    /// Merchants with their payout account at this bank; `scanpay up` makes each a hub caller.
    #[serde(default)]
    pub merchant: Vec<SeedMerchant>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMerchant {
    /// Letters, digits and `_`: names the merchant's token file (`data/merchants/ID.token`).
    pub id: String,
    pub name: String,
}

/// A seeded merchant's payout account id: derived from bank and merchant ids, so the hub finds
/// it without asking.
pub fn merchant_account_id(bank_id: &str, merchant_id: &str) -> Uuid {
    derived_uuid(&["merchant account", bank_id, merchant_id])
}

fn derived_uuid(parts: &[&str]) -> Uuid {
    let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    scanpay_proto::derived_uuid(&bytes)
}

fn default_opening_balance() -> [i64; 2] {
    [0, 0]
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCustomer {
    pub full_name: String,
    pub id_document_type: String,
    pub id_document_number: String,
    pub birth_date: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub card: Vec<SeedCard>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCard {
    pub card_number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    #[serde(default)]
    pub balance_minor: i64,
}

impl SeedFile {
    pub fn parse(text: &str) -> anyhow::Result<SeedFile> {
        let file: SeedFile = toml::from_str(text).context("reading the seed file")?;
        for bank in &file.bank {
            if bank.id.is_empty()
                || !bank
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                bail!("bank id {:?}: use lowercase letters, digits and _", bank.id);
            }
            if bank.generated_customers > GENERATED_CUSTOMERS_MAX {
                bail!(
                    "bank {}: at most {GENERATED_CUSTOMERS_MAX} generated customers",
                    bank.id
                );
            }
            let [low, high] = bank.opening_balance_minor;
            if low < 0 || high < low {
                bail!(
                    "bank {}: opening_balance_minor must be [low, high], 0 <= low <= high",
                    bank.id
                );
            }
            Currency::parse(&bank.currency)
                .map_err(|e| anyhow::anyhow!("bank {}: {e}", bank.id))?;
            for merchant in &bank.merchant {
                if merchant.id.is_empty()
                    || !merchant
                        .id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    bail!(
                        "merchant id {:?}: use lowercase letters, digits and _",
                        merchant.id
                    );
                }
            }
        }
        let mut merchants: Vec<&str> = file
            .bank
            .iter()
            .flat_map(|b| b.merchant.iter().map(|m| m.id.as_str()))
            .collect();
        merchants.sort_unstable();
        if let Some(pair) = merchants.windows(2).find(|w| w[0] == w[1]) {
            bail!("merchant id {:?} appears twice", pair[0]);
        }
        Ok(file)
    }
}

/// What seeding did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub customers_created: usize,
    pub deposits_created: usize,
}

/// The bank's funding account in `currency`, made when missing.
pub async fn funding_account<S: BankStore>(store: &S, currency: Currency) -> anyhow::Result<Uuid> {
    for row in store.accounts_of_kind(AccountKind::Funding, 100).await? {
        if row.account.currency == currency {
            return Ok(row.account.id);
        }
    }
    let id = Uuid::now_v7();
    store
        .insert_records(vec![Record::Account(AccountRow {
            account: Account::new(id, currency, None),
            kind: AccountKind::Funding,
            customer_id: None,
            created_at_ms: scanpay_http::now_ms(),
        })])
        .await?;
    Ok(id)
}

const GIVEN_NAMES: [&str; 24] = [
    "OLIVIA", "LIAM", "EMMA", "NOAH", "AMELIA", "OLIVER", "SOFIA", "MATEO", "WEI", "MEI", "ARJUN",
    "PRIYA", "YUKI", "HARUTO", "FATIMA", "OMAR", "AMARA", "KWAME", "INGRID", "LARS", "CHIARA",
    "LUCA", "ZOE", "DIEGO",
];
const SURNAMES: [&str; 24] = [
    "SMITH",
    "GARCIA",
    "MÜLLER",
    "ROSSI",
    "DUBOIS",
    "NOWAK",
    "JOHANSSON",
    "OKAFOR",
    "MENSAH",
    "WANG",
    "LI",
    "ZHANG",
    "TANAKA",
    "SATO",
    "KIM",
    "PARK",
    "SHARMA",
    "PATEL",
    "HASSAN",
    "SILVA",
    "SANTOS",
    "O'BRIEN",
    "NGUYEN",
    "KOWALSKI",
];
const STREETS: [&str; 8] = [
    "MAIN STREET",
    "OAK AVENUE",
    "HARBOUR ROAD",
    "STATION LANE",
    "PARK ROAD",
    "HIGH STREET",
    "RIVERSIDE DRIVE",
    "MARKET SQUARE",
];
const CITIES: [&str; 6] = [
    "SPRINGFIELD",
    "RIVERTON",
    "LAKEWOOD",
    "FAIRVIEW",
    "MILLBROOK",
    "KINGSPORT",
];

fn uuid_from(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()
}

/// A random card number inside one of `ranges`, valid for its network and Luhn.
fn card_number_in(rng: &mut StdRng, ranges: &[[String; 2]]) -> String {
    loop {
        let [low, high] = &ranges[rng.gen_range(0..ranges.len())];
        let low_n: u64 = low.parse().expect("validated range");
        let high_n: u64 = high.parse().expect("validated range");
        let prefix = format!(
            "{:0width$}",
            rng.gen_range(low_n..=high_n),
            width = low.len()
        );
        let length = match scanpay_core::card::identify_network(&prefix) {
            Some(scanpay_core::card::Network::Amex) => 15,
            _ => 16,
        };
        let mut digits = prefix;
        while digits.len() < length - 1 {
            digits.push(char::from(b'0' + rng.gen_range(0..10u8)));
        }
        let Some(check) = luhn_check_digit(&digits) else {
            continue;
        };
        digits.push(char::from(b'0' + check));
        if Pan::parse(&digits).is_ok() {
            return digits;
        }
    }
}

fn generated_customer(rng: &mut StdRng, bank: &SeedBank) -> SeedCustomer {
    let given = GIVEN_NAMES[rng.gen_range(0..GIVEN_NAMES.len())];
    let middle = GIVEN_NAMES[rng.gen_range(0..GIVEN_NAMES.len())];
    let surname = SURNAMES[rng.gen_range(0..SURNAMES.len())];
    let (document_type, number) = match rng.gen_range(0..3) {
        0 => (
            "passport",
            format!("P{:08}", rng.gen_range(0..100_000_000u32)),
        ),
        1 => (
            "id_card",
            format!("ID{:07}", rng.gen_range(0..10_000_000u32)),
        ),
        _ => (
            "driver_license",
            format!(
                "{}{:08}",
                char::from(b'A' + rng.gen_range(0..26u8)),
                rng.gen_range(0..100_000_000u32)
            ),
        ),
    };
    let [low, high] = bank.opening_balance_minor;
    SeedCustomer {
        full_name: format!("{surname} {given} {middle}"),
        id_document_type: document_type.to_string(),
        id_document_number: number,
        birth_date: format!(
            "{}-{:02}-{:02}",
            rng.gen_range(1940..=2006),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28)
        ),
        address: format!(
            "{} {}, {}",
            rng.gen_range(1..=999),
            STREETS[rng.gen_range(0..STREETS.len())],
            CITIES[rng.gen_range(0..CITIES.len())]
        ),
        phone: format!(
            "+1 555 01{:02} {:04}",
            rng.gen_range(0..100),
            rng.gen_range(0..10_000)
        ),
        card: vec![SeedCard {
            card_number: card_number_in(rng, &bank.ranges),
            expiry_month: rng.gen_range(1..=12),
            expiry_year: rng.gen_range(2028..=2032),
            balance_minor: rng.gen_range(low..=high),
        }],
    }
}

/// Seeds `bank` from `seed` (see the module doc for when it writes what).
pub async fn seed_bank<S: BankStore>(
    bank: &Bank<S>,
    seed: &SeedBank,
) -> anyhow::Result<SeedReport> {
    let currency = Currency::parse(&seed.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let funding = funding_account(&*bank.store, currency).await?;
    let mut rng = StdRng::seed_from_u64(seed.random_seed);
    let mut customers = seed.customer.clone();
    for _ in 0..seed.generated_customers {
        customers.push(generated_customer(&mut rng, seed));
    }
    let now = scanpay_http::now_ms();
    let mut records = Vec::new();
    let mut deposits = Vec::new();
    let mut seen_cards = std::collections::HashSet::new();
    for customer in &customers {
        let customer_id = uuid_from(&mut rng);
        let request = CreateCustomer {
            id: Some(customer_id),
            full_name: customer.full_name.clone(),
            id_document_type: customer.id_document_type.clone(),
            id_document_number: customer.id_document_number.clone(),
            birth_date: customer.birth_date.clone(),
            address: customer.address.clone(),
            phone: customer.phone.clone(),
        };
        let row = crate::api::customer_row(&bank.vault, &request, now)
            .map_err(|e| anyhow::anyhow!("customer {}: {}", customer.full_name, e.message))?;
        records.push(Record::Customer(row));
        for card in &customer.card {
            let account_id = uuid_from(&mut rng);
            let card_id = uuid_from(&mut rng);
            let deposit_id = uuid_from(&mut rng);
            if !seen_cards.insert(card.card_number.replace([' ', '-'], "")) {
                // A generated number that repeats an earlier one is skipped, not an error.
                continue;
            }
            records.push(Record::Account(AccountRow {
                account: Account::new(account_id, currency, Some(0)),
                kind: AccountKind::Customer,
                customer_id: Some(customer_id),
                created_at_ms: now,
            }));
            let request = CreateCard {
                id: Some(card_id),
                account_id,
                card_number: card.card_number.clone(),
                expiry_month: card.expiry_month,
                expiry_year: card.expiry_year,
                holder_name: customer.full_name.clone(),
            };
            let row = crate::api::card_row(&bank.vault, &bank.ranges, &request, now)
                .map_err(|e| anyhow::anyhow!("card of {}: {}", customer.full_name, e.message))?;
            records.push(Record::Card(row));
            if card.balance_minor > 0 {
                deposits.push(TransferCommand {
                    id: deposit_id,
                    kind: TransferKind::Single,
                    debit_account_id: Some(funding),
                    credit_account_id: Some(account_id),
                    amount_minor: Some(card.balance_minor),
                    currency,
                    pending_id: None,
                    timeout_seconds: None,
                    reference: Some("opening deposit".to_string()),
                });
            }
        }
    }
    for merchant in &seed.merchant {
        let customer_id = derived_uuid(&["merchant customer", &seed.id, &merchant.id]);
        let request = CreateCustomer {
            id: Some(customer_id),
            full_name: merchant.name.clone(),
            id_document_type: "id_card".to_string(),
            id_document_number: merchant.id.to_uppercase().replace('_', ""),
            birth_date: "2000-01-01".to_string(),
            address: String::new(),
            phone: String::new(),
        };
        let row = crate::api::customer_row(&bank.vault, &request, now)
            .map_err(|e| anyhow::anyhow!("merchant {}: {}", merchant.id, e.message))?;
        records.push(Record::Customer(row));
        records.push(Record::Account(AccountRow {
            account: Account::new(
                merchant_account_id(&seed.id, &merchant.id),
                currency,
                Some(0),
            ),
            kind: AccountKind::Customer,
            customer_id: Some(customer_id),
            created_at_ms: now,
        }));
    }
    let mut report = SeedReport::default();
    if bank.store.customer_count().await? == 0 {
        report.customers_created = customers.len();
        bank.store.insert_records(records).await?;
    }
    for chunk in deposits.chunks(BATCH_COMMANDS_MAX) {
        let decisions = bank.batcher.submit(chunk.to_vec()).await?;
        for decision in decisions {
            match decision.outcome {
                Outcome::Created => report.deposits_created += 1,
                Outcome::Exists => {}
                other => bail!("opening deposit refused: {}", other.code()),
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_file_parses_and_its_named_cards_are_in_their_banks() {
        let file = SeedFile::parse(DEMO).unwrap();
        assert_eq!(file.bank.len(), 2);
        for bank in &file.bank {
            assert!(
                bank.generated_customers >= 200,
                "a few hundred customers per bank"
            );
            let entries = bank
                .ranges
                .iter()
                .map(|[low, high]| scanpay_core::routing::RangeEntry {
                    low: low.clone(),
                    high: high.clone(),
                    bank: (),
                })
                .collect();
            let table = scanpay_core::routing::RoutingTable::new(entries).unwrap();
            let mut rng = StdRng::seed_from_u64(bank.random_seed);
            for customer in &bank.customer {
                for card in &customer.card {
                    let pan = Pan::parse(&card.card_number).unwrap();
                    assert!(table.resolve(pan.digits()).is_ok());
                }
            }
            for _ in 0..200 {
                let number = card_number_in(&mut rng, &bank.ranges);
                assert!(table.resolve(&number).is_ok(), "{number} in {}", bank.id);
            }
        }
    }

    #[test]
    fn bad_seed_files_are_refused() {
        assert!(
            SeedFile::parse(
                "[[bank]]\nid = \"North\"\nname = \"x\"\ncurrency = \"USD\"\nranges = []"
            )
            .is_err()
        );
        assert!(
            SeedFile::parse("[[bank]]\nid = \"n\"\nname = \"x\"\ncurrency = \"XXX\"\nranges = []")
                .is_err()
        );
        assert!(
            SeedFile::parse(
                "[[bank]]\nid = \"n\"\nname = \"x\"\ncurrency = \"USD\"\nranges = []\nextra = 1"
            )
            .is_err()
        );
    }
}
