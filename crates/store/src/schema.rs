//! Migrations, in order, per service and backend. A migration is never edited once released:
//! add a new one. `schema_migrations` records which ran.
//!
//! The two dialects differ only where they must: ids are 16-byte BLOBs in SQLite and `uuid` in
//! PostgreSQL; the transfer sequence is SQLite's rowid and a PostgreSQL identity column.

pub const BANK_SQLITE: &[&str] = &[
    r#"
CREATE TABLE customers (
    id BLOB PRIMARY KEY,
    full_name TEXT NOT NULL,
    id_document_type TEXT NOT NULL,
    id_number_ciphertext BLOB NOT NULL,
    id_number_lookup BLOB NOT NULL,
    birth_date TEXT NOT NULL,
    address TEXT NOT NULL,
    phone TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX customers_id_number ON customers (id_number_lookup);
CREATE TABLE accounts (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    customer_id BLOB REFERENCES customers (id),
    currency TEXT NOT NULL,
    overdraft_limit_minor INTEGER,
    debits_pending INTEGER NOT NULL CHECK (debits_pending >= 0),
    debits_posted INTEGER NOT NULL CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL CHECK (credits_pending >= 0),
    credits_posted INTEGER NOT NULL CHECK (credits_posted >= 0),
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX accounts_kind ON accounts (kind);
CREATE TABLE cards (
    id BLOB PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    pan_ciphertext BLOB NOT NULL,
    pan_lookup BLOB NOT NULL UNIQUE,
    last4 TEXT NOT NULL,
    expiry_month INTEGER NOT NULL,
    expiry_year INTEGER NOT NULL,
    holder_name TEXT NOT NULL,
    network TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    debit_account_id BLOB,
    credit_account_id BLOB,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    pending_id BLOB,
    timeout_seconds INTEGER,
    reference TEXT,
    outcome TEXT NOT NULL,
    requested_amount_minor INTEGER,
    requested_debit_account_id BLOB,
    requested_credit_account_id BLOB,
    hold_state TEXT,
    expires_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX transfers_debit ON transfers (debit_account_id, seq) WHERE outcome = 'created';
CREATE INDEX transfers_credit ON transfers (credit_account_id, seq) WHERE outcome = 'created';
CREATE INDEX transfers_holds_expiring ON transfers (expires_at_ms)
    WHERE hold_state = 'pending' AND expires_at_ms IS NOT NULL;
CREATE TABLE bindings (
    code_hash BLOB PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    created_at_ms INTEGER NOT NULL
);
"#,
    // The hub's registration a binding is for, so the hub can revoke it (it keeps no code).
    r#"
ALTER TABLE bindings ADD COLUMN registration_id BLOB;
CREATE INDEX bindings_registration ON bindings (registration_id) WHERE registration_id IS NOT NULL;
"#,
    // When a customer's account was closed (`close_account`); a closed account takes no transfer.
    "ALTER TABLE accounts ADD COLUMN closed_at_ms INTEGER",
    // Whether every ID number and card number is sealed for its purpose (`vault::Purpose`): set
    // once by the bank's first start with it, which seals the older ones again.
    r#"
CREATE TABLE personal_data_sealing (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    purpose_bound INTEGER NOT NULL
);
INSERT INTO personal_data_sealing (id, purpose_bound) VALUES (1, 0);
"#,
];

pub const BANK_POSTGRES: &[&str] = &[
    r#"
CREATE TABLE customers (
    id uuid PRIMARY KEY,
    full_name text NOT NULL,
    id_document_type text NOT NULL,
    id_number_ciphertext bytea NOT NULL,
    id_number_lookup bytea NOT NULL,
    birth_date text NOT NULL,
    address text NOT NULL,
    phone text NOT NULL,
    created_at_ms bigint NOT NULL
);
CREATE INDEX customers_id_number ON customers (id_number_lookup);
CREATE TABLE accounts (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    customer_id uuid REFERENCES customers (id),
    currency text NOT NULL,
    overdraft_limit_minor bigint,
    debits_pending bigint NOT NULL CHECK (debits_pending >= 0),
    debits_posted bigint NOT NULL CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL CHECK (credits_pending >= 0),
    credits_posted bigint NOT NULL CHECK (credits_posted >= 0),
    created_at_ms bigint NOT NULL
);
CREATE INDEX accounts_kind ON accounts (kind);
CREATE TABLE cards (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    pan_ciphertext bytea NOT NULL,
    pan_lookup bytea NOT NULL UNIQUE,
    last4 text NOT NULL,
    expiry_month smallint NOT NULL,
    expiry_year integer NOT NULL,
    holder_name text NOT NULL,
    network text NOT NULL,
    created_at_ms bigint NOT NULL
);
CREATE TABLE transfers (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    kind text NOT NULL,
    debit_account_id uuid,
    credit_account_id uuid,
    amount_minor bigint NOT NULL,
    currency text NOT NULL,
    pending_id uuid,
    timeout_seconds bigint,
    reference text,
    outcome text NOT NULL,
    requested_amount_minor bigint,
    requested_debit_account_id uuid,
    requested_credit_account_id uuid,
    hold_state text,
    expires_at_ms bigint,
    created_at_ms bigint NOT NULL
);
CREATE INDEX transfers_debit ON transfers (debit_account_id, seq) WHERE outcome = 'created';
CREATE INDEX transfers_credit ON transfers (credit_account_id, seq) WHERE outcome = 'created';
CREATE INDEX transfers_holds_expiring ON transfers (expires_at_ms)
    WHERE hold_state = 'pending' AND expires_at_ms IS NOT NULL;
CREATE TABLE bindings (
    code_hash bytea PRIMARY KEY,
    terminal_id text NOT NULL,
    account_id uuid NOT NULL REFERENCES accounts (id),
    created_at_ms bigint NOT NULL
);
"#,
    r#"
ALTER TABLE bindings ADD COLUMN registration_id uuid;
CREATE INDEX bindings_registration ON bindings (registration_id) WHERE registration_id IS NOT NULL;
"#,
    "ALTER TABLE accounts ADD COLUMN closed_at_ms bigint",
    r#"
CREATE TABLE personal_data_sealing (
    id integer PRIMARY KEY CHECK (id = 1),
    purpose_bound boolean NOT NULL
);
INSERT INTO personal_data_sealing (id, purpose_bound) VALUES (1, false);
"#,
];

pub const HUB_SQLITE: &[&str] = &[
    r#"
CREATE TABLE callers (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX callers_created ON callers (created_at_ms, id);
CREATE TABLE idempotency_records (
    caller_id BLOB NOT NULL,
    key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    response_status INTEGER,
    response_body BLOB NOT NULL,
    locked_until_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (caller_id, key)
);
"#,
    "CREATE INDEX idempotency_records_created ON idempotency_records (created_at_ms);",
    r#"
CREATE TABLE registrations (
    id BLOB PRIMARY KEY,
    caller_id BLOB NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX registrations_caller ON registrations (caller_id, created_at_ms, id);
CREATE TABLE registration_codes (
    code_hash BLOB PRIMARY KEY,
    card_lookup BLOB NOT NULL UNIQUE,
    registration_id BLOB NOT NULL UNIQUE,
    caller_id BLOB NOT NULL,
    bank_id TEXT NOT NULL,
    account_id BLOB NOT NULL,
    terminal_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
"#,
    "ALTER TABLE idempotency_records ADD COLUMN claim_token BLOB NOT NULL DEFAULT x''",
    r#"
CREATE TABLE merchants (
    caller_id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    bank_id TEXT NOT NULL,
    account_id BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE payments (
    id BLOB PRIMARY KEY,
    payer_id BLOB NOT NULL,
    payee_id BLOB NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    next_check_ms INTEGER,
    data BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX payments_payer ON payments (payer_id, created_at_ms, id);
CREATE INDEX payments_payee ON payments (payee_id, created_at_ms, id);
CREATE INDEX payments_created ON payments (created_at_ms, id);
CREATE INDEX payments_next_check ON payments (next_check_ms) WHERE next_check_ms IS NOT NULL;
CREATE TABLE notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    caller_id BLOB NOT NULL,
    data BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX notifications_caller ON notifications (caller_id, seq);
CREATE INDEX notifications_created ON notifications (created_at_ms);
CREATE INDEX registration_codes_caller ON registration_codes (caller_id, created_at_ms);
"#,
    r#"
ALTER TABLE merchants ADD COLUMN webhook_url TEXT;
ALTER TABLE merchants ADD COLUMN webhook_secrets BLOB NOT NULL DEFAULT x'';
CREATE TABLE webhook_deliveries (
    id BLOB PRIMARY KEY,
    merchant_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER,
    last_status INTEGER,
    last_error TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms)
    WHERE next_attempt_ms IS NOT NULL;
CREATE INDEX webhook_deliveries_merchant ON webhook_deliveries (merchant_id, created_at_ms);
"#,
    r#"
CREATE TABLE totp_seeds (
    caller_id BLOB PRIMARY KEY,
    sealed_seed BLOB NOT NULL,
    last_step INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE card_failures (
    card_lookup BLOB PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start_ms INTEGER NOT NULL
);
"#,
    // Every payment reads its payer's latest payments (the exemption rule): from an index that
    // holds what the rule needs, rather than twenty payment documents.
    r#"
ALTER TABLE payments ADD COLUMN amount_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN exempted INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET
    amount_minor = json_extract(CAST(data AS TEXT), '$.payment.amount_minor'),
    exempted = COALESCE(json_type(CAST(data AS TEXT), '$.payment.verification'), 'null') = 'null';
DROP INDEX payments_payer;
CREATE INDEX payments_payer ON payments
    (payer_id, created_at_ms, id, payee_id, state, amount_minor, exempted);
"#,
    // The deliverer reads each merchant's first due deliveries, skipping a busy merchant's
    // backlog without walking it.
    r#"
CREATE INDEX webhook_deliveries_merchant_due ON webhook_deliveries (merchant_id, next_attempt_ms)
    WHERE next_attempt_ms IS NOT NULL;
"#,
    // Settlement sums each payment's share by day and bank (`payment_books`, written with the
    // payment) instead of reading every payment, and keeps the sums of days that can no longer
    // change (`settled_days`, every day before `books_rolled_up.through_ms`); the few payments
    // with money held in clearing and those saved before their books were kept (`booked`) are
    // found by partial indexes. The scan by creation time was settlement's alone.
    r#"
CREATE TABLE payment_books (
    payment_id BLOB NOT NULL,
    day_ms INTEGER NOT NULL,
    bank_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    paid_out_minor INTEGER NOT NULL,
    received_minor INTEGER NOT NULL,
    clearing_minor INTEGER NOT NULL,
    PRIMARY KEY (payment_id, day_ms, bank_id)
) WITHOUT ROWID;
CREATE INDEX payment_books_day ON payment_books
    (day_ms, bank_id, currency, paid_out_minor, received_minor, clearing_minor);
ALTER TABLE payments ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN booked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX payments_held ON payments (id) WHERE held;
CREATE INDEX payments_unbooked ON payments (id) WHERE NOT booked;
DROP INDEX payments_created;
CREATE TABLE settled_days (
    day_ms INTEGER NOT NULL,
    bank_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    paid_out_minor INTEGER NOT NULL,
    received_minor INTEGER NOT NULL,
    clearing_minor INTEGER NOT NULL,
    PRIMARY KEY (day_ms, bank_id, currency)
) WITHOUT ROWID;
CREATE TABLE books_rolled_up (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through_ms INTEGER NOT NULL
);
INSERT INTO books_rolled_up (id, through_ms) VALUES (1, -9223372036854775808);
"#,
];

pub const HUB_POSTGRES: &[&str] = &[
    r#"
CREATE TABLE callers (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    name text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at_ms bigint NOT NULL
);
CREATE INDEX callers_created ON callers (created_at_ms, id);
CREATE TABLE idempotency_records (
    caller_id uuid NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    response_status integer,
    response_body bytea NOT NULL,
    locked_until_ms bigint NOT NULL,
    created_at_ms bigint NOT NULL,
    PRIMARY KEY (caller_id, key)
);
"#,
    "CREATE INDEX idempotency_records_created ON idempotency_records (created_at_ms);",
    r#"
CREATE TABLE registrations (
    id uuid PRIMARY KEY,
    caller_id uuid NOT NULL,
    state text NOT NULL,
    version bigint NOT NULL,
    data bytea NOT NULL,
    created_at_ms bigint NOT NULL,
    updated_at_ms bigint NOT NULL
);
CREATE INDEX registrations_caller ON registrations (caller_id, created_at_ms, id);
CREATE TABLE registration_codes (
    code_hash bytea PRIMARY KEY,
    card_lookup bytea NOT NULL UNIQUE,
    registration_id uuid NOT NULL UNIQUE,
    caller_id uuid NOT NULL,
    bank_id text NOT NULL,
    account_id uuid NOT NULL,
    terminal_id text NOT NULL,
    created_at_ms bigint NOT NULL
);
"#,
    "ALTER TABLE idempotency_records ADD COLUMN claim_token bytea NOT NULL DEFAULT ''::bytea",
    r#"
CREATE TABLE merchants (
    caller_id uuid PRIMARY KEY,
    name text NOT NULL,
    bank_id text NOT NULL,
    account_id uuid NOT NULL,
    created_at_ms bigint NOT NULL
);
CREATE TABLE payments (
    id uuid PRIMARY KEY,
    payer_id uuid NOT NULL,
    payee_id uuid NOT NULL,
    state text NOT NULL,
    version bigint NOT NULL,
    next_check_ms bigint,
    data bytea NOT NULL,
    created_at_ms bigint NOT NULL,
    updated_at_ms bigint NOT NULL
);
CREATE INDEX payments_payer ON payments (payer_id, created_at_ms, id);
CREATE INDEX payments_payee ON payments (payee_id, created_at_ms, id);
CREATE INDEX payments_created ON payments (created_at_ms, id);
CREATE INDEX payments_next_check ON payments (next_check_ms) WHERE next_check_ms IS NOT NULL;
CREATE TABLE notifications (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    caller_id uuid NOT NULL,
    data bytea NOT NULL,
    created_at_ms bigint NOT NULL
);
CREATE INDEX notifications_caller ON notifications (caller_id, seq);
CREATE INDEX notifications_created ON notifications (created_at_ms);
CREATE INDEX registration_codes_caller ON registration_codes (caller_id, created_at_ms);
"#,
    r#"
ALTER TABLE merchants ADD COLUMN webhook_url text;
ALTER TABLE merchants ADD COLUMN webhook_secrets bytea NOT NULL DEFAULT ''::bytea;
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    event_type text NOT NULL,
    payload text NOT NULL,
    state text NOT NULL,
    attempts bigint NOT NULL,
    next_attempt_ms bigint,
    last_status bigint,
    last_error text,
    created_at_ms bigint NOT NULL,
    updated_at_ms bigint NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms)
    WHERE next_attempt_ms IS NOT NULL;
CREATE INDEX webhook_deliveries_merchant ON webhook_deliveries (merchant_id, created_at_ms);
"#,
    r#"
CREATE TABLE totp_seeds (
    caller_id uuid PRIMARY KEY,
    sealed_seed bytea NOT NULL,
    last_step bigint NOT NULL,
    created_at_ms bigint NOT NULL
);
"#,
    r#"
CREATE TABLE card_failures (
    card_lookup bytea PRIMARY KEY,
    failures bigint NOT NULL,
    window_start_ms bigint NOT NULL
);
"#,
    r#"
ALTER TABLE payments ADD COLUMN amount_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN exempted boolean NOT NULL DEFAULT false;
UPDATE payments SET
    amount_minor = (convert_from(data, 'UTF8')::jsonb #>> '{payment,amount_minor}')::bigint,
    exempted = COALESCE(jsonb_typeof(convert_from(data, 'UTF8')::jsonb #> '{payment,verification}'),
        'null') = 'null';
DROP INDEX payments_payer;
CREATE INDEX payments_payer ON payments (payer_id, created_at_ms, id)
    INCLUDE (payee_id, state, amount_minor, exempted);
"#,
    r#"
CREATE INDEX webhook_deliveries_merchant_due ON webhook_deliveries (merchant_id, next_attempt_ms)
    WHERE next_attempt_ms IS NOT NULL;
"#,
    r#"
CREATE TABLE payment_books (
    payment_id uuid NOT NULL,
    day_ms bigint NOT NULL,
    bank_id text NOT NULL,
    currency text NOT NULL,
    paid_out_minor bigint NOT NULL,
    received_minor bigint NOT NULL,
    clearing_minor bigint NOT NULL,
    PRIMARY KEY (payment_id, day_ms, bank_id)
);
CREATE INDEX payment_books_day ON payment_books (day_ms)
    INCLUDE (bank_id, currency, paid_out_minor, received_minor, clearing_minor);
ALTER TABLE payments ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE payments ADD COLUMN booked boolean NOT NULL DEFAULT false;
CREATE INDEX payments_held ON payments (id) WHERE held;
CREATE INDEX payments_unbooked ON payments (id) WHERE NOT booked;
DROP INDEX payments_created;
CREATE TABLE settled_days (
    day_ms bigint NOT NULL,
    bank_id text NOT NULL,
    currency text NOT NULL,
    paid_out_minor bigint NOT NULL,
    received_minor bigint NOT NULL,
    clearing_minor bigint NOT NULL,
    PRIMARY KEY (day_ms, bank_id, currency)
);
CREATE TABLE books_rolled_up (
    id int PRIMARY KEY CHECK (id = 1),
    through_ms bigint NOT NULL
);
INSERT INTO books_rolled_up (id, through_ms) VALUES (1, -9223372036854775808);
"#,
];
