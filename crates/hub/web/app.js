// The app's entry: sessions kept in the browser, the hash router and the navigation.
// Screens live in wallet.js (the phone) and merchant.js (the console); what the browser keeps
// is in session.js.

import { h, nextScreen } from "./ui.js";
import * as wallet from "./wallet.js";
import * as merchant from "./merchant.js";

const ROUTES = {
  "": wallet.home,
  register: wallet.register,
  pay: wallet.pay,
  history: wallet.history,
  merchant: merchant.payments,
  "merchant/webhooks": merchant.webhooks,
  "merchant/settlement": merchant.settlement,
};

function route() {
  const path = location.hash.replace(/^#\/?/, "").split("?")[0];
  const screen = ROUTES[path] || wallet.home;
  renderNav(path);
  nextScreen();
  wallet.leaving();
  merchant.leaving();
  screen();
}

function renderNav(path) {
  const links = path.startsWith("merchant")
    ? [
        ["merchant", "Payments"],
        ["merchant/webhooks", "Webhooks"],
        ["merchant/settlement", "Settlement"],
        ["", "Wallet"],
      ]
    : [
        ["", "Wallet"],
        ["pay", "Pay"],
        ["register", "Add a card"],
        ["history", "History"],
        ["merchant", "Merchant console"],
      ];
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    h(
      "ul",
      {},
      links.map(([target, label]) =>
        h(
          "li",
          {},
          h("a", { href: `#/${target}`, "aria-current": target === path ? "page" : null }, label),
        ),
      ),
    ),
  );
}

window.addEventListener("hashchange", route);
// A link to the screen already in the address bar (the nav's "Pay" after paying) starts it anew.
document.addEventListener("click", (event) => {
  const link = event.target.closest('a[href^="#/"]');
  if (link && link.getAttribute("href") === (location.hash || "#/")) {
    event.preventDefault();
    route();
  }
});
route();
