// What the browser keeps between visits (localStorage), and navigation between screens.

/** A JSON value kept under `key` in `storage`. */
function stored(key, storage = localStorage) {
  return {
    get: () => JSON.parse(storage.getItem(key) || "null"),
    set: (value) => storage.setItem(key, JSON.stringify(value)),
    clear: () => storage.removeItem(key),
  };
}

/** What this browser keeps for the signed-in wallet: its token, id and name. */
export const walletSession = stored("scanpay.wallet");

/**
 * The registration codes a person chose to keep on this phone, per wallet. Signing out keeps
 * them (a code is shown only once; losing it would lock the card out), signing in again with
 * the same wallet key finds them.
 */
export function keptCodes(walletId) {
  const store = stored(`scanpay.codes.${walletId}`);
  return {
    all: () => store.get() || [],
    add: (code) => store.set([...(store.get() || []), code]),
    remove: (registrationId) => store.set((store.get() || []).filter((c) => c.registration_id !== registrationId)),
  };
}

/**
 * The merchant console's token, id, name and kind. In sessionStorage: a merchant's or an
 * operator's key is powerful, so it is forgotten when the browser session ends.
 */
export const consoleSession = stored("scanpay.console", sessionStorage);

/** The terminal identifier of this browser: made once, kept even when the wallet signs out. */
export function terminalId() {
  let id = localStorage.getItem("scanpay.terminal");
  if (!id) {
    id = `web-${crypto.randomUUID()}`;
    localStorage.setItem("scanpay.terminal", id);
  }
  return id;
}

/**
 * This terminal's X25519 key pair (WebCrypto), made once: the hub seals verification codes for
 * cards registered here to its public key, so only this browser reads them. The private key is
 * kept as a JWK beside the wallet's token. `null` where the browser has no X25519.
 */
export async function terminalKeys() {
  try {
    const saved = JSON.parse(localStorage.getItem("scanpay.terminal.key") || "null");
    if (saved) {
      const privateKey = await crypto.subtle.importKey("jwk", saved.private, { name: "X25519" }, false, ["deriveBits"]);
      return { privateKey, publicRaw: fromBase64url(saved.public) };
    }
    const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
    const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    localStorage.setItem("scanpay.terminal.key", JSON.stringify({ private: jwk, public: toBase64url(publicRaw) }));
    return { privateKey: pair.privateKey, publicRaw };
  } catch {
    return null;
  }
}

export function toBase64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Shows the screen at `#/path`, again if it is the one showing. */
export function go(path) {
  if (location.hash === `#/${path}`) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = `#/${path}`;
}
