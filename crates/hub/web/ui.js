// Small DOM helpers shared by the screens. Text goes in as text nodes, never as HTML, so a name
// or a reference from the hub cannot inject markup.

/** h("button", {type: "submit", onclick}, "Pay") → an element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let nextId = 0;

/** A labelled form control: `input` gets an id the label points at; `hint` is described-by. */
export function field(label, input, hint) {
  const id = input.id || `f${++nextId}`;
  input.id = id;
  const parts = [h("label", { for: id }, label), input];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// Each route change starts a new screen; work that finishes after the person has moved on
// (a slow answer, a polling loop) must not take over the screen they are on now.
let screenCount = 0;

/** Called by the router for each route change. */
export function nextScreen() {
  screenCount += 1;
}

/** A token for the screen showing now: `current(token)` stays true while it shows. */
export function screen() {
  return screenCount;
}

export function current(token) {
  return token === screenCount;
}

/** `show`, unless the screen of `token` has been left. */
export function showIf(token, ...children) {
  if (current(token)) show(...children);
}

/** Replaces the main area with `children` and moves focus to its heading (for screen readers). */
export function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren();
  append(main, children);
  const heading = main.querySelector("h1, h2");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

/** An error as the person sees it: what happened, what to do, and the stable code to quote. */
export function errorBox(error) {
  const parts = [h("p", {}, error.message || String(error))];
  if (error.details && Array.isArray(error.details.fields)) {
    parts.push(h("p", {}, `Fields: ${error.details.fields.join(", ")}`));
  }
  const meta = [`Code: ${error.code || "unexpected_error"}`];
  if (error.requestId) meta.push(`request ${error.requestId}`);
  parts.push(h("p", { class: "code" }, meta.join(" · ")));
  return h("div", { class: "error", role: "alert", "data-code": error.code || "" }, parts);
}

/**
 * Shows `text` in the live region for a few seconds. The region is always in the page (screen
 * readers ignore a live region that appears already filled); it is emptied first and filled a
 * moment later so the same text twice is read twice.
 */
export function announce(text) {
  const region = document.getElementById("notice");
  region.textContent = "";
  region.classList.remove("shown");
  setTimeout(() => {
    region.textContent = text;
    region.classList.add("shown");
  }, 50);
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => {
    region.classList.remove("shown");
    region.textContent = "";
  }, 6000);
}

/** The form's message slot (made on first use), at its end. */
function slotOf(form) {
  return form.querySelector(".slot") || form.appendChild(h("div", { class: "slot" }));
}

/** Shows `error` ({code, message}) in the form's message slot, replacing what was there. */
export function formError(form, error) {
  slotOf(form).replaceChildren(errorBox(error));
}

/**
 * Runs `work` for a form: disables its buttons, shows `busyText` with a progress indicator,
 * and shows the error (if any) in the form's error slot, unless `onError` takes it over.
 * Returns what `work` returned, or null.
 */
export async function submitting(form, busyText, work, { onError } = {}) {
  const buttons = [...form.querySelectorAll("button")];
  const slot = slotOf(form);
  slot.replaceChildren(
    h("p", { class: "busy", role: "status" }, h("progress", { "aria-label": busyText }), " ", busyText),
  );
  buttons.forEach((b) => (b.disabled = true));
  try {
    const result = await work();
    slot.replaceChildren();
    return result;
  } catch (error) {
    // `onError` may take the error over (say, to show the payment it names); true if it did.
    if (onError && onError(error)) slot.replaceChildren();
    else slot.replaceChildren(errorBox(error));
    return null;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

export function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
