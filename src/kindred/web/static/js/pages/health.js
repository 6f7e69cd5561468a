// Identity health: refused identity inputs by reason over time, and the largest clusters against
// the size cap, from the identity API's /refusals and /clusters.

import { getJson } from "../api.js";
import { ChartSlot, stackedBars } from "../charts.js";
import {
  apiCall,
  chartBox,
  count,
  dateInput,
  dayList,
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
  show,
  table,
  today,
} from "../ui.js";

const IDENTITY_API = "/api/kindred/identity";
const CLUSTERS = 20;
// What Mixpanel's refusal codes mean, in a sentence each.
const REASONS = {
  errSameIDs: "Both ids were the same.",
  errAnonDistinctIdNonGUIDForm: "The anonymous id is not a UUID, which Original ID Merge requires.",
  errAnonDistinctIdAssignedAlready:
    "The anonymous id already belongs to another identified person.",
  errManyIDs: "The merge would take the cluster past its size cap.",
  errAliasAlreadyExists: "The alias already points at another id.",
  errAliasCycle: "The alias would make the alias table loop back on itself.",
};

export async function render(main, ctx) {
  const chart = new ChartSlot(ctx.signal);
  const runs = new Runs(ctx.signal);
  const fromInput = dateInput("from", ctx.query.get("from") || daysBefore(today(), 29));
  const toInput = dateInput("to", ctx.query.get("to") || today());
  const message = h("div", { class: "form-message" });
  const refusals = h("section", { class: "results", "aria-labelledby": "refusals-title" });
  const clusters = h("section", { class: "results", "aria-labelledby": "clusters-title" });
  const form = h(
    "form",
    { class: "controls", novalidate: true },
    field("From", fromInput),
    field("To", toInput),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show refusals")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadRefusals();
  });
  main.append(
    h("h1", {}, "Identity health"),
    h(
      "p",
      { class: "lede" },
      "Which identity inputs kindred refused, and why; and how close the largest clusters are to the cap.",
    ),
    h("h2", { id: "refusals-title" }, "Refused identity inputs"),
    form,
    message,
    refusals,
    h("h2", { id: "clusters-title" }, "Largest clusters"),
    clusters,
  );

  async function loadRefusals() {
    const problem = rangeProblem(fromInput.value, toInput.value);
    if (problem) {
      show(message, errorState(new Error(problem), "Showing refusals", { offerSignIn: false }));
      return;
    }
    show(message);
    const range = { from: fromInput.value, to: toInput.value };
    ctx.setQuery(range);
    chart.clear();
    show(refusals, loading("Counting refusals…"));
    const signal = runs.start();
    try {
      const params = { by_day: "true" };
      const answer = await getJson(`${IDENTITY_API}/refusals`, params, ctx.project.id, { signal });
      drawRefusals(refusals, chart, answer, range);
    } catch (error) {
      if (error.name !== "AbortError") {
        show(refusals, errorState(error, "Counting refusals"));
      }
    }
  }

  await Promise.all([loadRefusals(), loadClusters(ctx, clusters)]);
}

function drawRefusals(region, chart, answer, range) {
  const call = apiCall(`${IDENTITY_API}/refusals`, { by_day: "true" });
  if (answer.total === 0) {
    show(
      region,
      emptyState("No identity input is refused: every $identify, alias and merge was applied."),
      call,
    );
    return;
  }
  const days = dayList(range.from, range.to);
  const codes = Object.keys(answer.by_code);
  const inRange = days.reduce(
    (sum, day) => sum + Object.values(answer.by_day[day] || {}).reduce((a, b) => a + b, 0),
    0,
  );
  const series = codes.map((code) => ({
    label: code,
    data: days.map((day) => (answer.by_day[day] || {})[code] || 0),
  }));
  const { box, canvas } = chartBox(
    `Refused identity inputs per day, by reason, ${range.from} to ${range.to}`,
  );
  const byCode = codes.map((code) => [
    h("code", {}, code),
    REASONS[code] || "",
    num(count(answer.by_code[code])),
  ]);
  const byDay = days
    .filter((day) => answer.by_day[day])
    .map((day) => [day, ...codes.map((code) => num(count((answer.by_day[day] || {})[code] || 0)))]);
  show(
    region,
    h(
      "p",
      { class: "summary" },
      `${count(answer.total)} identity ${answer.total === 1 ? "input is" : "inputs are"} refused now, `,
      `${count(inRange)} of them sent from ${range.from} to ${range.to}. `,
      "Counted as the identity engine sees them now: a later input can lift a refusal or add one.",
    ),
    box,
    table("Refused now, by reason", ["Code", "Meaning", "Inputs"], byCode),
    byDay.length
      ? h(
          "details",
          {},
          h("summary", {}, "Refusals per day, as a table"),
          table("Refused inputs per day (UTC)", ["Day", ...codes], byDay),
        )
      : emptyState(`None of them was sent from ${range.from} to ${range.to}.`),
    call,
  );
  chart.draw(canvas, stackedBars(days, series));
}

async function loadClusters(ctx, region) {
  show(region, loading("Finding the largest clusters…"));
  try {
    const largest = await getJson(`${IDENTITY_API}/clusters`, { limit: CLUSTERS }, ctx.project.id, {
      signal: ctx.signal,
    });
    drawClusters(ctx, region, largest);
  } catch (error) {
    if (error.name !== "AbortError") {
      show(region, errorState(error, "Finding the largest clusters"));
    }
  }
}

function drawClusters(ctx, region, largest) {
  const call = apiCall(`${IDENTITY_API}/clusters`, { limit: CLUSTERS });
  if (largest.length === 0) {
    show(region, emptyState("No two ids have been joined yet: every person has one id."), call);
    return;
  }
  const cap = largest[0].cap;
  const rows = largest.map((c) => [
    h("a", { href: ctx.url("users", { id: c.canonical_id }) }, c.canonical_id),
    num(count(c.size)),
    cap === null ? "—" : capCell(c.size, cap),
  ]);
  const capText =
    cap === null
      ? `Clusters have no size cap in ${ctx.project.identity_mode} mode; only Original ID Merge caps them.`
      : `Original ID Merge refuses a merge that would take a cluster past ${count(cap)} ids (errManyIDs).`;
  show(
    region,
    h("p", { class: "summary" }, capText),
    table(
      `The ${largest.length} largest clusters`,
      ["Canonical id", "Ids", "Against the cap"],
      rows,
      { className: "clusters" },
    ),
    call,
  );
}

function capCell(size, cap) {
  const label = `${count(size)} of ${count(cap)} (${percent(size / cap)})`;
  return h(
    "span",
    { class: "cap" },
    h("meter", { min: 0, max: cap, value: size, high: cap * 0.8, "aria-label": label }),
    label,
  );
}
