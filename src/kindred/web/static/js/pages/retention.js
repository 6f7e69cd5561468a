// Retention: the /retention report as a cohort heatmap, birth (first time) or compounded.

import { getJson } from "../api.js";
import {
  apiCall,
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
  percent,
  rangeProblem,
  Runs,
  select,
  show,
  table,
  today,
  uid,
} from "../ui.js";

const UNITS = [
  ["day", "Days"],
  ["week", "Weeks"],
];
const KINDS = [
  ["birth", "Birth: from the first time they did it"],
  ["compounded", "Compounded: from every time they did it"],
];

export async function render(main, ctx) {
  const q = ctx.query;
  const runs = new Runs(ctx.signal);
  const namesId = uid("event-names");
  const bornInput = h("input", {
    type: "text",
    name: "born_event",
    value: q.get("born") || "",
    list: namesId,
    autocomplete: "off",
  });
  const eventInput = h("input", {
    type: "text",
    name: "event",
    value: q.get("event") || "",
    list: namesId,
    placeholder: "Any event",
    autocomplete: "off",
  });
  const kind = q.get("kind") === "compounded" ? "compounded" : "birth";
  const kindRadios = KINDS.map(([value, label]) => {
    const input = h("input", {
      type: "radio",
      name: "retention_type",
      value,
      id: uid("kind"),
      checked: value === kind,
    });
    return h("div", { class: "check" }, input, h("label", { for: input.id }, label));
  });
  const unitSelect = select(UNITS, q.get("unit") || "day", { name: "unit" });
  const periodsInput = h("input", {
    type: "number",
    name: "periods",
    min: 1,
    max: 60,
    value: q.get("periods") || "7",
    inputmode: "numeric",
  });
  const fromInput = dateInput("from", q.get("from") || daysBefore(today(), 13));
  const toInput = dateInput("to", q.get("to") || today());
  const message = h("div", { class: "form-message" });
  const results = h("section", { class: "results", "aria-label": "Retention" });

  const form = h(
    "form",
    { class: "controls", novalidate: true },
    field("First event (the cohort's)", bornInput, "Who did this, and when, makes the cohorts."),
    field("Returning event", eventInput, "Empty: any event counts as coming back."),
    h("fieldset", { class: "field" }, h("legend", {}, "Cohorts"), kindRadios),
    field("Periods of", unitSelect),
    field("How many periods", periodsInput),
    field("From", fromInput),
    field("To", toInput),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show retention")),
    dataList(namesId, []),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  main.append(
    h("h1", {}, "Retention"),
    h(
      "p",
      { class: "lede" },
      "Of the people in each cohort, the share who came back in each later period.",
    ),
    form,
    message,
    results,
  );

  getJson("/api/query/events/names", { limit: 255 }, ctx.project.id, { signal: ctx.signal })
    .then((names) =>
      form
        .querySelector("datalist")
        .replaceChildren(...names.map((value) => h("option", { value }))),
    )
    .catch(() => {});

  async function run() {
    const chosenKind = form.querySelector("input[name=retention_type]:checked").value;
    const born = bornInput.value.trim();
    const problem =
      rangeProblem(fromInput.value, toInput.value) ||
      (chosenKind === "birth" && !born
        ? "Name the first event: birth retention starts from it."
        : null) ||
      (!(Number(periodsInput.value) >= 1) ? "Show at least one period." : null);
    if (problem) {
      show(message, errorState(new Error(problem), "Showing retention", { offerSignIn: false }));
      return;
    }
    show(message);
    const params = {
      born_event: born,
      event: eventInput.value.trim(),
      retention_type: chosenKind,
      unit: unitSelect.value,
      interval_count: periodsInput.value,
      from_date: fromInput.value,
      to_date: toInput.value,
    };
    ctx.setQuery({
      born,
      event: params.event,
      kind: chosenKind,
      unit: params.unit,
      periods: params.interval_count,
      from: params.from_date,
      to: params.to_date,
    });
    show(results, loading("Counting the cohorts…"));
    const signal = runs.start();
    try {
      const answer = await getJson("/api/query/retention", params, ctx.project.id, { signal });
      draw(results, answer, params);
    } catch (error) {
      if (error.name !== "AbortError") {
        show(results, errorState(error, "Counting retention"));
      }
    }
  }

  if (bornInput.value || q.get("kind") === "compounded") {
    await run();
  } else {
    show(results, emptyState("Name the first event, then show retention."));
  }
}

function draw(region, answer, params) {
  const cohorts = Object.entries(answer);
  const call = apiCall("/api/query/retention", params);
  if (cohorts.every(([, cohort]) => cohort.first === 0)) {
    show(
      region,
      emptyState(`Nobody entered a cohort from ${params.from_date} to ${params.to_date}.`),
      call,
    );
    return;
  }
  const people = cohorts.reduce((sum, [, cohort]) => sum + cohort.first, 0);
  const unit = params.unit === "week" ? "Week" : "Day";
  const periods = cohorts[0][1].counts.length;
  const headers = [
    "Cohort",
    "People",
    ...Array.from({ length: periods }, (_, i) => `${unit} ${i}`),
  ];
  const rows = cohorts.map(([date, cohort]) => [
    date,
    num(count(cohort.first)),
    ...cohort.counts.map((n) => heatCell(n, cohort.first)),
  ]);
  show(
    region,
    h(
      "p",
      { class: "summary" },
      `${count(people)} people in ${cohorts.length} cohorts. `,
      "Each cell: the share of the cohort back in that period, and how many.",
    ),
    table("Retention by cohort", headers, rows, { className: "heatmap" }),
    call,
  );
  // The cells' shade, set through the CSS object model (the page allows no inline styles).
  for (const cell of region.querySelectorAll("td[data-share]")) {
    cell.style.setProperty("--share", cell.dataset.share);
  }
}

function heatCell(n, first) {
  if (first === 0) {
    return num("—", { class: "heat empty-cell" });
  }
  const share = n / first;
  const content = h(
    "span",
    {},
    h("span", { class: "share" }, percent(share)),
    h("span", { class: "count" }, count(n)),
  );
  return num(content, {
    class: share >= 0.5 ? "heat strong" : "heat",
    "data-share": share.toFixed(3),
    title: `${count(n)} of ${count(first)}`,
  });
}
