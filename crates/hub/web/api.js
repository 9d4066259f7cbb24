// The hub's /v1 API as the web app uses it: bearer tokens, idempotency keys, error bodies,
// exact money and the notification stream. No screen code here.

import { EXPONENTS } from "./currencies.js";

/** An error answer from the hub: `code` is stable (docs/errors.md), `message` says what to do. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `The hub answered ${status}.`);
    this.status = status;
    this.code = body.code || "unexpected_answer";
    this.requestId = body.request_id || null;
    this.details = body.details || null;
  }
}

/** A request that never reached the hub (offline, the hub stopped). Safe to retry. */
export class NetworkError extends Error {
  constructor(cause) {
    super("The hub cannot be reached. Check the connection and try again.");
    this.code = "network_unreachable";
    this.cause = cause;
  }
}

export function newKey() {
  return crypto.randomUUID();
}

/**
 * Calls the hub. `key` is the Idempotency-Key of a creating POST: a request that failed on the
 * way (no answer) is sent again with the same key, so it takes effect at most once.
 */
export async function call(method, path, { token, json, body, contentType, key } = {}) {
  const headers = {};
  if (token) headers["authorization"] = `Bearer ${token}`;
  if (key) headers["idempotency-key"] = key;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["content-type"] = contentType;
  }
  const attempts = key || method === "GET" ? 3 : 1;
  let lastError = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(400 * attempt);
    let response;
    try {
      response = await fetch(path, { method, headers, body });
    } catch (error) {
      lastError = new NetworkError(error);
      continue;
    }
    const text = await response.text();
    let answer = null;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch {
      answer = null;
    }
    if (response.ok) return answer;
    throw new ApiError(response.status, answer || {});
  }
  throw lastError;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Money: integer minor units, parsed and printed from strings (never through floats), with the
// hub's own currency table (currencies.js is generated from scanpay_core::money).

export const CURRENCIES = Object.keys(EXPONENTS);

export function exponent(currency) {
  const e = EXPONENTS[currency];
  if (e === undefined) throw new Error(`unknown currency ${currency}`);
  return e;
}

/**
 * "12.3" in USD → 1230; null when it is not a positive amount with at most the currency's
 * decimals. Only "." separates decimals: "1,500" is refused rather than guessed at.
 */
export function parseAmount(text, currency) {
  if (EXPONENTS[currency] === undefined) return null;
  const e = exponent(currency);
  const match = /^\s*(\d{1,13})(?:\.(\d*))?\s*$/.exec(text);
  if (!match) return null;
  const fraction = match[2] || "";
  if (fraction.length > e) return null;
  const minor = Number(match[1]) * 10 ** e + Number(fraction.padEnd(e, "0") || "0");
  return Number.isSafeInteger(minor) && minor > 0 ? minor : null;
}

/** 1230, "USD" → "12.30 USD". */
export function formatAmount(minor, currency) {
  const e = exponent(currency);
  const sign = minor < 0 ? "-" : "";
  const digits = String(Math.abs(minor)).padStart(e + 1, "0");
  const major = e ? `${digits.slice(0, -e)}.${digits.slice(-e)}` : digits;
  return `${sign}${major} ${currency}`;
}

/**
 * Opens a verification code the hub sealed to this terminal (`proto::seal`: X25519, then
 * HKDF-SHA256 with salt "scanpay seal v1" and info = ephemeral public key || this terminal's
 * public key, then AES-256-GCM with the payment as associated data). Throws when the code was
 * sealed to another terminal.
 */
export async function openSealedCode(envelope, paymentId, keys) {
  if (envelope[0] !== 1 || envelope.length < 1 + 32 + 12 + 16) throw new Error("not a sealed code");
  const ephemeral = envelope.slice(1, 33);
  const nonce = envelope.slice(33, 45);
  const sealed = envelope.slice(45);
  const ephemeralKey = await crypto.subtle.importKey("raw", ephemeral, { name: "X25519" }, false, []);
  const shared = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: ephemeralKey }, keys.privateKey, 256),
  );
  if (shared.every((b) => b === 0)) throw new Error("a low-order key");
  const info = new Uint8Array(64);
  info.set(ephemeral, 0);
  info.set(keys.publicRaw, 32);
  const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const key = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("scanpay seal v1"), info },
    hkdf,
    256,
  );
  const aes = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: nonce, additionalData: new TextEncoder().encode(`scanpay verification code ${paymentId}`) },
    aes,
    sealed,
  );
  return new TextDecoder().decode(plain);
}

/**
 * This terminal's proof that it holds its key, for a payment (`proto::seal::SealingKey::proof`):
 * HMAC-SHA256 over `message` under HKDF-SHA256 (salt "scanpay terminal proof v1", empty info)
 * of the X25519 secret this terminal shares with the hub's sealing key.
 */
export async function terminalProof(keys, hubPublicRaw, message) {
  const hubKey = await crypto.subtle.importKey("raw", hubPublicRaw, { name: "X25519" }, false, []);
  const shared = await crypto.subtle.deriveBits({ name: "X25519", public: hubKey }, keys.privateKey, 256);
  const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const key = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("scanpay terminal proof v1"), info: new Uint8Array(0) },
    hkdf,
    256,
  );
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(message)));
}

/** What a terminal's proof covers (`proto::seal::proof_message`). */
export function proofMessage(key, terminalId, payeeId, amountMinor, currency) {
  return `scanpay payment ${key}|${terminalId}|${payeeId}|${amountMinor}|${currency}`;
}

/**
 * Follows the caller's notifications (server-sent events read through fetch, so the bearer
 * token travels in a header, not in the URL). Reconnects with the last event id after a drop,
 * backing off while nothing arrives; stops for good when the hub refuses the token
 * (`onState("unauthorized")`). Returns a function that stops it.
 */
export function followNotifications(token, onNotification, onState = () => {}) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  (async () => {
    let delay = 500;
    while (!stopped) {
      let reader = null;
      try {
        const headers = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
        if (lastId !== null) headers["last-event-id"] = String(lastId);
        const response = await fetch("/v1/notifications/stream", {
          headers,
          signal: controller.signal,
        });
        if (response.status === 401 || response.status === 403) {
          onState("unauthorized");
          return;
        }
        if (!response.ok) throw new Error(`stream answered ${response.status}`);
        onState("live");
        reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = parseEvent(block);
            if (event.id !== null) lastId = event.id;
            if (event.data) {
              delay = 500; // Something arrived: the connection works.
              onNotification(JSON.parse(event.data));
            }
          }
        }
      } catch (error) {
        if (stopped) return;
      } finally {
        if (reader) reader.cancel().catch(() => {});
      }
      onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}

function parseEvent(block) {
  const event = { id: null, data: "" };
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    if (field === "data") event.data += (event.data ? "\n" : "") + value;
  }
  return event;
}
