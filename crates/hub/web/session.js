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

/** Shows the screen at `#/path`, again if it is the one showing. */
export function go(path) {
  if (location.hash === `#/${path}`) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = `#/${path}`;
}
