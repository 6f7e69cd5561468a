// Events: the latest events of a day from the export API, each under the person it resolves to
// now; live, it asks the export again for what came after the last one shown.

import { getJson, readExport } from "../api.js";
import {
  apiCall,
  count,
  dataList,
  dateInput,
  emptyState,
  errorState,
  field,
  h,
  loading,
  show,
  table,
  today,
  uid,
  utcTime,
} from "../ui.js";

const SHOWN = 100;
const POLL_MS = 5000;

export async function render(main, ctx) {
  const day = ctx.query.get("day") || today();
  const name = ctx.query.get("event") || "";
  const isLive = ctx.query.get("live") !== "0";

  const namesId = uid("event-names");
  const eventInput = h("input", {
    type: "search",
    name: "event",
    value: name,
    list: namesId,
    placeholder: "All events",
  });
  const dayInput = dateInput("day", day);
  const liveBox = h("input", { type: "checkbox", name: "live", checked: isLive, id: uid("live") });
  const form = h(
    "form",
    { class: "controls", onsubmit: (event) => submit(event) },
    field("Event", eventInput, "Leave empty for every event."),
    field("Day (UTC)", dayInput),
    h(
      "div",
      { class: "field check" },
      liveBox,
      h("label", { for: liveBox.id }, "Live: check every 5 seconds"),
    ),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show events")),
    dataList(namesId, []),
  );
  const results = h("section", { class: "results", "aria-label": "Events" });
  main.append(
    h("h1", {}, "Events"),
    h("p", { class: "lede" }, "The latest events, each under the person it resolves to now."),
    form,
    results,
  );

  getJson("/api/query/events/names", { limit: 255 }, ctx.project.id, { signal: ctx.signal })
    .then((names) =>
      form
        .querySelector("datalist")
        .replaceChildren(...names.map((value) => h("option", { value }))),
    )
    .catch(() => {}); // suggestions only: the field takes any name

  let feed = null;
  function submit(event) {
    event.preventDefault();
    const params = {
      day: dayInput.value || today(),
      event: eventInput.value.trim(),
      live: liveBox.checked ? null : "0",
    };
    ctx.setQuery(params);
    if (feed) {
      feed.stop();
    }
    feed = new Feed(ctx, results, params);
    feed.start();
  }

  feed = new Feed(ctx, results, { day, event: name, live: isLive ? null : "0" });
  ctx.signal.addEventListener("abort", () => feed.stop());
  await feed.start();
}

// The events of one day: the last SHOWN kept, the rest counted.
class Feed {
  constructor(ctx, region, { day, event, live }) {
    this.ctx = ctx;
    this.region = region;
    this.day = day;
    this.event = event;
    this.isLive = live !== "0" && day === today();
    this.events = [];
    this.total = 0;
    this.lastMs = null;
    this.seenAtLast = new Set();
    this.timer = null;
    this.stopped = false;
    this.controller = new AbortController();
    this.updated = null;
  }

  params(where) {
    return {
      from_date: this.day,
      to_date: this.day,
      event: this.event ? JSON.stringify([this.event]) : null,
      time_in_ms: "true",
      where,
    };
  }

  async start() {
    show(this.region, loading(`Reading the events of ${this.day}…`));
    try {
      await readExport(this.params(null), this.ctx.project.id, (e) => this.add(e), {
        signal: this.controller.signal,
      });
    } catch (error) {
      if (error.name !== "AbortError") {
        show(this.region, errorState(error, "Reading the events"));
      }
      return;
    }
    if (this.stopped) {
      return;
    }
    this.updated = new Date();
    this.draw();
    this.schedule();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.controller.abort();
  }

  schedule() {
    if (this.isLive && !this.stopped) {
      this.timer = setTimeout(() => this.poll(), POLL_MS);
    }
  }

  // What came since the last event shown: at its time or later, less the ones already seen.
  async poll() {
    if (document.hidden) {
      this.schedule();
      return;
    }
    const where = this.lastMs === null ? null : `properties["time"] >= ${this.lastMs / 1000}`;
    const before = this.total;
    try {
      await readExport(this.params(where), this.ctx.project.id, (e) => this.add(e), {
        signal: this.controller.signal,
      });
      if (this.stopped) {
        return;
      }
      this.updated = new Date();
      if (this.total !== before || this.lastMs === null) {
        this.draw();
      } else {
        this.region.querySelector(".updated").textContent = updatedText(this.updated);
      }
    } catch (error) {
      if (error.name === "AbortError") {
        return;
      }
      this.region.querySelector(".updated").textContent =
        `Could not check for new events: ${error.message}`;
    }
    this.schedule();
  }

  add(event) {
    const time = event.properties.time;
    const key = JSON.stringify(event);
    if (time === this.lastMs && this.seenAtLast.has(key)) {
      return;
    }
    if (time !== this.lastMs) {
      this.lastMs = time;
      this.seenAtLast = new Set();
    }
    this.seenAtLast.add(key);
    this.total += 1;
    this.events.push(event);
    if (this.events.length > SHOWN) {
      this.events.shift();
    }
  }

  draw() {
    const what = this.event ? `“${this.event}” events` : "events";
    const status = h("p", { class: "updated" }, this.isLive ? updatedText(this.updated) : "");
    if (this.total === 0) {
      show(
        this.region,
        emptyState(
          `No ${what} on ${this.day} (UTC).${this.isLive ? " New ones will show here as they arrive." : ""}`,
        ),
        status,
        apiCall("/api/2.0/export", this.params(null)),
      );
      return;
    }
    const shown =
      this.events.length < this.total ? `the latest ${count(this.events.length)} of ` : "";
    const rows = [...this.events].reverse().map((e) => row(this.ctx, e));
    show(
      this.region,
      h(
        "p",
        { class: "summary" },
        `Showing ${shown}${count(this.total)} ${what} on ${this.day}, newest first.`,
      ),
      status,
      table(`Events on ${this.day}`, ["Time (UTC)", "Event", "Person"], rows, {
        className: "events",
      }),
      apiCall("/api/2.0/export", this.params(null)),
    );
  }
}

function updatedText(when) {
  return `Live. Last checked ${when.toISOString().slice(11, 19)} UTC.`;
}

function row(ctx, event) {
  const p = event.properties;
  const person = p.distinct_id
    ? h("a", { href: ctx.url("users", { id: p.distinct_id }) }, p.distinct_id)
    : h("span", { class: "muted" }, "no distinct_id");
  const notes = [];
  if (p.$distinct_id_before_identity) {
    notes.push(h("small", { class: "muted" }, `sent as ${p.$distinct_id_before_identity}`));
  }
  const refusal = p.$failure_reason || p.$identity_failure_reason;
  if (refusal) {
    notes.push(
      h(
        "small",
        { class: "badge warn", title: p.$failure_description || "" },
        `identity refused: ${refusal}`,
      ),
    );
  }
  return [utcTime(p.time), event.event, h("div", { class: "person" }, person, notes)];
}
