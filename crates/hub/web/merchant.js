// The merchant console: payments received and refunds, webhook settings and the delivery log,
// the day's settlement. An operator key opens the interbank settlement report.

import { call, newKey, parseAmount, formatAmount, followNotifications } from "./api.js";
import { h, field, show, errorBox, formError, announce, submitting, when } from "./ui.js";
import { consoleSession, go } from "./session.js";
import { paymentItem, paymentList } from "./wallet.js";

let stopStream = null;
let onNotification = null;

export function leaving() {
  onNotification = null;
}

function signedIn() {
  const session = consoleSession.get();
  if (!session) {
    signIn();
    return null;
  }
  if (!stopStream && session.kind === "merchant") {
    const openedAt = Date.now();
    stopStream = followNotifications(
      session.token,
      (n) => {
        // The stream first replays the last day: history, not news.
        if (Date.parse(n.created_at) <= openedAt - 2000) return;
        announce(n.message);
        if (onNotification) onNotification(n);
      },
      (state) => {
        if (state === "unauthorized") signOut();
      },
    );
  }
  return session;
}

function signIn() {
  const key = h("input", { name: "key", required: true, autocomplete: "off", spellcheck: "false" });
  const form = h(
    "form",
    {},
    h("h1", {}, "Merchant console"),
    h("p", {}, "Sign in with your merchant key. With `scanpay up`, a demo merchant's key is in data/merchants/ID.token; the operator's in data/operator.token."),
    field("Merchant or operator key", key),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = key.value.trim();
    const me = await submitting(form, "Signing in…", () => call("GET", "/v1/me", { token }));
    if (!me) return;
    if (me.kind === "wallet") {
      formError(form, { code: "forbidden", message: "This is a wallet key: open the wallet instead." });
      return;
    }
    consoleSession.set({ token, id: me.id, name: me.name, kind: me.kind });
    go(me.kind === "operator" ? "merchant/settlement" : "merchant");
  });
  show(form);
}

function signOut() {
  if (stopStream) stopStream();
  stopStream = null;
  consoleSession.clear();
  go("merchant");
}

function header(session, title) {
  return [
    h("h1", {}, title),
    h(
      "p",
      { class: "hint" },
      `Signed in as ${session.name} (${session.kind}) · `,
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
  ];
}

// ---------------------------------------------------------------------------------------------
// Payments received, and refunds.

export async function payments() {
  const session = signedIn();
  if (!session) return;
  if (session.kind !== "merchant") {
    show(...header(session, "Payments"), h("p", {}, "Payments are listed for merchants. Open the settlement."));
    return;
  }
  // A payment whose refund form is open keeps its row on a reload: the person is typing in it.
  const payments = paymentList(session, (p) => {
    if (p.payee.id !== session.id) return null;
    const open = payments.list.querySelector(`li[data-payment="${p.id}"]`);
    return open && open.querySelector("form.refund:not([hidden])") ? open : receivedItem(session, p);
  });
  onNotification = (n) => {
    if (n.kind === "payment_received" || n.kind.startsWith("refund_")) payments.reload();
  };
  show(...header(session, "Payments received"), payments.element);
  await payments.reload();
}

function receivedItem(session, payment) {
  const item = paymentItem(payment, session.id);
  if (payment.status !== "succeeded" || payment.refundable_minor <= 0) return item;
  const amount = h("input", {
    name: "refund_amount",
    inputmode: "decimal",
    value: formatAmount(payment.refundable_minor, payment.currency).split(" ")[0],
  });
  const form = h(
    "form",
    { class: "refund", hidden: true },
    field(`Refund amount (${payment.currency}, at most ${formatAmount(payment.refundable_minor, payment.currency)})`, amount),
    h("button", { type: "submit" }, "Refund"),
  );
  const open = h("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Refund…");
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) amount.focus();
  });
  // One key a refund as long as its amount stays: pressing Refund again after an error asks
  // about the same refund instead of making a second one.
  let key = newKey();
  amount.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minor = parseAmount(amount.value, payment.currency);
    if (minor === null) {
      formError(form, { code: "request_invalid", message: `Enter an amount like 5.00 (in ${payment.currency}).` });
      return;
    }
    const updated = await submitting(form, "Refunding…", () =>
      call("POST", `/v1/payments/${payment.id}/refunds`, {
        token: session.token,
        key,
        json: { amount_minor: minor },
      }),
    );
    if (updated) {
      // The newest refund is this one (refunds are listed in the order they were made).
      const latest = updated.refunds[updated.refunds.length - 1];
      const done = latest && latest.status === "succeeded";
      announce(
        done
          ? `Refund of ${formatAmount(minor, payment.currency)} sent.`
          : `Refund of ${formatAmount(minor, payment.currency)} under way: the bank has not answered yet.`,
      );
      item.replaceWith(receivedItem(session, updated));
    }
  });
  item.append(open, form);
  return item;
}

// ---------------------------------------------------------------------------------------------
// Webhooks: where events go, the signing secret (shown once), rotation, the delivery log.

export async function webhooks() {
  const session = signedIn();
  if (!session) return;
  if (session.kind !== "merchant") {
    show(...header(session, "Webhooks"), h("p", {}, "Webhooks belong to merchants."));
    return;
  }
  const current = h("div", {});
  const secret = h("div", { "aria-live": "polite" });
  const log = h("tbody", {});
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://shop.example/hooks/scanpay" });
  const form = h(
    "form",
    {},
    h("h2", {}, "Where events go"),
    field("Webhook URL", url, "We sign each event (scanpay-signature: t=…,v1=…) and retry until your server answers 2xx."),
    h("button", { type: "submit" }, "Save"),
    " ",
    h("button", { type: "button", class: "secondary", "data-action": "rotate" }, "Rotate the secret"),
  );
  // What the person typed wins over an answer that arrives later (the screen's first load on a
  // slow connection must not wipe a URL being entered).
  let typed = false;
  url.addEventListener("input", () => (typed = true));
  const render = (view, { saved } = { saved: true }) => {
    if (saved || !typed) url.value = view.url || "";
    if (saved) typed = false;
    current.replaceChildren(
      h("p", {}, view.url ? `Events go to ${view.url}.` : "No webhook URL yet."),
      view.secrets.length
        ? h(
            "ul",
            {},
            view.secrets.map((s) =>
              h("li", {}, `Secret made ${when(s.created_at)}`, s.expires_at ? `, signs until ${when(s.expires_at)}` : ", current"),
            ),
          )
        : null,
    );
    if (view.secret) {
      secret.replaceChildren(
        h(
          "div",
          { class: "info" },
          h("p", {}, "The new signing secret, shown only now:"),
          h("p", { class: "secret", "data-testid": "webhook-secret" }, view.secret),
        ),
      );
    }
  };
  const loadLog = async () => {
    const rows = await call("GET", "/v1/webhooks/deliveries", { token: session.token });
    log.replaceChildren(
      ...(rows.length
        ? rows.map((d) =>
            h(
              "tr",
              {},
              h("td", {}, when(d.created_at)),
              h("td", {}, d.event_type),
              h("td", {}, d.state),
              h("td", {}, String(d.attempts)),
              h("td", {}, d.last_status ?? d.last_error ?? ""),
            ),
          )
        : [h("tr", {}, h("td", { colspan: 5 }, "No events yet."))]),
    );
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const view = await submitting(form, "Saving…", () =>
      call("POST", "/v1/webhooks", { token: session.token, key: newKey(), json: { url: url.value.trim() } }),
    );
    if (view) render(view);
  });
  form.querySelector('[data-action="rotate"]').addEventListener("click", async () => {
    const view = await submitting(form, "Rotating…", () =>
      call("POST", "/v1/webhooks/rotate", { token: session.token, key: newKey(), json: {} }),
    );
    if (view) render(view);
  });
  onNotification = () => loadLog().catch(() => {});
  show(
    ...header(session, "Webhooks"),
    current,
    secret,
    form,
    h("h2", {}, "Delivery log"),
    h(
      "div",
      { class: "table" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["When", "Event", "State", "Attempts", "Last answer"].map((t) => h("th", { scope: "col" }, t)))),
        log,
      ),
    ),
  );
  try {
    render(await call("GET", "/v1/webhooks", { token: session.token }), { saved: false });
    await loadLog();
  } catch (error) {
    current.replaceChildren(errorBox(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Settlement: a merchant's day (received, refunded, net); an operator's interbank positions.

export async function settlement() {
  const session = signedIn();
  if (!session) return;
  const today = new Date().toISOString().slice(0, 10);
  const date = h("input", { type: "date", name: "date", value: today, required: true });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "row" }, field("Day (UTC)", date), h("button", { type: "submit" }, "Show"));
  const load = async () => {
    result.replaceChildren(h("p", {}, h("progress", { "aria-label": "Loading" }), " Loading…"));
    try {
      result.replaceChildren(
        session.kind === "operator" ? await interbank(session, date.value) : await merchantDay(session, date.value),
      );
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  show(...header(session, "Settlement"), form, result);
  await load();
}

/**
 * Pages through the merchant's payments (newest first) back to `day`, at most 20 pages of 100;
 * refunds made that day to older payments are counted only when they are on those pages, which
 * the table says.
 */
async function merchantDay(session, day) {
  const totals = new Map();
  let cursor = null;
  let complete = false;
  // Whether the pages read go back past the start of the day: else the day is cut short.
  let reached = false;
  for (let page = 0; page < 20; page++) {
    const answer = await call("GET", `/v1/payments?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
      token: session.token,
    });
    let older = false;
    for (const p of answer.items) {
      const created = p.created_at.slice(0, 10);
      if (created < day) older = true;
      if (p.payee.id !== session.id) continue;
      const total = totals.get(p.currency) || { count: 0, received: 0, refunded: 0 };
      if (created === day && p.status === "succeeded") {
        total.count += 1;
        total.received += p.amount_minor;
      }
      for (const r of p.refunds) {
        if (r.status === "succeeded" && r.created_at.slice(0, 10) === day) total.refunded += r.amount_minor;
      }
      totals.set(p.currency, total);
    }
    cursor = answer.next_cursor;
    if (!cursor) complete = true;
    if (!cursor || older) {
      reached = true;
      break;
    }
  }
  const rows = [...totals.entries()].filter(([, t]) => t.count || t.refunded);
  const cut = reached ? "" : " — incomplete: only your newest 2,000 payments were read, and the day goes further back";
  if (!rows.length) return h("p", {}, reached ? `No payments on ${day}.` : `Nothing found for ${day}${cut}.`);
  return h(
    "table",
    { "data-testid": "settlement" },
    h(
      "caption",
      {},
      `Your day, ${day}: what your bank account received`,
      cut || (complete ? "" : " (refunds of payments from before that day may be missing)"),
    ),
    h("thead", {}, h("tr", {}, ["Currency", "Payments", "Received", "Refunded", "Net"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      rows.map(([currency, t]) =>
        h(
          "tr",
          {},
          h("td", {}, currency),
          h("td", {}, String(t.count)),
          h("td", {}, formatAmount(t.received, currency)),
          h("td", {}, formatAmount(t.refunded, currency)),
          h("td", {}, formatAmount(t.received - t.refunded, currency)),
        ),
      ),
    ),
  );
}

async function interbank(session, day) {
  const report = await call("GET", `/v1/settlement?date=${encodeURIComponent(day)}`, { token: session.token });
  return h(
    "div",
    {},
    h(
      "table",
      { "data-testid": "settlement" },
      h("caption", {}, `Interbank positions, ${report.date} (positive: the bank owes)`),
      h("thead", {}, h("tr", {}, ["Bank", "Paid out", "Received", "Net"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        report.positions.length
          ? report.positions.map((p) =>
              h(
                "tr",
                {},
                h("td", {}, p.bank_id),
                h("td", {}, formatAmount(p.paid_out_minor, p.currency)),
                h("td", {}, formatAmount(p.received_minor, p.currency)),
                h("td", {}, formatAmount(p.net_minor, p.currency)),
              ),
            )
          : [h("tr", {}, h("td", { colspan: 4 }, "No interbank payments that day."))],
      ),
    ),
    h(
      "p",
      { class: report.reconciled ? "success" : "error" },
      report.reconciled
        ? "The clearing accounts of every bank agree with the hub's records."
        : "A bank's clearing account disagrees with the hub's records: see below.",
    ),
    h(
      "ul",
      {},
      report.reconciliation.map((c) =>
        h(
          "li",
          {},
          `${c.bank_id}: clearing ${formatAmount(c.clearing_balance_minor, c.currency)}, expected ${formatAmount(c.expected_balance_minor, c.currency)} ${c.agrees ? "✓" : "✗"}`,
        ),
      ),
    ),
  );
}
