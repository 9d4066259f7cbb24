// The wallet on a phone: sign up or in, add a card by scanning, pay, history, notifications.

import {
  call,
  newKey,
  parseAmount,
  formatAmount,
  CURRENCIES,
  followNotifications,
  openSealedCode,
  terminalProof,
  proofMessage,
  sleep,
} from "./api.js";
import {
  h,
  field,
  show,
  showIf,
  screen,
  current,
  errorBox,
  formError,
  announce,
  submitting,
  when,
} from "./ui.js";
import { walletSession, keptCodes, terminalId, terminalKeys, toBase64url, fromBase64url, go } from "./session.js";

// ---------------------------------------------------------------------------------------------
// Notifications: one stream while a wallet is signed in; screens subscribe while they show.

// When the stream was opened (the wallet signed in on this page): what it replays from before is
// history, not news.
let streamOpenedAt = Date.now();
let stopStream = null;
let feed = [];
const listeners = new Set();
let streamState = "connecting";
// Whether this browser is the phone a card of this wallet is bound to. Codes come sealed to the
// bound terminal's key when it gave one (this app always does), and only that browser opens
// them; a code in clear (a card registered elsewhere without a key) is shown only where a card
// is bound, so a step-up's code does not appear on the other phone that asks for it.
let boundHere = false;

function ensureStream(session) {
  if (stopStream) return;
  streamOpenedAt = Date.now();
  refreshBound(session);
  stopStream = followNotifications(
    session.token,
    async (notification) => {
      await openIfSealed(notification);
      feed = [notification, ...feed.filter((n) => n.seq !== notification.seq)]
        .sort((a, b) => b.seq - a.seq)
        .slice(0, 50);
      // What the stream replays from before it was opened is history, not news.
      if (Date.parse(notification.created_at) > streamOpenedAt - 2000) {
        announce(displayText(notification));
        listeners.forEach((listener) => listener(notification));
      }
    },
    (state) => {
      if (state === "unauthorized") {
        signOut();
        announce("This wallet key is not valid any more. Sign in again.");
        return;
      }
      streamState = state;
      const badge = document.getElementById("stream-state");
      if (badge) badge.textContent = streamLabel();
    },
  );
}

async function refreshBound(session) {
  try {
    const list = await call("GET", "/v1/registrations", { token: session.token });
    boundHere = list.items.some((r) => r.state === "bound" && r.terminal_id === terminalId());
  } catch {
    // Unknown for now: codes stay hidden.
  }
}

/** A code sealed to this terminal becomes `verification_code`; one sealed elsewhere stays shut. */
async function openIfSealed(notification) {
  if (!notification.sealed_verification_code) return;
  const keys = await terminalKeys();
  if (!keys) return;
  try {
    const envelope = fromBase64url(notification.sealed_verification_code);
    notification.verification_code = await openSealedCode(envelope, notification.payment_id, keys);
    notification.opened_here = true;
  } catch {
    // Sealed to another phone's key.
  }
}

function displayText(notification) {
  if (notification.kind !== "verification_code") return notification.message;
  if (notification.opened_here) return `${notification.message} It is ${notification.verification_code}.`;
  if (notification.sealed_verification_code || !boundHere) {
    return "A verification code was sent to the phone your card is bound to.";
  }
  return notification.message;
}

/** Whether this browser may show `notification`'s code. */
function codeShownHere(notification) {
  return Boolean(notification.opened_here || (notification.verification_code && boundHere));
}

function streamLabel() {
  return streamState === "live" ? "Live" : "Reconnecting…";
}

function signOut() {
  if (stopStream) stopStream();
  stopStream = null;
  feed = [];
  boundHere = false;
  walletSession.clear();
  go("");
}

/** Called on every route change: a screen's subscriptions and camera end with it. */
export function leaving() {
  listeners.clear();
  stopCamera();
}

/** The signed-in wallet, or the welcome screen (and null). */
function signedIn() {
  const session = walletSession.get();
  if (!session) {
    welcome();
    return null;
  }
  ensureStream(session);
  return session;
}

// ---------------------------------------------------------------------------------------------
// Welcome: sign up, or sign in with the wallet key.

function welcome() {
  const name = h("input", { name: "name", required: true, maxlength: 128, autocomplete: "name" });
  const signUp = h(
    "form",
    { "aria-labelledby": "signup-title" },
    h("h2", { id: "signup-title" }, "Create a wallet"),
    field("Your name", name, "How the wallet greets you and what merchants see."),
    h("button", { type: "submit" }, "Create wallet"),
  );
  signUp.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await submitting(signUp, "Creating your wallet…", () =>
      call("POST", "/v1/wallets", { json: { name: name.value.trim() } }),
    );
    if (!created) return;
    walletSession.set({ token: created.token, id: created.caller.id, name: created.caller.name });
    showKey(created.token);
  });

  const key = h("input", { name: "key", required: true, autocomplete: "off", spellcheck: "false" });
  const signIn = h(
    "form",
    { "aria-labelledby": "signin-title" },
    h("h2", { id: "signin-title" }, "Sign in"),
    field("Wallet key", key, "The key shown when the wallet was created (sp_…)."),
    h("button", { type: "submit" }, "Sign in"),
  );
  signIn.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = key.value.trim();
    const me = await submitting(signIn, "Signing in…", () => call("GET", "/v1/me", { token }));
    if (!me) return;
    if (me.kind !== "wallet") {
      formError(signIn, { code: "forbidden", message: "This is not a wallet key. Merchants sign in on the merchant console." });
      return;
    }
    walletSession.set({ token, id: me.id, name: me.name });
    go("");
  });

  show(
    h("h1", {}, "Pay with your phone"),
    h(
      "p",
      { class: "lead" },
      "Add your bank card by photographing your ID document and the card, then pay shops and friends with your registration code.",
    ),
    signUp,
    signIn,
    h("p", {}, "A merchant? ", h("a", { href: "#/merchant" }, "Open the merchant console"), "."),
  );
}

function showKey(token) {
  show(
    h("h1", {}, "Your wallet key"),
    h("p", {}, "This key signs this wallet in on another browser. It is shown only now: copy it somewhere safe."),
    h("p", { class: "secret", "data-testid": "wallet-key" }, token),
    h("button", { type: "button", onclick: () => go("register") }, "Add a card"),
    " ",
    h("button", { type: "button", class: "secondary", onclick: () => go("") }, "Later"),
  );
}

// ---------------------------------------------------------------------------------------------
// Home: cards and notifications.

export async function home() {
  const session = signedIn();
  if (!session) return;
  const cards = h("div", { "aria-busy": "true" }, h("p", {}, h("progress", { "aria-label": "Loading" }), " Loading your cards…"));
  const notifications = h("ol", { class: "feed", "aria-label": "Notifications" });
  const renderFeed = () =>
    notifications.replaceChildren(
      ...(feed.length
        ? feed.slice(0, 10).map((n) => h("li", {}, h("span", { class: "when" }, when(n.created_at)), " ", displayText(n)))
        : [h("li", {}, "Nothing yet.")]),
    );
  renderFeed();
  listeners.add(renderFeed);
  show(
    h("h1", {}, `Hello, ${session.name}`),
    h(
      "div",
      { class: "actions" },
      h("a", { class: "button", href: "#/pay" }, "Pay"),
      h("a", { class: "button secondary", href: "#/register" }, "Add a card"),
      h("a", { class: "button secondary", href: "#/history" }, "History"),
    ),
    h("section", { "aria-labelledby": "cards-title" }, h("h2", { id: "cards-title" }, "Your cards"), cards),
    h(
      "section",
      { "aria-labelledby": "feed-title" },
      h("h2", { id: "feed-title" }, "Notifications ", h("span", { class: "badge", id: "stream-state" }, streamLabel())),
      notifications,
    ),
    h(
      "p",
      {},
      h(
        "button",
        {
          type: "button",
          class: "link",
          onclick: signOut,
        },
        "Sign out",
      ),
    ),
  );
  try {
    const list = await call("GET", "/v1/registrations", { token: session.token });
    const bound = list.items.filter((r) => r.state === "bound");
    cards.removeAttribute("aria-busy");
    cards.replaceChildren(
      bound.length
        ? h(
            "ul",
            { class: "cards" },
            bound.map((r) =>
              h(
                "li",
                {},
                h("strong", {}, r.card ? r.card.card_masked : "card"),
                r.card && r.card.network ? ` · ${networkName(r.card.network)}` : "",
                ` · bank ${r.bank_id}`,
                rememberedCode(session, r.id) ? h("span", { class: "badge" }, "code kept on this phone") : null,
                revokeControl(session, r),
              ),
            ),
          )
        : h("p", {}, "No card yet. ", h("a", { href: "#/register" }, "Add one by scanning it"), "."),
    );
  } catch (error) {
    cards.replaceChildren(errorBox(error));
  }
}

// A lost or replaced phone: the card's code is revoked, after a second, explicit step. It stops
// paying at once; the card may then be added again from the new phone.
function revokeControl(session, registration) {
  const card = registration.card ? registration.card.card_masked : "this card";
  const slot = h("span", { class: "revoke" });
  const ask = () =>
    slot.replaceChildren(
      h("button", { type: "button", class: "link", onclick: confirm }, "Lost this phone? Revoke the code"),
    );
  const confirm = () =>
    slot.replaceChildren(
      h("span", { role: "alert" }, `The code of ${card} will stop paying, on every phone. You can add the card again.`),
      " ",
      h("button", { type: "button", class: "danger", onclick: revoke }, "Revoke the code"),
      " ",
      h("button", { type: "button", class: "secondary", onclick: ask }, "Keep it"),
    );
  const key = newKey();
  const revoke = async (event) => {
    event.target.disabled = true;
    const here = screen();
    try {
      await call("POST", `/v1/registrations/${registration.id}/revoke`, { token: session.token, json: {}, key });
      keptCodes(session.id).remove(registration.id);
      announce(`The code of ${card} is revoked.`);
      // Only if the person is still where they asked: a slow answer does not pull them back.
      if (current(here)) home();
    } catch (error) {
      // The same key again: a revoke whose bank did not answer is finished by the next try.
      slot.replaceChildren(
        errorBox(error),
        " ",
        h("button", { type: "button", class: "secondary", onclick: confirm }, "Try again"),
      );
    }
  };
  ask();
  return slot;
}

function rememberedCode(session, registrationId) {
  return keptCodes(session.id)
    .all()
    .find((c) => c.registration_id === registrationId);
}

// ---------------------------------------------------------------------------------------------
// Adding a card: one carrier at a time, then the confirmation screen, then the code.

const CARRIER_TEXT = {
  id_document: {
    title: "Your ID document",
    label: "Photo of your ID document",
    guide:
      "Passport: the photo page, with the two lines of <<< at the bottom in the picture. Driver licence: the back, with the barcode. Flat, well lit, no glare.",
  },
  payment_card: {
    title: "Your payment card",
    label: "Photo of your card",
    guide: "The side with the card number, filling most of the picture. We never read or keep the security code.",
  },
};

const REGISTRATION_KEY = "scanpay.registration";

const NETWORKS = {
  visa: "Visa",
  mastercard: "Mastercard",
  amex: "American Express",
  union_pay: "UnionPay",
  jcb: "JCB",
  discover: "Discover",
  diners_club: "Diners Club",
  maestro: "Maestro",
  ru_pay: "RuPay",
  mir: "Mir",
};

function networkName(code) {
  return NETWORKS[code] || code.replace(/_/g, " ");
}

export async function register() {
  const session = signedIn();
  if (!session) return;
  const here = screen();
  const open = sessionStorage.getItem(REGISTRATION_KEY);
  if (open) {
    try {
      const view = await call("GET", `/v1/registrations/${open}`, { token: session.token });
      if (!current(here)) return;
      if (!["bound", "rejected", "cancelled", "expired"].includes(view.state)) {
        renderRegistration(session, view);
        return;
      }
    } catch {
      // Gone or not ours: start a new one.
    }
    sessionStorage.removeItem(REGISTRATION_KEY);
  }
  const form = h(
    "form",
    {},
    h("h1", {}, "Add a card"),
    h(
      "p",
      {},
      "You will photograph your ID document, then your payment card. We read them, show you what we read, check it with your bank, and give you a registration code to pay with.",
    ),
    h("button", { type: "submit" }, "Start"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const view = await submitting(form, "Starting…", async () => {
      // This phone's public key: codes for this card will be sealed to it.
      const keys = await terminalKeys();
      const json = { terminal_id: terminalId() };
      if (keys) json.terminal_public_key = toBase64url(keys.publicRaw);
      return call("POST", "/v1/registrations", { token: session.token, key: newKey(), json });
    });
    if (!view || !current(here)) return;
    sessionStorage.setItem(REGISTRATION_KEY, view.id);
    renderRegistration(session, view);
  });
  show(form);
}

function renderRegistration(session, view, carrier, error) {
  if (carrier) return capture(session, view, carrier);
  switch (view.state) {
    case "started":
    case "carriers_received":
      return capture(session, view, view.carriers_needed[0] || "id_document");
    case "awaiting_confirmation":
      return confirmation(session, view, error);
    case "bound":
      sessionStorage.removeItem(REGISTRATION_KEY);
      return registered(session, view);
    case "rejected":
    case "cancelled":
    case "expired":
      sessionStorage.removeItem(REGISTRATION_KEY);
      return ended(view, error);
    default:
      return unfinished(session, view);
  }
}

function capture(session, view, carrier) {
  const here = screen();
  const text = CARRIER_TEXT[carrier];
  const step = carrier === "id_document" ? 1 : 2;
  const file = h("input", { type: "file", accept: "image/jpeg,image/png", capture: "environment", name: "photo" });
  const preview = h("img", { class: "preview", alt: "", hidden: true });
  let snapshot = null;
  file.addEventListener("change", () => {
    stopCamera();
    snapshot = null;
    if (file.files[0]) {
      preview.src = URL.createObjectURL(file.files[0]);
      preview.alt = `Chosen photo of ${carrier === "id_document" ? "the ID document" : "the card"}`;
      preview.hidden = false;
    }
  });
  const camera = h("div", { class: "camera" });
  const cameraButton = h("button", { type: "button", class: "secondary" }, "Use the camera");
  cameraButton.addEventListener("click", () =>
    openCamera(camera, (blob) => {
      snapshot = blob;
      preview.src = URL.createObjectURL(blob);
      preview.alt = "Photo taken with the camera";
      preview.hidden = false;
    }),
  );
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) cameraButton.hidden = true;

  const form = h(
    "form",
    { class: "capture" },
    h("h1", {}, `Step ${step} of 2: ${text.title}`),
    h("p", {}, text.guide),
    field(text.label, file, "JPEG or PNG, up to 25 MB. On a phone this opens the camera."),
    cameraButton,
    camera,
    preview,
    h("button", { type: "submit" }, "Read the photo"),
    view.state === "awaiting_confirmation"
      ? h("button", { type: "button", class: "secondary", onclick: () => confirmation(session, view) }, "Back")
      : null,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const photo = snapshot || file.files[0];
    if (!photo) {
      formError(form, { code: "photo_missing", message: "Choose a photo or take one first." });
      return;
    }
    const next = await submitting(form, "Reading your document… this takes a second or two.", () =>
      call("POST", `/v1/registrations/${view.id}/images?carrier=${carrier}`, {
        token: session.token,
        key: newKey(),
        body: photo,
        contentType: photo.type || "image/jpeg",
      }),
    );
    if (next && current(here)) renderRegistration(session, next);
  });
  show(form, readSoFar(view));
}

// The camera while its preview shows; stopped when a photo is taken, a file is chosen, or the
// screen is left (its light goes off).
let cameraStream = null;

function stopCamera() {
  if (cameraStream) cameraStream.getTracks().forEach((t) => t.stop());
  cameraStream = null;
}

/** The camera as a preview with a shutter button; `taken` gets a JPEG. */
async function openCamera(container, taken) {
  stopCamera();
  const video = h("video", { autoplay: true, playsinline: true, muted: true, "aria-label": "Camera preview" });
  // Enabled once the camera shows a picture: a snapshot before that would be empty.
  const shutter = h("button", { type: "button", disabled: true }, "Take the photo");
  video.addEventListener("playing", () => (shutter.disabled = false), { once: true });
  container.replaceChildren(video, shutter);
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment", width: { ideal: 1920 }, height: { ideal: 1080 } },
    });
  } catch (error) {
    container.replaceChildren(
      errorBox({ code: "camera_unavailable", message: "The camera cannot be used here. Choose a photo file instead." }),
    );
    return;
  }
  cameraStream = stream;
  video.srcObject = stream;
  shutter.addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    stopCamera();
    canvas.toBlob((blob) => {
      if (blob) {
        taken(blob);
        container.replaceChildren();
      } else {
        container.replaceChildren(
          errorBox({ code: "camera_unavailable", message: "The camera gave no picture. Choose a photo file instead." }),
        );
      }
    }, "image/jpeg", 0.92);
  });
}

function readSoFar(view) {
  if (!view.identity && !view.card) return null;
  const items = [];
  if (view.identity) items.push(h("li", {}, `ID document: ${view.identity.full_name}`));
  if (view.card) items.push(h("li", {}, `Card: ${view.card.card_masked}`));
  return h("section", {}, h("h2", {}, "Read so far"), h("ul", {}, items));
}

const IDENTITY_FIELDS = [
  ["full_name", "Full name", "text"],
  ["document_number", "Document number", "text"],
  ["birth_date", "Date of birth", "date"],
  ["expiry_date", "Document valid until", "date"],
  ["nationality", "Nationality (3 letters)", "text"],
  ["address", "Address", "text"],
];

function confidence(view, name) {
  const source = view.fields[name];
  if (!source) return null;
  const sure = Math.round(source.confidence * 100);
  const read = `read from ${source.source} · ${sure}% sure`;
  // Below 90% a reading is often wrong (a check digit that passed only with characters the
  // reader doubted; no check digit at all on a zone that did not pass, or on a visa): say so.
  return sure < 90 ? `${read}: check it` : read;
}

function confirmation(session, view, error) {
  const identity = view.identity || {};
  const toCheck = new Set(view.fields_to_check.map((f) => f.replace(/^identity\./, "")));
  const inputs = {};
  const identityFields = IDENTITY_FIELDS.map(([name, label, type]) => {
    const input = h("input", {
      type,
      name,
      value: identity[name] || "",
      "aria-invalid": toCheck.has(name) ? "true" : null,
      required: ["full_name", "document_number", "birth_date"].includes(name),
    });
    inputs[name] = input;
    const hint = [confidence(view, `identity.${name}`), toCheck.has(name) ? "Your bank has something else here: check it." : null]
      .filter(Boolean)
      .join(" — ");
    return field(label, input, hint || null);
  });
  const documentType = h(
    "select",
    { name: "document_type" },
    [
      ["passport", "Passport"],
      ["id_card", "ID card"],
      ["driver_license", "Driver licence"],
    ].map(([value, label]) => h("option", { value, selected: identity.document_type === value }, label)),
  );
  inputs.document_type = documentType;

  const card = view.card;
  // The number stays masked (the hub keeps it); its expiry and name can be corrected.
  const shownExpiry = card && card.expiry_month ? `${String(card.expiry_month).padStart(2, "0")}/${card.expiry_year}` : "";
  const expiry = h("input", { name: "card_expiry", value: shownExpiry, required: true, inputmode: "numeric", placeholder: "MM/YY", autocomplete: "cc-exp" });
  const holder = h("input", { name: "card_holder", value: card?.holder_name || "", autocomplete: "cc-name" });
  const expiryHint = card && !card.expiry_month ? "Not read from the photo: type it from the card." : confidence(view, "card.expiry");
  // The code's kind (seed 000, claims 1 and 8): random, the person's own, their phone number,
  // or a user name with a password. Each kind's inputs are enabled only while it is chosen.
  const own = h("input", { name: "own_code", minlength: 6, maxlength: 32, pattern: "[A-Za-z0-9_\\-]{6,32}" });
  const phone = h("input", { name: "phone", type: "tel", autocomplete: "tel", placeholder: "+1 555 010 0199" });
  const username = h("input", { name: "username", autocomplete: "username", minlength: 3, maxlength: 32 });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 8, maxlength: 128 });
  const kinds = {
    random: { label: "A random 10-digit code (recommended)", inputs: [] },
    own: { label: "My own code", inputs: [field("Own code", own, "6 to 32 letters, digits, - or _; it must not be taken.")] },
    phone: { label: "My phone number", inputs: [field("Phone number", phone, "With the country code, like +1 555 010 0199.")] },
    password: {
      label: "A user name and a password",
      inputs: [
        field("User name", username, "3 to 32 letters, digits, ., - or _."),
        field("Password", password, "8 to 128 characters. You type it at each payment; it is never kept on this phone."),
      ],
    },
  };
  const choices = Object.entries(kinds).map(([kind, { label, inputs }]) => {
    const radio = h("input", { type: "radio", name: "code", value: kind, id: `code-${kind}`, checked: kind === "random" });
    const group = h("div", { class: "choice-inputs" }, inputs);
    return { kind, radio, group, row: [h("div", { class: "choice" }, radio, h("label", { for: `code-${kind}` }, label)), group] };
  });
  const chosenKind = () => choices.find((c) => c.radio.checked).kind;
  const enableChosen = () =>
    choices.forEach((c) => {
      c.group.hidden = !c.radio.checked;
      c.group.querySelectorAll("input").forEach((input) => (input.disabled = !c.radio.checked));
    });
  choices.forEach((c) => c.radio.addEventListener("change", enableChosen));
  enableChosen();
  const remember = h("input", { type: "checkbox", name: "remember", checked: true, id: "remember" });

  const form = h(
    "form",
    { class: "confirm" },
    h("h1", {}, "Check what we read"),
    error ? errorBox(error) : null,
    toCheck.size
      ? h(
          "div",
          { class: "warning", role: "alert" },
          "Your bank's record differs from what we read in the fields marked below. Correct them if the photo was misread.",
        )
      : h("p", {}, "Correct anything that was misread, then confirm."),
    h("fieldset", {}, h("legend", {}, "Your ID document"), field("Document type", documentType), identityFields),
    h(
      "fieldset",
      {},
      h("legend", {}, "Your card"),
      card
        ? h(
            "dl",
            {},
            h("dt", {}, "Card number"),
            h("dd", { "data-testid": "card-masked" }, card.card_masked, card.network ? ` (${networkName(card.network)})` : ""),
          )
        : h("p", {}, "No card read yet."),
      card ? [field("Valid through", expiry, expiryHint), field("Name on card", holder, confidence(view, "card.holder_name"))] : null,
      h("button", { type: "button", class: "secondary", onclick: () => capture(session, view, "payment_card") }, "Scan the card again"),
      " ",
      h("button", { type: "button", class: "secondary", onclick: () => capture(session, view, "id_document") }, "Scan the ID again"),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Your registration code"),
      choices.map((c) => c.row),
      h(
        "div",
        { class: "choice" },
        remember,
        h("label", { for: "remember" }, "Keep the code (or user name) on this phone, to pay without typing it"),
      ),
    ),
    h("button", { type: "submit" }, "Confirm"),
    " ",
    h("button", { type: "button", class: "secondary", "data-action": "cancel" }, "Cancel"),
  );
  form.querySelector('[data-action="cancel"]').addEventListener("click", async () => {
    const cancelled = await submitting(form, "Cancelling…", () =>
      call("POST", `/v1/registrations/${view.id}/cancel`, { token: session.token, key: newKey(), json: {} }),
    );
    if (cancelled) renderRegistration(session, cancelled);
  });
  // One key while the form is unchanged: pressing Confirm again after a lost answer gets the
  // stored one — the only answer that carries the new code — instead of a step error.
  let confirmKey = newKey();
  form.addEventListener("input", () => (confirmKey = newKey()));
  form.addEventListener("change", () => (confirmKey = newKey()));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const request = {};
    const edited = Object.keys(inputs).some((name) => (inputs[name].value || "") !== (identity[name] || ""));
    if (edited) {
      const modified = {};
      for (const [name, input] of Object.entries(inputs)) {
        const value = input.value.trim();
        if (value) modified[name] = value;
      }
      request.modify = { identity: modified };
    }
    if (card && (expiry.value.trim() !== shownExpiry || holder.value.trim() !== (card.holder_name || ""))) {
      const parsed = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(expiry.value);
      if (!parsed) {
        formError(form, { code: "request_invalid", message: "Type the card's expiry as MM/YY, as printed on it." });
        return;
      }
      const year = Number(parsed[2].length === 2 ? `20${parsed[2]}` : parsed[2]);
      request.modify = request.modify || {};
      request.modify.card = { expiry_month: Number(parsed[1]), expiry_year: year, holder_name: holder.value.trim() };
    }
    const kind = chosenKind();
    if (kind === "own") request.code = { kind: "personalised", code: own.value.trim() };
    if (kind === "phone") request.code = { kind: "phone", phone: phone.value.trim() };
    if (kind === "password") request.code = { kind: "password", username: username.value.trim(), password: password.value };
    const here = screen();
    const next = await submitting(
      form,
      "Checking with your bank…",
      () => call("POST", `/v1/registrations/${view.id}/confirm`, { token: session.token, key: confirmKey, json: request }),
      {
        // A near miss or mismatch names fields to check: show the screen again with them marked.
        onError: (error) => {
          if (error.code !== "identity_mismatch") return false;
          call("GET", `/v1/registrations/${view.id}`, { token: session.token })
            .then((again) => current(here) && renderRegistration(session, again, null, error))
            .catch(() => {});
          return true;
        },
      },
    );
    if (!next || !current(here)) return;
    if (next.state === "bound" && next.registration_code && remember.checked) {
      keptCodes(session.id).add({
        registration_id: next.id,
        code: next.registration_code,
        password: kind === "password",
        card_masked: next.card?.card_masked || "",
        bank_id: next.bank_id,
      });
    }
    if (next.state === "bound") boundHere = next.terminal_id === terminalId();
    renderRegistration(session, next);
  });
  show(form);
}

function registered(session, view) {
  if (!view.registration_code) {
    show(h("h1", {}, "Card added"), h("p", {}, `${view.card?.card_masked || "Your card"} is registered.`), h("a", { class: "button", href: "#/" }, "Done"));
    return;
  }
  // A user-name code is `user:<name>`: the person knows it by the name.
  const userName = view.registration_code.startsWith("user:") ? view.registration_code.slice(5) : null;
  const kept = rememberedCode(session, view.id);
  show(
    h("h1", {}, userName ? "Your user name" : "Your registration code"),
    h("p", {}, `${view.card?.card_masked || "Your card"} at bank ${view.bank_id} is registered and bound to this phone.`),
    h("p", { class: "secret code-shown", "data-testid": "registration-code" }, userName || view.registration_code),
    userName
      ? h("p", {}, "You pay with this user name and your password", kept ? "; this phone keeps the name, never the password." : ".")
      : h(
          "p",
          {},
          "It is shown only now. It pays from your card, so keep it like a PIN",
          kept ? "; this phone keeps it for you." : ": write it down, this phone does not keep it.",
        ),
    h("a", { class: "button", href: "#/pay" }, "Pay now"),
    " ",
    h("a", { class: "button secondary", href: "#/" }, "Done"),
  );
}

const REJECTIONS = {
  identity_mismatch: "The identity on the document is not the one your bank has for this card.",
  identity_document_expired: "The ID document has expired. Scan a valid one.",
  card_verification_limited: "This card failed verification too often. Try again tomorrow.",
};

function ended(view, error) {
  const why = {
    rejected: REJECTIONS[view.rejection] || "The registration was refused.",
    cancelled: "You cancelled this registration.",
    expired: "This registration took too long and expired.",
  }[view.state];
  show(
    h("h1", {}, "Card not added"),
    h(
      "div",
      { class: "error", role: "alert" },
      h("p", {}, why),
      view.rejection ? h("p", { class: "code" }, `Code: ${view.rejection}`) : null,
      error?.requestId ? h("p", { class: "code" }, `request ${error.requestId}`) : null,
    ),
    h("a", { class: "button", href: "#/register" }, "Start again"),
  );
}

function unfinished(session, view) {
  const form = h(
    "form",
    {},
    h("h1", {}, "Almost done"),
    h("p", {}, `The registration stopped at “${view.state.replace(/_/g, " ")}”, probably because the bank did not answer. Try again.`),
    h("button", { type: "submit" }, "Try again"),
  );
  // The same key on every try: a try whose answer was lost is answered again, code included.
  const key = newKey();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const next = await submitting(form, "Checking with your bank…", () =>
      call("POST", `/v1/registrations/${view.id}/confirm`, { token: session.token, key, json: {} }),
    );
    if (next) renderRegistration(session, next);
  });
  show(form);
}

// ---------------------------------------------------------------------------------------------
// Paying: choose the payee (recent ones first), the amount, the code; then the verification code.

const OUTCOMES = {
  insufficient_funds: "Your account does not have enough money for this payment.",
  registration_code_unknown: "This registration code is not known, or not bound. Check it or add the card again.",
  terminal_mismatch: "This phone is not the one your card is bound to.",
  payee_unknown: "The payee cannot take payments.",
  identity_check_failed: "The ID number did not match.",
  bank_unavailable: "The bank did not answer. The payment is retried; check the history.",
  verification_blocked: "Too many wrong codes: the payment is blocked. Start a new payment.",
  payment_expired: "The payment was not confirmed in time. Start a new payment.",
  debit_account_closed: "Your account at the bank is closed. Add a card of another account.",
  credit_account_closed: "The payee's account at its bank is closed: it cannot be paid.",
};

export async function pay() {
  const session = signedIn();
  if (!session) return;
  const here = screen();
  show(h("h1", {}, "Pay"), h("p", {}, h("progress", { "aria-label": "Loading" }), " Loading payees…"));
  let payees, merchants;
  try {
    [payees, merchants] = await Promise.all([
      call("GET", "/v1/payees", { token: session.token }),
      call("GET", "/v1/merchants", { token: session.token }),
    ]);
  } catch (error) {
    showIf(here, h("h1", {}, "Pay"), errorBox(error));
    return;
  }
  if (!current(here)) return;
  const recent = payees.items || payees;
  const shops = (merchants.items || merchants).filter((m) => !recent.some((p) => p.id === m.id));
  const amount = h("input", { name: "amount", inputmode: "decimal", required: true, autocomplete: "off", placeholder: "0.00" });
  const currency = h("select", { name: "currency" }, CURRENCIES.map((c) => h("option", { value: c }, c)));
  const choices = [];
  const option = (id, label, detail, onpick) => {
    const input = h("input", { type: "radio", name: "payee", value: id, id: `payee-${id}`, required: true });
    input.addEventListener("change", onpick || (() => {}));
    choices.push(input);
    return h("div", { class: "choice" }, input, h("label", { for: `payee-${id}` }, label, detail ? h("span", { class: "hint" }, ` ${detail}`) : null));
  };
  const other = h("input", { name: "payee_id", placeholder: "wallet id", autocomplete: "off", disabled: true });
  const codes = keptCodes(session.id).all();
  const code = codes.length
    ? h("select", { name: "code" }, codes.map((c, i) => h("option", { value: String(i) }, `${c.card_masked} (bank ${c.bank_id})`)))
    : h("input", { name: "code", type: "password", required: true, autocomplete: "off", inputmode: "text" });
  // A user-name code pays with its password, typed each time and never kept.
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password" });
  const passwordField = field("Password", password, "For a user name: its password. Empty for a code.");
  const needsPassword = () => (codes.length ? Boolean(codes[Number(code.value)].password) : null);
  const showPassword = () => {
    const needed = needsPassword();
    passwordField.hidden = needed === false;
    password.disabled = needed === false;
    password.required = needed === true;
  };
  if (codes.length) code.addEventListener("change", showPassword);
  showPassword();
  const reference = h("input", { name: "reference", maxlength: 128, autocomplete: "off" });

  const form = h(
    "form",
    { class: "pay" },
    h("h1", {}, "Pay"),
    h(
      "fieldset",
      {},
      h("legend", {}, "To"),
      recent.length ? h("p", { class: "hint" }, "Recent") : null,
      recent.map((p) =>
        option(p.id, p.name, `last ${formatAmount(p.last_amount_minor, p.currency)}`, () => {
          amount.value = formatAmount(p.last_amount_minor, p.currency).split(" ")[0];
          currency.value = p.currency;
          other.disabled = true;
        }),
      ),
      shops.length ? h("p", { class: "hint" }, "Merchants") : null,
      shops.map((m) => option(m.id, m.name, `bank ${m.bank_id}`, () => (other.disabled = true))),
      option("other", "Another wallet", null, () => {
        other.disabled = false;
        other.focus();
      }),
      field("Wallet id", other, "The id the other wallet shows on its history."),
    ),
    h("div", { class: "row" }, field("Amount", amount), field("Currency", currency)),
    field(codes.length ? "Pay with" : "Registration code", code, codes.length ? null : "The code (or user name) you chose when you added the card."),
    passwordField,
    field("Reference (optional)", reference),
    h("button", { type: "submit" }, "Pay"),
  );
  // One key for this payment as long as the form says the same: pressing Pay again after an
  // error (or a lost answer) asks about the same payment instead of making a second one.
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("change", () => (key = newKey()));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = choices.find((c) => c.checked);
    const payeeId = picked && picked.value === "other" ? other.value.trim().toLowerCase() : picked?.value;
    const minor = parseAmount(amount.value, currency.value);
    if (!payeeId || minor === null) {
      formError(form, {
        code: "request_invalid",
        message: !payeeId ? "Choose who to pay." : `Enter an amount like 12.34 (in ${currency.value}).`,
      });
      return;
    }
    const request = {
      registration_code: codes.length ? codes[Number(code.value)].code : code.value.trim(),
      terminal_id: terminalId(),
      payee_id: payeeId,
      amount_minor: minor,
      currency: currency.value,
    };
    if (!password.disabled && password.value) request.password = password.value;
    if (reference.value.trim()) request.reference = reference.value.trim();
    // This phone proves it holds its key: without the proof, a payment counts as coming from
    // another phone (a step-up), whatever terminal it names.
    const payingKey = key;
    const payment = await submitting(
      form,
      "Paying…",
      // The proof is made inside, with the buttons already disabled: a double tap sends once.
      async () => {
        const proof = await proveTerminal(session, payingKey, request).catch(() => null);
        if (proof) request.terminal_proof = proof;
        return call("POST", "/v1/payments", { token: session.token, key: payingKey, json: request });
      },
      {
        // An error that names the payment (refused, or its bank did not answer): follow it.
        onError: (error) => {
          const named = error.details && error.details.payment;
          if (named && current(here)) followPayment(session, named);
          return Boolean(named);
        },
      },
    );
    if (payment && current(here)) followPayment(session, payment);
  });
  show(form);
}

let hubSealingKey = null;

/** The proof (base64url) of this terminal's key for `request`, or null where there is no key. */
async function proveTerminal(session, key, request) {
  const keys = await terminalKeys();
  if (!keys) return null;
  if (!hubSealingKey) {
    const published = await call("GET", "/v1/sealing-key", { token: session.token });
    hubSealingKey = fromBase64url(published.public_key);
  }
  const message = proofMessage(key, request.terminal_id, request.payee_id, request.amount_minor, request.currency);
  return toBase64url(await terminalProof(keys, hubSealingKey, message));
}

function followPayment(session, payment) {
  if (payment.status === "requires_verification") return verification(session, payment);
  if (payment.status === "processing") return waitForOutcome(session, payment);
  return outcome(payment);
}

function verification(session, payment) {
  const here = screen();
  const action = payment.next_action;
  const stepUp = action.reason === "step_up_required";
  const code = h("input", { name: "verification_code", inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 8 });
  const arrived = h("div", { "aria-live": "polite" });
  const status = h("p", { class: "hint" });
  const showStatus = (next) =>
    (status.textContent = `Valid until ${when(next.code_expires_at)} · ${next.tries_left} ${next.tries_left === 1 ? "try" : "tries"} left`);
  showStatus(action);
  // The code is offered here only on the bound phone, and never for a step-up (this phone is
  // not the bound one: the person reads the code there and types it here).
  const offer = (notification) => {
    if (notification.kind !== "verification_code" || notification.payment_id !== payment.id) return;
    if (stepUp || !codeShownHere(notification)) return;
    arrived.replaceChildren(
      h(
        "p",
        { class: "info" },
        `Code received on this phone: `,
        h("strong", {}, notification.verification_code),
        " ",
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              code.value = notification.verification_code;
              code.dispatchEvent(new Event("input", { bubbles: true }));
              code.focus();
            },
          },
          "Use it",
        ),
      ),
    );
  };
  feed.filter((n) => n.payment_id === payment.id).reverse().forEach(offer);
  listeners.add(offer);
  const why = stepUp
    ? "You are paying from another phone than the one your card is bound to. We sent a code to that phone: type it here."
    : `We sent a code to the phone your card is bound to. It confirms ${formatAmount(payment.amount_minor, payment.currency)} to ${payment.payee.name}, nothing else.`;
  const form = h(
    "form",
    { class: "verify" },
    h("h1", {}, "Enter the verification code"),
    h("p", {}, why),
    status,
    arrived,
    field("Verification code", code),
    h("button", { type: "submit" }, "Confirm payment"),
    " ",
    h("button", { type: "button", class: "secondary", "data-action": "resend" }, "Send a new code"),
  );
  // One key a code typed: the same code sent again is the same attempt, not a new wrong try.
  let key = newKey();
  code.addEventListener("input", () => (key = newKey()));
  form.querySelector('[data-action="resend"]').addEventListener("click", async () => {
    const next = await submitting(form, "Sending a new code…", () =>
      call("POST", `/v1/payments/${payment.id}/resend`, { token: session.token, key: newKey(), json: {} }),
    );
    if (next && current(here)) {
      arrived.replaceChildren();
      if (next.next_action) showStatus(next.next_action);
      announce("A new code is on its way.");
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const next = await submitting(form, "Confirming…", () =>
      call("POST", `/v1/payments/${payment.id}/verify`, {
        token: session.token,
        key,
        json: {
          verification_code: code.value.trim(),
          amount_minor: payment.amount_minor,
          currency: payment.currency,
          payee_id: payment.payee.id,
        },
      }),
    );
    if (!current(here)) return;
    if (next) {
      listeners.delete(offer);
      followPayment(session, next);
      return;
    }
    // A wrong code: show the tries left, or the outcome if the payment is now blocked.
    try {
      const now = await call("GET", `/v1/payments/${payment.id}`, { token: session.token });
      if (!current(here)) return;
      if (now.status !== "requires_verification") {
        listeners.delete(offer);
        followPayment(session, now);
      } else if (now.next_action) {
        showStatus(now.next_action);
      }
    } catch {
      // The error shown is enough.
    }
  });
  show(form);
}

async function waitForOutcome(session, payment) {
  const here = screen();
  show(h("h1", {}, "Paying…"), h("p", { role: "status" }, h("progress", { "aria-label": "Paying" }), " Waiting for the bank."));
  let latest = payment;
  for (let i = 0; i < 60 && latest.status === "processing"; i++) {
    await sleep(500);
    if (!current(here)) return;
    try {
      latest = await call("GET", `/v1/payments/${payment.id}`, { token: session.token });
    } catch {
      // Keep asking; the answer may come next time.
    }
  }
  if (current(here)) outcome(latest);
}

function outcome(payment) {
  const amount = formatAmount(payment.amount_minor, payment.currency);
  if (payment.status === "succeeded") {
    show(
      h("h1", {}, "Paid"),
      h("p", { class: "success", "data-testid": "payment-outcome" }, `Paid ${amount} to ${payment.payee.name}.`),
      payment.exempted ? h("p", { class: "hint" }, "A small repeat payment: no code was needed.") : null,
      h("p", { class: "hint" }, `Payment ${payment.id}`),
      h("a", { class: "button", href: "#/" }, "Done"),
      " ",
      h("a", { class: "button secondary", href: "#/pay" }, "Pay again"),
    );
    return;
  }
  const text =
    payment.status === "processing"
      ? "The bank has not answered yet. The hub keeps asking; the history will show the outcome."
      : OUTCOMES[payment.failure_code] || "The payment did not go through.";
  show(
    h("h1", {}, payment.status === "processing" ? "Still processing" : "Not paid"),
    h(
      "div",
      { class: payment.status === "processing" ? "warning" : "error", role: "alert", "data-testid": "payment-outcome" },
      h("p", {}, text),
      payment.failure_code ? h("p", { class: "code" }, `Code: ${payment.failure_code}`) : null,
    ),
    h("a", { class: "button", href: "#/pay" }, "Back to paying"),
  );
}

// ---------------------------------------------------------------------------------------------
// History: payments made and received, with their refunds.

export async function history() {
  const session = signedIn();
  if (!session) return;
  const payments = paymentList(session, (p) => paymentItem(p, session.id));
  listeners.add((n) => {
    if (n.kind !== "verification_code") payments.reload();
  });
  show(h("h1", {}, "History"), h("p", { class: "hint" }, `Your wallet id: ${session.id}`), payments.element);
  await payments.reload();
}

/**
 * The caller's payments, newest first, 20 a page with an "Older payments" button; `item` makes
 * each row. `reload()` starts again from the newest; an older load still on its way is dropped.
 */
export function paymentList(session, item) {
  const list = h("ol", { class: "payments", "aria-label": "Payments" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older payments");
  const slot = h("div", {});
  let cursor = null;
  let loads = 0;
  const load = async (fresh) => {
    const mine = ++loads;
    more.disabled = true;
    try {
      const from = fresh || !cursor ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await call("GET", `/v1/payments?limit=20${from}`, { token: session.token });
      if (mine !== loads) return;
      const rows = page.items.map(item).filter(Boolean);
      if (fresh) replaceRows(list, rows);
      else list.append(...rows);
      if (!list.children.length) list.append(h("li", {}, "No payments yet."));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      slot.replaceChildren();
    } catch (error) {
      if (mine === loads) slot.replaceChildren(errorBox(error));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => load(false));
  return { element: h("div", {}, slot, list, more), reload: () => load(true), list };
}

/**
 * Makes `rows` the children of `list` without taking out a row that stays: a node taken out
 * of the page, even for an instant, loses the focus and what the person was about to type
 * (a refund amount, while a notification reloads the list).
 */
function replaceRows(list, rows) {
  const staying = new Set(rows);
  for (const child of [...list.children]) if (!staying.has(child)) child.remove();
  let next = list.firstElementChild;
  for (const row of rows) {
    if (row === next) next = next.nextElementSibling;
    else list.insertBefore(row, next);
  }
}

export function paymentItem(payment, selfId) {
  const outgoing = payment.payer.id === selfId;
  const counterparty = outgoing ? `To ${payment.payee.name}` : `From ${payment.payer.name}`;
  const refunds = payment.refunds.filter((r) => r.status === "succeeded");
  // A refund under way is shown too, so that it is not made again while its bank is slow.
  const processing = payment.refunds
    .filter((r) => r.status === "processing")
    .reduce((sum, r) => sum + r.amount_minor, 0);
  return h(
    "li",
    { "data-payment": payment.id },
    h("span", { class: "when" }, when(payment.created_at)),
    h("span", { class: "who" }, counterparty),
    h("span", { class: `amount ${outgoing ? "out" : "in"}` }, `${outgoing ? "−" : "+"}${formatAmount(payment.amount_minor, payment.currency)}`),
    h("span", { class: `status ${payment.status}` }, payment.status.replace(/_/g, " "), payment.failure_code ? ` (${payment.failure_code})` : ""),
    refunds.length
      ? h(
          "span",
          { class: "refunds" },
          `${outgoing ? "Refunded to you" : "Refunded"}: ${formatAmount(payment.refunded_minor, payment.currency)}`,
        )
      : null,
    processing
      ? h("span", { class: "refunds" }, `Refund under way: ${formatAmount(processing, payment.currency)}`)
      : null,
  );
}
