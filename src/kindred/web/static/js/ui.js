// Building blocks of the pages: DOM construction, form fields, tables, the loading, empty and
// error states every report shares, and the formatting of numbers, dates and durations.

import { apiUrl } from "./api.js";

const DAY_MS = 86_400_000;
// Set as DOM properties; every other prop becomes an attribute.
const PROPERTIES = new Set(["value", "checked", "selected", "disabled", "hidden", "open"]);
let lastId = 0;

export function uid(prefix = "k") {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

// h("button", {type: "button", onclick: f}, "Label"): an element, its props and its children.
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name.startsWith("on")) {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (PROPERTIES.has(name)) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  element.append(...flatten(children));
  return element;
}

function flatten(children) {
  return children
    .flat(Infinity)
    .filter((child) => child !== null && child !== undefined && child !== false)
    .map((child) => (child instanceof Node ? child : String(child)));
}

// -- States ---------------------------------------------------------------------------------

export function loading(text = "Loading…") {
  return h("p", { class: "status", role: "status" }, h("span", { class: "spinner" }), text);
}

export function emptyState(text) {
  return h("p", { class: "empty" }, text);
}

// An error in words: what failed, the server's own sentence, and what to do next.
export function errorState(error, what, { offerSignIn = true } = {}) {
  const message = error && error.message ? error.message : String(error);
  const box = h(
    "div",
    { class: "error", role: "alert" },
    h("p", {}, h("strong", {}, `${what} failed. `), message),
  );
  if (offerSignIn && error && error.status === 401) {
    box.append(h("p", {}, h("a", { href: "#/sign-in" }, "Sign in to this project again")));
  }
  return box;
}

// One run of a report at a time: starting a run aborts the one before it (so a late answer never
// replaces a newer one), and leaving the page aborts the last.
export class Runs {
  constructor(pageSignal) {
    this.current = null;
    pageSignal.addEventListener("abort", () => this.current && this.current.abort());
  }

  start() {
    if (this.current) {
      this.current.abort();
    }
    this.current = new AbortController();
    return this.current.signal;
  }
}

// Replace what `region` shows; returns its new content.
export function show(region, ...content) {
  region.replaceChildren(...flatten(content));
  return content[0];
}

// -- Forms ----------------------------------------------------------------------------------

export function field(label, control, hint = null) {
  if (!control.id) {
    control.id = uid("field");
  }
  let hintElement = null;
  if (hint) {
    hintElement = h("small", { class: "hint", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintElement.id);
  }
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintElement);
}

// <select> from [value, label] pairs (or plain strings).
export function select(options, value, props = {}) {
  return h(
    "select",
    props,
    options.map((option) => {
      const [optionValue, label] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: optionValue, selected: optionValue === value }, label);
    }),
  );
}

export function dataList(id, values) {
  return h(
    "datalist",
    { id },
    values.map((value) => h("option", { value })),
  );
}

export function dateInput(name, value) {
  return h("input", { type: "date", name, value, required: true, max: today() });
}

// Check a from/to pair; a sentence for the person, or null when it is fine.
export function rangeProblem(from, to) {
  if (!from || !to) {
    return "Choose both dates.";
  }
  if (from > to) {
    return "The start date is after the end date.";
  }
  return null;
}

// -- Results --------------------------------------------------------------------------------

// A table in a scrolling region (reachable by keyboard), `rows` of cells: text, nodes or
// {content, numeric, class}.
export function table(caption, headers, rows, { className = "" } = {}) {
  const cell = (tag, value, extra = {}) => {
    if (value !== null && typeof value === "object" && !(value instanceof Node)) {
      const { content, numeric, ...attributes } = value;
      return h(tag, { ...extra, ...attributes, class: cls(numeric, attributes.class) }, content);
    }
    return h(tag, extra, value);
  };
  const head = h(
    "tr",
    {},
    headers.map((header) => cell("th", header, { scope: "col" })),
  );
  const body = rows.map((row) =>
    h(
      "tr",
      {},
      row.map((value, i) => cell(i === 0 ? "th" : "td", value, i === 0 ? { scope: "row" } : {})),
    ),
  );
  const captionId = uid("caption");
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-labelledby": captionId, tabindex: 0 },
    h(
      "table",
      { class: className },
      h("caption", { id: captionId }, caption),
      h("thead", {}, head),
      h("tbody", {}, body),
    ),
  );
}

function cls(numeric, extra) {
  return [numeric ? "num" : "", extra || ""].join(" ").trim() || null;
}

export function num(content, props = {}) {
  return { content, numeric: true, ...props };
}

// The call behind a report, as a script would make it with the project secret.
export function apiCall(path, params) {
  const url = apiUrl(path, params);
  const command = `curl -u "$SECRET:" '${location.origin}${url}'`;
  return h(
    "details",
    { class: "api-call", "data-api-url": url },
    h("summary", {}, "The same numbers from a script"),
    h(
      "p",
      {},
      "This report is this Query API call; with the project secret a script gets the same answer:",
    ),
    h("pre", {}, h("code", {}, command)),
  );
}

// A canvas for a chart, described for screen readers (its numbers are in a table beside it).
export function chartBox(label) {
  const canvas = h("canvas", { role: "img", "aria-label": label });
  return { box: h("div", { class: "chart" }, canvas), canvas };
}

// A modal question; resolves true when `confirm` is chosen. Esc and Cancel resolve false.
export function confirmDialog({ title, body, confirm, cancel = "Cancel" }) {
  return new Promise((resolve) => {
    const titleId = uid("dialog");
    const cancelButton = h("button", { type: "button", class: "secondary" }, cancel);
    const confirmButton = h("button", { type: "button", class: "danger" }, confirm);
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title),
      h("p", {}, body),
      h("div", { class: "actions" }, cancelButton, confirmButton),
    );
    let answer = false;
    cancelButton.addEventListener("click", () => dialog.close());
    confirmButton.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}

// -- Formatting -----------------------------------------------------------------------------

const integers = new Intl.NumberFormat("en-US");
const decimals = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

export function count(n) {
  return Number.isInteger(n) ? integers.format(n) : decimals.format(n);
}

export function percent(ratio) {
  return `${(ratio * 100).toFixed(1)}%`;
}

// "2026-12-03 19:40:26", in UTC: for a column headed "(UTC)".
export function utcTime(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

export function dateTime(ms) {
  return `${utcTime(ms)} UTC`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) {
    return "—";
  }
  if (seconds < 60) {
    return `${seconds} s`;
  }
  if (seconds < 3600) {
    return `${Math.round(seconds / 60)} min`;
  }
  if (seconds < 86_400) {
    return `${(seconds / 3600).toFixed(1)} h`;
  }
  return `${(seconds / 86_400).toFixed(1)} days`;
}

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function today() {
  return isoDay(new Date());
}

export function daysBefore(day, n) {
  return isoDay(new Date(Date.parse(`${day}T00:00:00Z`) - n * DAY_MS));
}

// The days from `from` to `to`, both included.
export function daysBetween(from, to) {
  return Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS) + 1;
}

export function dayList(from, to) {
  const start = Date.parse(`${from}T00:00:00Z`);
  return Array.from({ length: daysBetween(from, to) }, (_, i) =>
    isoDay(new Date(start + i * DAY_MS)),
  );
}

// `properties["name"]`: Mixpanel's expression for an event property, quoted safely.
export function propertyExpression(name) {
  return `properties[${JSON.stringify(name)}]`;
}
