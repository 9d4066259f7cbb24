//! Registration by scanning (seed 000), over HTTP with the real hub and banks, on both stores:
//! photos read by the hub, fields read on the phone (the FIG. 4 path), plain or sealed to the
//! hub's key.

#[macro_use]
mod common;

use common::{Backend, Hub, TestSystem, unique};
use serde_json::{Value, json};

on_both_backends!(
    registers_from_photos_of_a_licence_and_a_card,
    registers_from_the_rendered_demo_documents,
    registers_from_a_passport_page_whose_zone_is_covered,
    sealed_photos_and_fields_open_only_for_their_session,
    a_wallet_registers_only_its_owners_cards,
    a_card_that_keeps_failing_verification_is_limited,
    registers_a_card_and_the_bank_binds_the_code,
    near_miss_asks_for_a_correction_and_mismatch_rejects,
    bad_fields_and_steps_get_clear_answers,
    the_same_card_registered_twice_at_once_yields_one,
);

/// Signs up a new wallet through the open endpoint.
async fn wallet(system: &TestSystem) -> Hub {
    let open = Hub::new(system.running().hub_url(), None);
    let answer = open
        .post("/v1/wallets", &json!({"name": "Michael"}), None)
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    open.with_token(answer.body["token"].as_str().unwrap())
}

fn licence() -> Value {
    json!({"full_name": "SAMPLE MICHAEL JOHN", "document_type": "driver_license",
           "document_number": "T64235789", "birth_date": "1986-06-06", "expiry_date": "2030-12-10"})
}

fn diners() -> Value {
    json!({"card_number": "3023 3348 7786 1104", "expiry_month": 7, "expiry_year": 2037})
}

async fn start(wallet: &Hub, terminal: &str) -> String {
    let answer = wallet
        .post(
            "/v1/registrations",
            &json!({"terminal_id": terminal}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["state"], "started");
    answer.body["id"].as_str().unwrap().to_string()
}

async fn step(wallet: &Hub, id: &str, action: &str, body: Value) -> common::Answer {
    wallet
        .post(
            &format!("/v1/registrations/{id}/{action}"),
            &body,
            Some(&unique("k")),
        )
        .await
}

async fn registers_a_card_and_the_bank_binds_the_code(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-michael").await;

    // A guided sequence: the document first, then the card.
    let first = step(&wallet, &id, "fields", json!({"identity": licence()})).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["state"], "carriers_received");
    assert_eq!(first.body["carriers_needed"], json!(["payment_card"]));
    let second = step(&wallet, &id, "fields", json!({"card": diners()})).await;
    assert_eq!(second.body["state"], "awaiting_confirmation");
    assert_eq!(second.body["card"]["card_masked"], "3023 •••• •••• 1104");
    assert_eq!(second.body["card"]["network"], "diners_club");
    assert_eq!(
        second.body["fields"]["card.card_number"]["source"],
        "wallet"
    );
    assert!(
        !second.body.to_string().contains("3023334877861104"),
        "the number never comes back"
    );

    let key = unique("confirm-");
    let confirmed = wallet
        .post(
            &format!("/v1/registrations/{id}/confirm"),
            &json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(confirmed.body["state"], "bound");
    assert_eq!(confirmed.body["bank_id"], "south");
    let code = confirmed.body["registration_code"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        code.len() == 10 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let replay = wallet
        .post(
            &format!("/v1/registrations/{id}/confirm"),
            &json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(
        replay.body["registration_code"],
        code.as_str(),
        "a retried confirm shows the code again"
    );

    // The bank bound code + terminal + the card's account.
    let bank = system.bank("south");
    let bound = bank
        .post(
            "/v1/bindings/verify",
            &json!({"registration_code": code, "terminal_id": "phone-michael"}),
        )
        .await;
    assert_eq!(bound.status, 200, "{bound:?}");
    let account = bank
        .post(
            "/v1/cards/lookup",
            &json!({"card_number": "3023334877861104"}),
        )
        .await;
    assert_eq!(bound.body["account_id"], account.body["account_id"]);
    let other_phone = bank
        .post(
            "/v1/bindings/verify",
            &json!({"registration_code": code, "terminal_id": "another-phone"}),
        )
        .await;
    assert_eq!(other_phone.code(), "terminal_mismatch");

    // Later reads never show the code again; another wallet may not read it at all.
    let read = wallet.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!(read.body["state"], "bound");
    assert!(read.body.get("registration_code").is_none());
    let listed = wallet.get("/v1/registrations").await;
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    let stranger = self::wallet(&system).await;
    let forbidden = stranger.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"));
    let forbidden = step(&stranger, &id, "cancel", json!(null)).await;
    assert_eq!(forbidden.status, 403);
    system.stop().await;
}

async fn near_miss_asks_for_a_correction_and_mismatch_rejects(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wallet = wallet(&system).await;

    // One digit of the birth date misread: the user is asked to check it, corrects it, done.
    let id = start(&wallet, "phone-1").await;
    let misread = json!({"identity": {"full_name": "SAMPLE MICHAEL JOHN", "document_type": "driver_license",
        "document_number": "T64235789", "birth_date": "1986-06-08", "expiry_date": "2030-12-10"}, "card": diners()});
    let received = step(&wallet, &id, "fields", misread).await;
    assert_eq!(
        received.body["state"], "awaiting_confirmation",
        "{received:?}"
    );
    let near = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(near.status, 200, "{near:?}");
    assert_eq!(near.body["state"], "awaiting_confirmation");
    assert_eq!(near.body["fields_to_check"], json!(["birth_date"]));
    // The card's name is corrected too, without its number (a phone only has it masked).
    let corrected = step(
        &wallet,
        &id,
        "confirm",
        json!({"modify": {"identity": licence(),
            "card": {"expiry_month": 7, "expiry_year": 2037, "holder_name": "MICHAEL J SAMPLE"}}}),
    )
    .await;
    assert_eq!(corrected.body["state"], "bound", "{corrected:?}");
    assert_eq!(corrected.body["card"]["card_masked"], "3023 •••• •••• 1104");
    assert_eq!(corrected.body["card"]["holder_name"], "MICHAEL J SAMPLE");
    // Only what changed is marked as the user's; the rest keeps where it came from.
    let source = |field: &str| corrected.body["fields"][field]["source"].clone();
    assert_eq!(source("identity.birth_date"), "user");
    assert_eq!(source("card.holder_name"), "user");
    assert_eq!(source("identity.full_name"), "wallet");
    assert_eq!(source("card.card_number"), "wallet");
    assert_eq!(source("card.expiry"), "wallet");

    // Sent by the phone as read, a card needs its number.
    let id = start(&wallet, "phone-1").await;
    let numberless = step(
        &wallet,
        &id,
        "fields",
        json!({"card": {"expiry_month": 7, "expiry_year": 2037}}),
    )
    .await;
    assert_eq!(numberless.code(), "registration_fields_missing");

    // Someone else's document with the ICAO specimen's card: refused, and after three tries, ended.
    let id = start(&wallet, "phone-1").await;
    let stranger = json!({"identity": {"full_name": "SOMEBODY ELSE ENTIRELY", "document_type": "passport",
        "document_number": "X0000000", "birth_date": "1990-01-01", "expiry_date": "2031-01-01"},
        "card": {"card_number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030}});
    step(&wallet, &id, "fields", stranger).await;
    for attempt in 1..=scanpay_core::registration::VERIFICATION_FAILURES_MAX {
        let refused = step(&wallet, &id, "confirm", json!({})).await;
        assert_eq!(
            (refused.status, refused.code()),
            (422, "identity_mismatch"),
            "attempt {attempt}"
        );
    }
    let ended = wallet.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!(ended.body["state"], "rejected");
    assert_eq!(ended.body["rejection"], "identity_mismatch");
    let after = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(after.code(), "registration_finished");
    system.stop().await;
}

async fn bad_fields_and_steps_get_clear_answers(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-2").await;

    let early = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(
        (early.status, early.code()),
        (409, "registration_step_out_of_order")
    );
    // The ICAO specimen passport expired in 2012.
    let specimen = json!({"identity": {"full_name": "ERIKSSON ANNA MARIA", "document_type": "passport",
        "document_number": "L898902C3", "birth_date": "1974-08-12", "expiry_date": "2012-04-15"}});
    let expired = step(&wallet, &id, "fields", specimen).await;
    assert_eq!(
        (expired.status, expired.code()),
        (422, "identity_document_expired")
    );
    let cases = [
        (
            json!({"card": {"card_number": "3023 3348 7786 1105", "expiry_month": 7, "expiry_year": 2037}}),
            "card_number_luhn_failed",
        ),
        (
            json!({"card": {"card_number": "3023 3348 7786 1104", "expiry_month": 7, "expiry_year": 2020}}),
            "card_expired",
        ),
        (
            json!({"card": {"card_number": "3023 3348 7786 1104", "expiry_month": 13, "expiry_year": 2037}}),
            "card_expiry_invalid",
        ),
        (
            json!({"card": {"card_number": "3023 3348 7786 1104", "expiry_month": 7, "expiry_year": 2037, "cvv": "123"}}),
            "request_invalid",
        ),
        (
            json!({"identity": {"full_name": "", "document_type": "passport", "document_number": "1", "birth_date": "1990-01-01"}}),
            "identity_field_invalid",
        ),
        (json!({}), "registration_fields_missing"),
    ];
    for (body, code) in cases {
        let answer = step(&wallet, &id, "fields", body.clone()).await;
        assert_eq!(answer.code(), code, "{body}: {answer:?}");
    }
    assert_eq!(
        wallet.get(&format!("/v1/registrations/{id}")).await.body["state"],
        "started",
        "nothing kept"
    );

    // A card in South Bank's range that South Bank never issued: back to confirmation.
    let id_unknown = start(&wallet, "phone-2").await;
    let unissued = json!({"identity": licence(), "card": {"card_number": "5555 5555 5555 4444", "expiry_month": 1, "expiry_year": 2031}});
    step(&wallet, &id_unknown, "fields", unissued).await;
    let not_found = step(&wallet, &id_unknown, "confirm", json!({})).await;
    assert_eq!(
        (not_found.status, not_found.code()),
        (404, "card_not_found")
    );
    let waiting = wallet.get(&format!("/v1/registrations/{id_unknown}")).await;
    assert_eq!(waiting.body["state"], "awaiting_confirmation");
    let cancelled = step(&wallet, &id_unknown, "cancel", json!(null)).await;
    assert_eq!(cancelled.body["state"], "cancelled", "{cancelled:?}");
    let no_expiry = json!({"identity": {"full_name": "SAMPLE MICHAEL JOHN", "document_type": "driver_license",
        "document_number": "T64235789", "birth_date": "1986-06-06"}});
    assert_eq!(
        step(&wallet, &id, "fields", no_expiry).await.code(),
        "identity_field_invalid"
    );

    // A card no bank of the platform issues: a clear answer, and the session waits for another.
    let amex = json!({"identity": licence(), "card": {"card_number": "378282246310005", "expiry_month": 1, "expiry_year": 2031}});
    step(&wallet, &id, "fields", amex).await;
    let unknown = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (422, "card_range_unknown")
    );
    let fixed = step(&wallet, &id, "confirm", json!({"modify": {"card": diners()}, "code": {"kind": "personalised", "code": "MICHAEL-2026"}})).await;
    assert_eq!(fixed.body["registration_code"], "MICHAEL-2026", "{fixed:?}");

    let id = start(&wallet, "phone-2").await;
    assert_eq!(
        step(&wallet, &id, "cancel", json!(null)).await.body["state"],
        "cancelled"
    );
    let after = step(&wallet, &id, "fields", json!({"identity": licence()})).await;
    assert_eq!(after.code(), "registration_finished");
    let operator = system.hub();
    let not_wallet = operator
        .post(
            "/v1/registrations",
            &json!({"terminal_id": "x"}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(not_wallet.code(), "forbidden");
    let missing = wallet
        .get(&format!("/v1/registrations/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(missing.code(), "registration_not_found");
    system.stop().await;
}

async fn the_same_card_registered_twice_at_once_yields_one(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let mut sessions = Vec::new();
    for index in 0..4 {
        let wallet = wallet(&system).await;
        let id = start(&wallet, &format!("phone-{index}")).await;
        step(
            &wallet,
            &id,
            "fields",
            json!({"identity": licence(), "card": diners()}),
        )
        .await;
        sessions.push((wallet, id));
    }
    let mut tasks = Vec::new();
    for (wallet, id) in sessions {
        tasks.push(tokio::spawn(async move {
            step(&wallet, &id, "confirm", json!({})).await
        }));
    }
    let mut bound = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match (answer.status, answer.code()) {
            (200, _) => {
                assert_eq!(answer.body["state"], "bound");
                bound += 1;
            }
            (409, "card_already_registered") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(bound, 1);
    system.stop().await;
}

fn testdata(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../../shared/testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A photo of the AAMVA 2020 Virginia sample licence's barcode. The sample expired in 2024; the
/// demo bank's record (and this fixture) carry 2030 so the licence can register.
fn licence_photo() -> Vec<u8> {
    use rxing::Writer;
    let escaped = String::from_utf8(testdata("aamva/virginia-sample.txt")).unwrap();
    let payload = escaped
        .trim_end()
        .replace("\\n", "\n")
        .replace("\\x1e", "\u{1e}")
        .replace("\\r", "\r")
        .replace("DBA12102024", "DBA12102030");
    let matrix = rxing::MultiFormatWriter
        .encode(&payload, &rxing::BarcodeFormat::PDF_417, 0, 0)
        .unwrap();
    let code = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(
        matrix.width(),
        matrix.height(),
        |x, y| image::Luma([if matrix.get(x, y) { 0 } else { 255 }]),
    ));
    let code = code.resize(
        code.width() * 3,
        code.height() * 3,
        image::imageops::FilterType::Nearest,
    );
    let mut canvas =
        image::GrayImage::from_pixel(code.width() + 80, code.height() + 80, image::Luma([255]));
    image::imageops::overlay(&mut canvas, &code.to_luma8(), 40, 40);
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(canvas)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

async fn upload(wallet: &Hub, id: &str, carrier: &str, photo: Vec<u8>) -> common::Answer {
    let path = format!("/v1/registrations/{id}/images?carrier={carrier}");
    post_body(wallet, &path, "image/png", photo).await
}

/// A creating POST of raw bytes with `content_type`.
async fn post_body(wallet: &Hub, path: &str, content_type: &str, body: Vec<u8>) -> common::Answer {
    let response = wallet
        .http
        .post(format!("{}{path}", wallet.url))
        .bearer_auth(wallet.token.as_ref().unwrap())
        .header("idempotency-key", unique("k"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    common::Answer {
        status,
        body,
        headers: Default::default(),
    }
}

/// Seals `plaintext` to the hub's published key for the registration `id` and endpoint `kind`.
async fn sealed(wallet: &Hub, id: &str, kind: &str, plaintext: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let published = wallet.get("/v1/sealing-key").await;
    assert_eq!(published.body["algorithm"], "X25519-HKDF-SHA256-AES256GCM");
    let key: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(published.body["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let mut random = [0u8; 44];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
    let aad = scanpay_proto::seal::registration_aad(id.parse().unwrap(), kind);
    scanpay_proto::seal::seal(&key, &aad, plaintext, random)
}

async fn post_sealed(wallet: &Hub, path: &str, envelope: Vec<u8>) -> common::Answer {
    post_body(wallet, path, scanpay_proto::seal::MEDIA_TYPE, envelope).await
}

/// A wallet seals the licence photo and the card fields to the hub's key; the session binds.
/// An envelope sealed for another session, or altered, is refused and changes nothing.
async fn sealed_photos_and_fields_open_only_for_their_session(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-sealed").await;
    let other = start(&wallet, "phone-sealed").await;

    // Sealed for the other session: does not open here.
    let misdirected = sealed(&wallet, &other, "images", &licence_photo()).await;
    let refused = post_sealed(
        &wallet,
        &format!("/v1/registrations/{id}/images?carrier=id_document"),
        misdirected,
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "sealed_body_invalid"),
        "{refused:?}"
    );
    // Sealed as a photo, sent as fields: the endpoint is bound too.
    let card = serde_json::to_vec(&json!({"card": diners()})).unwrap();
    let wrong_endpoint = sealed(&wallet, &id, "images", &card).await;
    let refused = post_sealed(
        &wallet,
        &format!("/v1/registrations/{id}/fields"),
        wrong_endpoint,
    )
    .await;
    assert_eq!(refused.code(), "sealed_body_invalid", "{refused:?}");
    let mut altered = sealed(&wallet, &id, "fields", &card).await;
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let refused = post_sealed(&wallet, &format!("/v1/registrations/{id}/fields"), altered).await;
    assert_eq!(refused.code(), "sealed_body_invalid", "{refused:?}");
    let untouched = wallet.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!(untouched.body["state"], "started", "{untouched:?}");

    let photo = sealed(&wallet, &id, "images", &licence_photo()).await;
    let read = post_sealed(
        &wallet,
        &format!("/v1/registrations/{id}/images?carrier=id_document"),
        photo,
    )
    .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["identity"]["document_number"], "T64235789");
    let fields = sealed(&wallet, &id, "fields", &card).await;
    let filled = post_sealed(&wallet, &format!("/v1/registrations/{id}/fields"), fields).await;
    assert_eq!(filled.body["state"], "awaiting_confirmation", "{filled:?}");
    // What is inside a sealed body is checked like a plain one.
    let id_bad = start(&wallet, "phone-sealed").await;
    let malformed = sealed(&wallet, &id_bad, "fields", b"{\"card\": ").await;
    let answer = post_sealed(
        &wallet,
        &format!("/v1/registrations/{id_bad}/fields"),
        malformed,
    )
    .await;
    assert_eq!(answer.code(), "json_malformed", "{answer:?}");

    let confirmed = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(confirmed.body["state"], "bound", "{confirmed:?}");
    system.stop().await;
}

/// The hub compares a new card's document with the identity it saved when the wallet registered
/// before: another person's card and document, though they match each other at the bank, are
/// refused; the same person's second card is fine.
async fn a_wallet_registers_only_its_owners_cards(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-owner").await;
    step(
        &wallet,
        &id,
        "fields",
        json!({"identity": licence(), "card": diners()}),
    )
    .await;
    let bound = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(bound.body["state"], "bound", "{bound:?}");

    let anna = json!({"identity": {"full_name": "ERIKSSON ANNA MARIA", "document_type": "passport",
        "document_number": "L898902C3", "birth_date": "1974-08-12", "expiry_date": "2031-01-01"},
        "card": {"card_number": "4242 4242 4242 4242", "expiry_month": 12, "expiry_year": 2030}});
    let id = start(&wallet, "phone-owner").await;
    step(&wallet, &id, "fields", anna.clone()).await;
    let refused = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (422, "identity_mismatch"),
        "{refused:?}"
    );
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("this wallet registered before"),
        "{refused:?}"
    );
    // In her own wallet, the same card and document register.
    let hers = self::wallet(&system).await;
    let id = start(&hers, "phone-anna").await;
    step(&hers, &id, "fields", anna).await;
    let bound = step(&hers, &id, "confirm", json!({})).await;
    assert_eq!(bound.body["state"], "bound", "{bound:?}");
    system.stop().await;
}

/// `scanpay demo documents`: each seeded customer's rendered document and card register end to
/// end (the passport's MRZ and the cards through OCR, the licence through its PDF417).
async fn registers_from_the_rendered_demo_documents(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let today = scanpay_core::registration::Day::from_unix_ms(scanpay_http::now_ms());
    let rendered = scanpay::demo::documents(dir.path(), &system.seed, today).unwrap();
    assert_eq!(rendered.len(), 4);
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    for (document, card, bank) in [
        (
            "eriksson-anna-maria-passport.png",
            "eriksson-anna-maria-card.png",
            "north",
        ),
        (
            "sample-michael-john-licence.png",
            "sample-michael-john-card.png",
            "south",
        ),
    ] {
        let wallet = wallet(&system).await;
        let id = start(&wallet, "phone-demo").await;
        let identity = upload(&wallet, &id, "id_document", read(document)).await;
        assert_eq!(identity.status, 200, "{document}: {identity:?}");
        let read_card = upload(&wallet, &id, "payment_card", read(card)).await;
        assert_eq!(
            read_card.body["state"], "awaiting_confirmation",
            "{card}: {read_card:?}"
        );
        let confirmed = step(&wallet, &id, "confirm", json!({})).await;
        assert_eq!(
            confirmed.body["state"], "bound",
            "{document}: {confirmed:?}"
        );
        assert_eq!(confirmed.body["bank_id"], bank);
    }
    system.stop().await;
}

/// A passport page whose machine-readable zone is covered: the hub reads the identity from
/// the printed fields (their labels), the fields say so, and the card registers.
async fn registers_from_a_passport_page_whose_zone_is_covered(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let customer = system
        .seed
        .bank
        .iter()
        .flat_map(|bank| &bank.customer)
        .find(|c| c.id_document_type == "passport")
        .expect("the demo seed has a passport holder");
    let today = scanpay_core::registration::Day::from_unix_ms(scanpay_http::now_ms());
    let expiry = scanpay_core::registration::Day {
        year: today.year + 10,
        day: today.day.min(28),
        ..today
    };
    let mut page = Vec::new();
    scanpay::demo::passport_without_zone(customer, expiry)
        .unwrap()
        .write_to(
            &mut std::io::Cursor::new(&mut page),
            image::ImageFormat::Png,
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    scanpay::demo::documents(dir.path(), &system.seed, today).unwrap();
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-covered").await;
    let identity = upload(&wallet, &id, "id_document", page).await;
    assert_eq!(identity.status, 200, "{identity:?}");
    assert_eq!(
        identity.body["identity"]["full_name"],
        "ERIKSSON ANNA MARIA"
    );
    assert_eq!(
        identity.body["identity"]["document_number"],
        customer.id_document_number
    );
    assert_eq!(identity.body["identity"]["birth_date"], customer.birth_date);
    assert_eq!(identity.body["identity"]["document_type"], "passport");
    let number = &identity.body["fields"]["identity.document_number"];
    assert_eq!(number["source"], "ocr", "{identity:?}");
    assert!(number["confidence"].as_f64().unwrap() < 0.81, "{number}");
    let card = std::fs::read(dir.path().join("eriksson-anna-maria-card.png")).unwrap();
    let read_card = upload(&wallet, &id, "payment_card", card).await;
    assert_eq!(
        read_card.body["state"], "awaiting_confirmation",
        "{read_card:?}"
    );
    let confirmed = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(confirmed.body["state"], "bound", "{confirmed:?}");
    assert_eq!(confirmed.body["bank_id"], "north");
    system.stop().await;
}

async fn registers_from_photos_of_a_licence_and_a_card(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-photos").await;

    let licence = upload(&wallet, &id, "id_document", licence_photo()).await;
    assert_eq!(licence.status, 200, "{licence:?}");
    assert_eq!(licence.body["identity"]["full_name"], "SAMPLE MICHAEL JOHN");
    assert_eq!(licence.body["identity"]["document_number"], "T64235789");
    assert_eq!(
        licence.body["fields"]["identity.document_number"]["source"],
        "barcode"
    );
    assert_eq!(licence.body["carriers_needed"], json!(["payment_card"]));

    let card = upload(
        &wallet,
        &id,
        "payment_card",
        testdata("cards/ocr_card_numbers.png"),
    )
    .await;
    assert_eq!(card.status, 200, "{card:?}");
    assert_eq!(card.body["card"]["card_masked"], "3023 •••• •••• 1104");
    assert_eq!(card.body["card"]["expiry_year"], 2037);
    assert_eq!(card.body["fields"]["card.card_number"]["source"], "ocr");
    assert_eq!(card.body["state"], "awaiting_confirmation");

    let confirmed = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(confirmed.body["state"], "bound", "{confirmed:?}");
    assert!(confirmed.body["registration_code"].as_str().is_some());

    // The ICAO specimen passport (expired 2012) with its card: identity_document_expired.
    let id = start(&wallet, "phone-photos").await;
    let passport = upload(
        &wallet,
        &id,
        "id_document",
        testdata("mrz/images/passport-td3.png"),
    )
    .await;
    assert_eq!(
        (passport.status, passport.body["code"].as_str()),
        (422, Some("identity_document_expired")),
        "{passport:?}"
    );
    let not_a_photo = upload(
        &wallet,
        &id,
        "id_document",
        b"%PDF-1.4 not an image".to_vec(),
    )
    .await;
    assert_eq!(not_a_photo.body["code"], "image_not_an_image");
    let blank = {
        let mut bytes = Vec::new();
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(300, 200, image::Luma([240])))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    };
    let nothing = upload(&wallet, &id, "id_document", blank).await;
    assert_eq!(nothing.body["code"], "document_not_found");
    system.stop().await;
}

/// Ten failed verifications of one card, across sessions and wallets, stop the hub from asking
/// the bank about it again for a day.
async fn a_card_that_keeps_failing_verification_is_limited(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let wrong = json!({"identity": {"full_name": "SAMPLE MICHAEL JOHN", "document_type": "driver_license",
        "document_number": "X0000000", "birth_date": "1990-01-01", "expiry_date": "2031-01-01"},
        "card": diners()});
    let mut failures = 0;
    let mut last = None;
    while failures < 10 {
        let wallet = wallet(&system).await;
        let id = start(&wallet, "phone-probe").await;
        assert_eq!(
            step(&wallet, &id, "fields", wrong.clone()).await.status,
            200
        );
        for _ in 0..5 {
            let answer = step(&wallet, &id, "confirm", json!({})).await;
            assert_eq!(answer.code(), "identity_mismatch", "{answer:?}");
            failures += 1;
            if failures == 10 {
                break;
            }
        }
        last = Some((wallet, id));
    }
    // The next session, even from another wallet, is refused without asking the bank.
    let wallet = wallet(&system).await;
    let id = start(&wallet, "phone-probe").await;
    step(&wallet, &id, "fields", wrong.clone()).await;
    let limited = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(limited.code(), "card_verification_limited", "{limited:?}");
    // The right identity for the card is refused too, until the window passes.
    let (wallet, _) = last.unwrap();
    let id = start(&wallet, "phone-probe").await;
    step(
        &wallet,
        &id,
        "fields",
        json!({"identity": licence(), "card": diners()}),
    )
    .await;
    let right = step(&wallet, &id, "confirm", json!({})).await;
    assert_eq!(right.code(), "card_verification_limited", "{right:?}");
    system.stop().await;
}
