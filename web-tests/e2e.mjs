// The web app end to end in Debian's Chromium, against a running `scanpay up`.
//
// A person signs up on a 360-px phone, tries the camera, fails with the expired ICAO specimen passport,
// registers the demo licence and the shared test card image, corrects one field, pays a
// merchant with the verification code from the live stream, then one at the other bank; the
// merchant sees the payment on a desktop, refunds part of it and sets a webhook; the wallet sees
// the refund; the same wallet in a second browser pays with a step-up code read off the bound
// phone (and never shown on the second browser); the phone is lost and the wallet revokes the
// card's code; the operator's settlement shows the interbank positions and reconciles. A
// screenshot of each step goes to $ARTIFACTS.
//
// Run by scripts/test-web, which starts the system and sets:
//   HUB_URL, DATA_DIR (the system's data directory), DOCUMENTS (rendered demo documents),
//   TESTDATA (../shared/testdata), ARTIFACTS (where screenshots go), CHROMIUM (the browser).

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run scripts/test-web)`);
  return value;
};
const hub = env("HUB_URL");
const dataDir = env("DATA_DIR");
const documents = env("DOCUMENTS");
const testdata = env("TESTDATA");
const artifacts = env("ARTIFACTS");
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // The machine's network is closed: no background connections, no component updates.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // A camera that shows a test pattern, allowed without asking.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
  ],
});

let step = 0;
const problems = [];
const pages = [];

// On a failure, what each page showed, in the log: on CI the log is all there is to go on.
process.on("uncaughtException", async (error) => {
  console.error(error);
  for (const [index, page] of pages.entries()) {
    try {
      const text = await page.evaluate(() => document.querySelector("main")?.innerText ?? "");
      console.error(`--- page ${index + 1} (${page.url()}):\n${text.slice(0, 3000)}`);
      await page.screenshot({ path: join(artifacts, `failure-page-${index + 1}.png`), fullPage: true });
    } catch (why) {
      console.error(`--- page ${index + 1}: ${why.message}`);
    }
  }
  if (problems.length) console.error(`--- problems logged: ${problems.join("; ")}`);
  process.exit(1);
});

/** A page that fails the run on any script error or console error. */
async function open(options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  pages.push(page);
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // The browser logs each 4xx answer; the app shows those itself, and some are on purpose.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  return page;
}

async function shot(page, name) {
  step += 1;
  const file = join(artifacts, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  ✓ ${name} (${file})`);
}

/** Every form control has a label a screen reader reads, and nothing is wider than the screen. */
async function checkAccessible(page, where) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => el.type !== "hidden" && !el.hidden)
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      .map((el) => el.name || el.outerHTML.slice(0, 60)),
  );
  assert.deepEqual(unlabelled, [], `${where}: controls without a label`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${where}: the page is ${overflow}px wider than the screen`);
}

const phone = await open({ viewport: { width: 360, height: 780 }, hasTouch: true, isMobile: true });

// --- Sign up, with the keyboard only.
await phone.goto(`${hub}/`);
await phone.getByRole("heading", { name: "Pay with your phone" }).waitFor();
await checkAccessible(phone, "welcome");
await shot(phone, "welcome");
await phone.getByLabel("Your name").focus();
await phone.keyboard.type("Michael Sample");
await phone.keyboard.press("Enter");
const walletKey = await phone.getByTestId("wallet-key").textContent();
assert.match(walletKey, /^sp_[0-9a-f]{64}$/);
await shot(phone, "wallet-key");

// --- Add a card: the expired specimen first, then the licence and the card.
await phone.getByRole("button", { name: "Add a card" }).click();
await phone.getByRole("button", { name: "Start" }).click();
await phone.getByRole("heading", { name: /Step 1 of 2/ }).waitFor();
await checkAccessible(phone, "capture");
// The camera: a snapshot of the fake camera's test pattern holds no document.
await phone.getByRole("button", { name: "Use the camera" }).click();
await phone.getByRole("button", { name: "Take the photo" }).click();
await phone.getByRole("img", { name: "Photo taken with the camera" }).waitFor();
await phone.getByRole("button", { name: "Read the photo" }).click();
await phone.locator('[role="alert"][data-code="document_not_found"]').waitFor();
await shot(phone, "camera-snapshot-without-document");
await phone.getByLabel("Photo of your ID document").setInputFiles(join(testdata, "mrz/images/passport-td3.png"));
await phone.getByRole("button", { name: "Read the photo" }).click();
const expired = phone.locator('[role="alert"][data-code="identity_document_expired"]');
await expired.waitFor();
assert.match(await expired.textContent(), /expired/);
await shot(phone, "expired-passport-refused");

await phone.getByLabel("Photo of your ID document").setInputFiles(join(documents, "sample-michael-john-licence.png"));
await phone.getByRole("button", { name: "Read the photo" }).click();
await phone.getByRole("heading", { name: /Step 2 of 2/ }).waitFor();
await shot(phone, "licence-read");
await phone.getByLabel("Photo of your card").setInputFiles(join(testdata, "cards/ocr_card_numbers.png"));
await phone.getByRole("button", { name: "Read the photo" }).click();
await phone.getByRole("heading", { name: "Check what we read" }).waitFor();
assert.equal(await phone.getByTestId("card-masked").textContent(), "3023 •••• •••• 1104 (Diners Club)");
assert.equal(await phone.getByLabel("Full name").inputValue(), "SAMPLE MICHAEL JOHN");
await checkAccessible(phone, "confirmation");
// One edited field: the address, as the person writes it.
const address = "2300 West Broad Street, Richmond VA 23269";
await phone.getByLabel("Address").fill(address);
await shot(phone, "confirmation-edited");
await phone.getByRole("button", { name: "Confirm", exact: true }).click();
const code = await phone.getByTestId("registration-code").textContent();
assert.match(code, /^\d{10}$/);
await shot(phone, "registration-code");

// The hub kept the edit, marked as the user's.
const token = await phone.evaluate(() => JSON.parse(localStorage.getItem("scanpay.wallet")).token);
const registrations = await (await fetch(`${hub}/v1/registrations`, { headers: { authorization: `Bearer ${token}` } })).json();
const bound = registrations.items.find((r) => r.state === "bound");
assert.equal(bound.identity.address, address);
assert.equal(bound.fields["identity.address"].source, "user");

// --- Pay Book Nook 12.34: a first payment to a payee needs the code sent to this phone.
await phone.getByRole("link", { name: "Pay now" }).click();
await phone.getByRole("heading", { name: "Pay", exact: true }).waitFor();
await checkAccessible(phone, "pay");
await phone.getByLabel("Book Nook").check();
await phone.getByLabel("Amount").fill("12.345");
await phone.getByRole("button", { name: "Pay", exact: true }).click();
await phone.locator('[role="alert"][data-code="request_invalid"]').waitFor();
await phone.getByLabel("Amount").fill("12.34");
await shot(phone, "pay-form");
await phone.getByRole("button", { name: "Pay", exact: true }).click();
await phone.getByRole("heading", { name: "Enter the verification code" }).waitFor();
await phone.getByText("Code received on this phone").waitFor();
await shot(phone, "verification-code-received");
// A wrong code first: a clear error, and the tries go down.
await phone.getByLabel("Verification code").fill("000000");
await phone.getByRole("button", { name: "Confirm payment" }).click();
await phone.locator('[role="alert"][data-code="verification_failed"]').waitFor();
await phone.getByRole("button", { name: "Use it" }).click();
await phone.getByRole("button", { name: "Confirm payment" }).click();
const outcome = phone.getByTestId("payment-outcome");
await outcome.waitFor();
assert.equal(await outcome.textContent(), "Paid 12.34 USD to Book Nook.");
await shot(phone, "paid");

// A second payment, to a merchant at the other bank: it settles through the clearing accounts.
await phone.getByRole("link", { name: "Pay again" }).click();
await phone.getByLabel("Corner Cafe").check();
await phone.getByLabel("Amount").fill("3");
await phone.getByRole("button", { name: "Pay", exact: true }).click();
await phone.getByRole("button", { name: "Use it" }).click();
await phone.getByRole("button", { name: "Confirm payment" }).click();
assert.equal(await phone.getByTestId("payment-outcome").textContent(), "Paid 3.00 USD to Corner Cafe.");

// --- The merchant, on a desktop: sees the payment, refunds 5.00 of it.
const desk = await open({ viewport: { width: 1280, height: 800 } });
await desk.goto(`${hub}/#/merchant`);
await desk.getByLabel("Merchant or operator key").fill(readFileSync(join(dataDir, "merchants/book_nook.token"), "utf8").trim());
await desk.getByRole("button", { name: "Sign in" }).click();
await desk.getByRole("heading", { name: "Payments received" }).waitFor();
const received = desk.locator("ol.payments li").filter({ hasText: "From Michael Sample" });
await received.waitFor();
assert.match(await received.textContent(), /\+12\.34 USD/);
await checkAccessible(desk, "merchant payments");
await shot(desk, "merchant-payments");
await received.getByRole("button", { name: "Refund…" }).click();
await received.getByLabel(/Refund amount/).fill("5.00");
await received.getByRole("button", { name: "Refund", exact: true }).click();
const refunded = desk.locator("ol.payments li").filter({ hasText: "Refunded: 5.00 USD" });
await refunded.waitFor();
await shot(desk, "merchant-refunded");
// The rest can be refunded, not more: 7.35 is one cent too many.
await refunded.getByRole("button", { name: "Refund…" }).click();
const rest = refunded.getByLabel(/Refund amount/);
await rest.fill("7.35");
// A notification reloads the list as the refund lands; the row being typed in stays put and
// keeps the focus (a row taken out of the page, even for an instant, loses the keystrokes).
assert.equal(await rest.inputValue(), "7.35");
await refunded.getByRole("button", { name: "Refund", exact: true }).click();
await refunded.locator('[role="alert"][data-code="refund_exceeds_payment"]').waitFor();
await shot(desk, "merchant-refund-too-large");

// Webhooks: a URL, the secret shown once, and the delivery log.
await desk.getByRole("link", { name: "Webhooks" }).click();
// The hub sends webhooks to public addresses only: a loopback URL is refused with its reason.
await desk.getByLabel("Webhook URL").fill("http://127.0.0.1:9/hooks/scanpay");
await desk.getByRole("button", { name: "Save" }).click();
await desk.locator('[role="alert"][data-code="webhook_url_invalid"]').waitFor();
await shot(desk, "merchant-webhook-private-refused");
// A name that does not resolve now is accepted (it is screened again at each delivery);
// `.invalid` never resolves, so nothing leaves the machine.
await desk.getByLabel("Webhook URL").fill("https://hooks.shop.invalid/scanpay");
await desk.getByRole("button", { name: "Save" }).click();
assert.match(await desk.getByTestId("webhook-secret").textContent(), /^whsec_/);
await desk.getByRole("heading", { name: "Delivery log" }).waitFor();
await checkAccessible(desk, "webhooks");
await shot(desk, "merchant-webhooks");

// The merchant's day: 12.34 received, 5.00 refunded.
await desk.getByRole("link", { name: "Settlement" }).click();
const day = desk.getByTestId("settlement");
await day.waitFor();
const dayText = await day.textContent();
assert.match(dayText, /12\.34 USD/);
assert.match(dayText, /5\.00 USD/);
assert.match(dayText, /7\.34 USD/);
await shot(desk, "merchant-settlement");

// --- The wallet sees the refund in its history.
await phone.goto(`${hub}/#/history`);
const paid = phone.locator("ol.payments li").filter({ hasText: "To Book Nook" });
await paid.waitFor();
assert.match(await paid.textContent(), /Refunded to you: 5\.00 USD/);
await checkAccessible(phone, "history");
await shot(phone, "wallet-history");

// --- Signing out and in again with the wallet key keeps the wallet.
await phone.getByRole("link", { name: "Wallet" }).click();
await phone.getByRole("button", { name: "Sign out" }).click();
await phone.getByLabel("Wallet key").fill(walletKey);
await phone.getByRole("button", { name: "Sign in" }).click();
await phone.getByRole("heading", { name: "Hello, Michael Sample" }).waitFor();
await phone.getByText("3023 •••• •••• 1104").waitFor();

// --- Step-up: the same wallet in another browser (another phone) pays Book Nook. The code goes
// to the bound phone, not to the browser asking: that one must not show it.
const other = await open({ viewport: { width: 360, height: 780 }, hasTouch: true, isMobile: true });
await other.goto(`${hub}/`);
await other.getByLabel("Wallet key").fill(walletKey);
await other.getByRole("button", { name: "Sign in" }).click();
await other.getByRole("heading", { name: "Hello, Michael Sample" }).waitFor();
await other.locator("#main").getByRole("link", { name: "Pay", exact: true }).click();
await other.getByLabel("Book Nook").check();
await other.getByLabel("Amount").fill("2");
// This browser keeps no code: the person types it.
await other.getByLabel("Registration code").fill(code);
await other.getByRole("button", { name: "Pay", exact: true }).click();
await other.getByText("You are paying from another phone").waitFor();
await phone.getByRole("link", { name: "Wallet", exact: true }).click();
const sent = phone.locator("ol.feed li").filter({ hasText: "2.00 USD to Book Nook" });
await sent.waitFor();
const stepUpCode = /(\d{6})\D*$/.exec(await sent.textContent())[1];
assert.equal(await other.getByText("Code received on this phone").count(), 0);
assert.doesNotMatch(await other.locator("body").textContent(), new RegExp(stepUpCode));
await shot(other, "step-up-on-another-phone");
// On the wire the code is sealed to the bound phone's key: the wallet's stream, which the second
// browser reads with the same key, holds no code in clear.
const notes = await (await fetch(`${hub}/v1/notifications?after=0`, { headers: { authorization: `Bearer ${token}` } })).json();
const codeNotes = notes.items.filter((n) => n.kind === "verification_code");
assert.ok(codeNotes.length >= 3, "three codes were sent");
for (const n of codeNotes) {
  assert.equal(n.verification_code, undefined, "a code in clear on the stream");
  assert.match(n.sealed_verification_code, /^[A-Za-z0-9_-]+$/);
}
await other.getByLabel("Verification code").fill(stepUpCode);
await other.getByRole("button", { name: "Confirm payment" }).click();
assert.equal(await other.getByTestId("payment-outcome").textContent(), "Paid 2.00 USD to Book Nook.");

// --- The phone is lost: the wallet revokes the card's code, after a second explicit step. The
// card leaves the list, and the hub keeps the registration as revoked.
await phone.getByRole("link", { name: "Wallet", exact: true }).click();
const licenceCard = phone.locator("ul.cards li").filter({ hasText: "3023 •••• •••• 1104" });
await licenceCard.getByRole("button", { name: "Lost this phone? Revoke the code" }).click();
await licenceCard.getByText("will stop paying, on every phone").waitFor();
await checkAccessible(phone, "revoke-confirmation");
await shot(phone, "revoke-confirmation");
await licenceCard.getByRole("button", { name: "Revoke the code", exact: true }).click();
await licenceCard.waitFor({ state: "detached" });
const afterRevoke = await (await fetch(`${hub}/v1/registrations`, { headers: { authorization: `Bearer ${token}` } })).json();
assert.deepEqual(afterRevoke.items.filter((r) => r.card?.card_masked === "3023 •••• •••• 1104").map((r) => r.state), ["revoked"]);
await shot(phone, "revoked");

// --- The operator's interbank settlement reconciles.
const operator = await open({ viewport: { width: 1280, height: 800 } });
await operator.goto(`${hub}/#/merchant`);
await operator.getByLabel("Merchant or operator key").fill(readFileSync(join(dataDir, "operator.token"), "utf8").trim());
await operator.getByRole("button", { name: "Sign in" }).click();
const positions = operator.getByTestId("settlement");
await positions.waitFor();
// South's customer paid North's merchant 3.00: south owes 3.00, north is owed 3.00.
assert.match(await positions.locator("tr", { hasText: "south" }).textContent(), /3\.00 USD$/);
assert.match(await positions.locator("tr", { hasText: "north" }).textContent(), /-3\.00 USD$/);
await operator.getByText("The clearing accounts of every bank agree").waitFor();
await shot(operator, "operator-settlement");

await browser.close();
assert.deepEqual(problems, [], "the pages logged errors");
console.log(`web: ${step} steps passed; screenshots in ${artifacts}`);
