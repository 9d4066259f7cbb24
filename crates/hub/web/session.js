// What the browser keeps between visits (localStorage), and navigation between screens.

/** A JSON value kept under `key`. */
function stored(key) {
  return {
    get: () => JSON.parse(localStorage.getItem(key) || "null"),
    set: (value) => localStorage.setItem(key, JSON.stringify(value)),
    clear: () => localStorage.removeItem(key),
  };
}

/**
 * What this browser keeps for the wallet: its token, id and name, and the registration codes
 * the person chose to keep here.
 */
export const walletSession = stored("scanpay.wallet");

/** The merchant console's token, id, name and kind (merchant or operator). */
export const consoleSession = stored("scanpay.console");

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
