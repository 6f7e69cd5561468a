// Insights: the /segmentation report of one event, by day or week, as lines, with a breakdown.

import { getJson } from "../api.js";
import { ChartSlot, lines } from "../charts.js";
import {
  apiCall,
  chartBox,
  count,
  dataList,
  dateInput,
  daysBefore,
  emptyState,
  errorState,
  field,
  h,
  loading,
  num,
  propertyExpression,
  rangeProblem,
  Runs,
  select,
  show,
  table,
  today,
  uid,
} from "../ui.js";

const MEASURES = [
  ["general", "Total events"],
  ["unique", "Unique people"],
  ["average", "Events per person"],
];
const UNITS = [
  ["day", "Day"],
  ["week", "Week"],
];
const SEGMENTS = 10;

export async function render(main, ctx) {
  const q = ctx.query;
  const chart = new ChartSlot(ctx.signal);
  const runs = new Runs(ctx.signal);
  const namesId = uid("event-names");
  const propertiesId = uid("properties");
  const eventInput = h("input", {
    type: "text",
    name: "event",
    value: q.get("event") || "",
    list: namesId,
    required: true,
    autocomplete: "off",
  });
  const measureSelect = select(MEASURES, q.get("type") || "general", { name: "type" });
  const unitSelect = select(UNITS, q.get("unit") || "day", { name: "unit" });
  const byInput = h("input", {
    type: "search",
    name: "by",
    value: q.get("by") || "",
    list: propertiesId,
    placeholder: "No breakdown",
  });
  const fromInput = dateInput("from", q.get("from") || daysBefore(today(), 29));
  const toInput = dateInput("to", q.get("to") || today());
  const message = h("div", { class: "form-message" });
  const results = h("section", { class: "results", "aria-label": "Insights" });

  const form = h(
    "form",
    { class: "controls", novalidate: true },
    field("Event", eventInput),
    field("Measure", measureSelect),
    field("By", unitSelect),
    field("Break down by", byInput, "Optional: a property of the event."),
    field("From", fromInput),
    field("To", toInput),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show")),
    dataList(namesId, []),
    dataList(propertiesId, []),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  eventInput.addEventListener("change", () => loadProperties());
  main.append(
    h("h1", {}, "Insights"),
    h("p", { class: "lede" }, "How often an event happens over time, and by whom."),
    form,
    message,
    results,
  );

  const opts = { signal: ctx.signal };
  getJson("/api/query/events/names", { limit: 255 }, ctx.project.id, opts)
    .then((names) =>
      document
        .getElementById(namesId)
        .replaceChildren(...names.map((value) => h("option", { value }))),
    )
    .catch(() => {});

  function loadProperties() {
    const event = eventInput.value.trim();
    if (!event) {
      return;
    }
    getJson("/api/query/events/properties/top", { event, limit: 50 }, ctx.project.id, opts)
      .then((found) =>
        document
          .getElementById(propertiesId)
          .replaceChildren(...Object.keys(found).map((value) => h("option", { value }))),
      )
      .catch(() => {});
  }

  async function run() {
    const event = eventInput.value.trim();
    const problem =
      (!event ? "Name the event to count." : null) || rangeProblem(fromInput.value, toInput.value);
    if (problem) {
      show(message, errorState(new Error(problem), "Showing the insight", { offerSignIn: false }));
      return;
    }
    show(message);
    const by = byInput.value.trim();
    const params = {
      event,
      type: measureSelect.value,
      unit: unitSelect.value,
      on: by ? propertyExpression(by) : null,
      from_date: fromInput.value,
      to_date: toInput.value,
      limit: SEGMENTS,
    };
    ctx.setQuery({
      event,
      type: params.type,
      unit: params.unit,
      by,
      from: params.from_date,
      to: params.to_date,
    });
    chart.clear();
    show(results, loading("Counting…"));
    const signal = runs.start();
    try {
      const answer = await getJson("/api/query/segmentation", params, ctx.project.id, { signal });
      draw(answer, params);
    } catch (error) {
      if (error.name !== "AbortError") {
        show(results, errorState(error, "Counting the event"));
      }
    }
  }

  function draw(answer, params) {
    const labels = answer.data.series;
    const series = Object.entries(answer.data.values).map(([name, values]) => ({
      label: name,
      data: labels.map((label) => values[label] ?? 0),
    }));
    const call = apiCall("/api/query/segmentation", params);
    if (series.length === 0 || series.every((s) => s.data.every((v) => v === 0))) {
      show(
        results,
        emptyState(`No “${params.event}” events from ${params.from_date} to ${params.to_date}.`),
        call,
      );
      return;
    }
    const measure = MEASURES.find(([value]) => value === params.type)[1];
    const { box, canvas } = chartBox(
      `${measure} of ${params.event} per ${params.unit}, ${params.from_date} to ${params.to_date}`,
    );
    const rows = labels.map((label, i) => [label, ...series.map((s) => num(count(s.data[i])))]);
    const headers = [params.unit === "week" ? "Week of" : "Day", ...series.map((s) => s.label)];
    show(
      results,
      h(
        "p",
        { class: "summary" },
        `${measure} of “${params.event}” per ${params.unit}${params.on ? `, by ${byInput.value.trim()}` : ""}.`,
      ),
      box,
      h(
        "details",
        { class: "numbers" },
        h("summary", {}, "The numbers, as a table"),
        table(`${measure} per ${params.unit}`, headers, rows, { className: "series" }),
      ),
      call,
    );
    chart.draw(canvas, lines(labels, series, { integers: params.type !== "average" }));
  }

  loadProperties();
  if (eventInput.value) {
    await run();
  } else {
    show(results, emptyState("Name an event, then show it over time."));
  }
}
