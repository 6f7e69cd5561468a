// Funnels: steps, a conversion window, a date range and a breakdown, answered by the /funnels
// report over the whole range as one bucket; funnels are saved and reopened by id.

import { getJson } from "../api.js";
import { ChartSlot, funnelBars, groupedBars } from "../charts.js";
import {
  apiCall,
  chartBox,
  count,
  dataList,
  dateInput,
  daysBefore,
  daysBetween,
  duration,
  emptyState,
  errorState,
  field,
  h,
  loading,
  num,
  percent,
  propertyExpression,
  rangeProblem,
  Runs,
  select,
  show,
  table,
  today,
  uid,
} from "../ui.js";

const WINDOW_UNITS = [
  ["minute", "minutes"],
  ["hour", "hours"],
  ["day", "days"],
];
const DEFAULT_LENGTH = "7";
const SEGMENTS_CHARTED = 6;

export async function render(main, ctx) {
  const q = ctx.query;
  const page = new FunnelPage(ctx, {
    steps: q.getAll("step").length >= 2 ? q.getAll("step") : ["", ""],
    from: q.get("from") || daysBefore(today(), 29),
    to: q.get("to") || today(),
    length: q.get("length") ?? (q.get("funnel") ? "" : DEFAULT_LENGTH),
    unit: q.get("unit") || "day",
    by: q.get("by") || "",
    funnel: q.get("funnel"),
  });
  main.append(...page.elements());
  await Promise.all([page.loadSuggestions(), page.loadSaved(), page.runFromAddress()]);
}

class FunnelPage {
  constructor(ctx, initial) {
    this.ctx = ctx;
    this.steps = initial.steps;
    this.savedId = initial.funnel;
    this.chart = new ChartSlot(ctx.signal);
    this.runs = new Runs(ctx.signal);
    this.namesId = uid("event-names");
    this.propertiesId = uid("properties");

    this.stepList = h("ol", { class: "steps" });
    this.lengthInput = h("input", {
      type: "number",
      name: "length",
      min: 1,
      value: initial.length,
      inputmode: "numeric",
    });
    this.unitSelect = select(WINDOW_UNITS, initial.unit, { name: "length_unit" });
    this.fromInput = dateInput("from", initial.from);
    this.toInput = dateInput("to", initial.to);
    this.byInput = h("input", {
      type: "search",
      name: "by",
      value: initial.by,
      list: this.propertiesId,
      placeholder: "No breakdown",
    });
    this.formMessage = h("div", { class: "form-message" });
    this.savedSelect = h("select", { name: "funnel" });
    this.nameInput = h("input", { type: "text", name: "name", autocomplete: "off" });
    this.savedMessage = h("div", { class: "form-message", "aria-live": "polite" });
    this.results = h("section", { class: "results", "aria-label": "Funnel" });
    this.drawSteps();
    this.showWindowMode();
  }

  elements() {
    const form = h(
      "form",
      { class: "funnel-form", onsubmit: (e) => this.submit(e), novalidate: true },
      h(
        "fieldset",
        {},
        h("legend", {}, "Steps, in order"),
        this.stepList,
        h(
          "button",
          { type: "button", class: "secondary", onclick: () => this.addStep() },
          "Add a step",
        ),
      ),
      h(
        "div",
        { class: "controls" },
        h(
          "div",
          { class: "field window" },
          field("Conversion window", this.lengthInput),
          field("Window unit", this.unitSelect),
        ),
        field("From", this.fromInput),
        field("To", this.toInput),
        field("Break down by", this.byInput, "Optional: a property of the first step's event."),
        h("div", { class: "field" }, h("button", { type: "submit" }, "Show funnel")),
      ),
      dataList(this.namesId, []),
      dataList(this.propertiesId, []),
      this.formMessage,
    );
    const saved = h(
      "section",
      { class: "card saved", "aria-label": "Saved funnels" },
      h(
        "div",
        { class: "saved-forms" },
        h(
          "form",
          { class: "controls", onsubmit: (e) => this.open(e) },
          field("Saved funnel", this.savedSelect),
          h("div", { class: "field" }, h("button", { type: "submit", class: "secondary" }, "Open")),
        ),
        h(
          "form",
          { class: "controls", onsubmit: (e) => this.save(e), novalidate: true },
          field("Name for these steps", this.nameInput),
          h(
            "div",
            { class: "field" },
            h("button", { type: "submit", class: "secondary" }, "Save funnel"),
          ),
        ),
      ),
      this.savedMessage,
    );
    return [
      h("h1", {}, "Funnels"),
      h(
        "p",
        { class: "lede" },
        "Who did these events in order, within the window, counted once per person.",
      ),
      saved,
      form,
      this.results,
    ];
  }

  // -- Steps ---------------------------------------------------------------------------------

  drawSteps() {
    const items = this.steps.map((name, i) => {
      const input = h("input", {
        type: "text",
        value: name,
        list: this.namesId,
        required: true,
        autocomplete: "off",
      });
      input.addEventListener("input", () => {
        this.steps[i] = input.value;
        this.edited();
      });
      if (i === 0) {
        input.addEventListener("change", () => this.loadProperties());
      }
      const remove = h(
        "button",
        {
          type: "button",
          class: "secondary small",
          "aria-label": `Remove step ${i + 1}`,
          disabled: this.steps.length <= 2,
        },
        "Remove",
      );
      remove.addEventListener("click", () => this.removeStep(i));
      return h("li", {}, field(`Step ${i + 1}`, input), remove);
    });
    this.stepList.replaceChildren(...items);
  }

  addStep() {
    this.steps.push("");
    this.edited();
    this.drawSteps();
    this.stepList.querySelector("li:last-child input").focus();
  }

  removeStep(i) {
    this.steps.splice(i, 1);
    this.edited();
    this.drawSteps();
    this.stepList.querySelectorAll("input")[Math.min(i, this.steps.length - 1)].focus();
  }

  // Steps changed: this is no longer the saved funnel, but a funnel of its own.
  edited() {
    if (this.savedId !== null) {
      this.savedId = null;
      this.savedSelect.value = "";
      if (!this.lengthInput.value) {
        this.lengthInput.value = DEFAULT_LENGTH;
      }
      this.showWindowMode();
    }
  }

  showWindowMode() {
    this.lengthInput.placeholder = this.savedId === null ? DEFAULT_LENGTH : "as saved";
  }

  // -- Suggestions and saved funnels ---------------------------------------------------------

  async loadSuggestions() {
    try {
      const names = await getJson("/api/query/events/names", { limit: 255 }, this.ctx.project.id, {
        signal: this.ctx.signal,
      });
      document
        .getElementById(this.namesId)
        .replaceChildren(...names.map((value) => h("option", { value })));
    } catch (error) {
      // Suggestions only: any event name may be typed.
    }
    await this.loadProperties();
  }

  async loadProperties() {
    const first = this.steps[0].trim();
    if (!first) {
      return;
    }
    try {
      const found = await getJson(
        "/api/query/events/properties/top",
        { event: first, limit: 50 },
        this.ctx.project.id,
        {
          signal: this.ctx.signal,
        },
      );
      document
        .getElementById(this.propertiesId)
        .replaceChildren(...Object.keys(found).map((value) => h("option", { value })));
    } catch (error) {
      // Suggestions only.
    }
  }

  async loadSaved(selected = this.savedId) {
    try {
      const saved = await getJson("/api/query/funnels/list", {}, this.ctx.project.id, {
        signal: this.ctx.signal,
      });
      const options = saved.map((f) => [String(f.funnel_id), f.name]);
      const placeholder = saved.length ? "Choose a saved funnel" : "No saved funnels yet";
      this.savedSelect.replaceChildren(
        ...select([["", placeholder], ...options], selected ?? "").children,
      );
    } catch (error) {
      if (error.name !== "AbortError") {
        show(this.savedMessage, errorState(error, "Listing the saved funnels"));
      }
    }
  }

  open(event) {
    event.preventDefault();
    if (!this.savedSelect.value) {
      show(
        this.savedMessage,
        errorState(new Error("Choose a funnel from the list."), "Opening", { offerSignIn: false }),
      );
      return;
    }
    show(this.savedMessage);
    this.savedId = this.savedSelect.value;
    this.lengthInput.value = "";
    this.showWindowMode();
    this.run();
  }

  async save(event) {
    event.preventDefault();
    const name = this.nameInput.value.trim();
    const problem = !name ? "Give the funnel a name." : this.stepsProblem();
    if (problem) {
      show(this.savedMessage, errorState(new Error(problem), "Saving", { offerSignIn: false }));
      return;
    }
    const params = { name, events: this.eventsJson(), ...this.windowParams() };
    show(this.savedMessage, loading("Saving…"));
    try {
      const saved = await getJson("/api/kindred/funnels", params, this.ctx.project.id, {
        method: "POST",
        signal: this.ctx.signal,
      });
      this.savedId = String(saved.funnel_id);
      await this.loadSaved(this.savedId);
      this.recordAddress();
      show(
        this.savedMessage,
        h(
          "p",
          { class: "notice", role: "status" },
          `Saved “${saved.name}”. Open it from this list any time.`,
        ),
      );
    } catch (error) {
      if (error.name !== "AbortError") {
        show(this.savedMessage, errorState(error, "Saving the funnel"));
      }
    }
  }

  // -- Running -------------------------------------------------------------------------------

  async runFromAddress() {
    if (this.savedId !== null || this.steps.filter((s) => s.trim()).length >= 2) {
      await this.run();
    } else {
      show(this.results, emptyState("Choose at least two steps, then show the funnel."));
    }
  }

  submit(event) {
    event.preventDefault();
    this.run();
  }

  stepsProblem() {
    if (this.steps.some((s) => !s.trim())) {
      return "Every step needs an event name; remove the empty ones.";
    }
    return this.steps.length < 2 ? "A funnel needs at least two steps." : null;
  }

  eventsJson() {
    return JSON.stringify(this.steps.map((s) => ({ event: s.trim() })));
  }

  windowParams() {
    const length = this.lengthInput.value.trim();
    // Without a length, a saved funnel keeps its own window (and its unit with it).
    return length ? { length, length_unit: this.unitSelect.value } : {};
  }

  params() {
    const from = this.fromInput.value;
    const to = this.toInput.value;
    const by = this.byInput.value.trim();
    const steps =
      this.savedId === null ? { events: this.eventsJson() } : { funnel_id: this.savedId };
    return {
      ...steps,
      from_date: from,
      to_date: to,
      // One bucket for the whole range: each person counted once over it.
      interval: daysBetween(from, to),
      ...this.windowParams(),
      on: by ? propertyExpression(by) : null,
    };
  }

  recordAddress() {
    this.ctx.setQuery({
      step: this.savedId === null ? this.steps : null,
      funnel: this.savedId,
      from: this.fromInput.value,
      to: this.toInput.value,
      length: this.lengthInput.value,
      unit: this.lengthInput.value ? this.unitSelect.value : null,
      by: this.byInput.value.trim(),
    });
  }

  async run() {
    const problem =
      rangeProblem(this.fromInput.value, this.toInput.value) ||
      (this.savedId === null ? this.stepsProblem() : null);
    if (problem) {
      show(
        this.formMessage,
        errorState(new Error(problem), "Showing the funnel", { offerSignIn: false }),
      );
      return;
    }
    show(this.formMessage);
    this.recordAddress();
    const params = this.params();
    this.chart.clear();
    show(this.results, loading("Counting the funnel…"));
    const signal = this.runs.start();
    try {
      const answer = await getJson("/api/query/funnels", params, this.ctx.project.id, { signal });
      this.draw(answer, params);
    } catch (error) {
      if (error.name !== "AbortError") {
        show(this.results, errorState(error, "Counting the funnel"));
      }
    }
  }

  draw(answer, params) {
    const day = answer.data[answer.meta.dates[0]];
    const overall = params.on ? day.$overall : day.steps;
    if (this.savedId !== null) {
      this.steps = overall.map((s) => s.event);
      this.drawSteps();
    }
    const call = apiCall("/api/query/funnels", params);
    if (overall[0].count === 0) {
      const text = `Nobody did “${overall[0].event}” from ${params.from_date} to ${params.to_date}, so nobody entered the funnel.`;
      show(this.results, emptyState(text), call);
      return;
    }
    const last = overall[overall.length - 1];
    const summary = h(
      "p",
      { class: "summary" },
      h("strong", {}, count(overall[0].count)),
      ` ${overall[0].count === 1 ? "person" : "people"} did “${overall[0].event}”; `,
      h("strong", {}, count(last.count)),
      ` of them (${percent(last.overall_conv_ratio)}) went on through all ${overall.length} steps within the window.`,
    );
    const labels = overall.map((s, i) => `${i + 1}. ${s.event}`);
    const { box, canvas } = chartBox(
      `Funnel: ${labels.map((l, i) => `${l}, ${overall[i].count}`).join("; ")}`,
    );
    const segments = params.on ? segmentsOf(day) : [];
    show(
      this.results,
      summary,
      box,
      stepsTable(overall, labels),
      segments.length ? segmentTable(segments, labels) : null,
      call,
    );
    if (segments.length) {
      const series = segments
        .slice(0, SEGMENTS_CHARTED)
        .map(([name, steps]) => ({ label: name, data: steps.map((s) => s.count) }));
      this.chart.draw(canvas, groupedBars(labels, series));
    } else {
      const dropped = overall.map((s, i) => (i === 0 ? 0 : overall[i - 1].count - s.count));
      this.chart.draw(
        canvas,
        funnelBars(
          labels,
          overall.map((s) => s.count),
          dropped,
        ),
      );
    }
  }
}

function segmentsOf(day) {
  return Object.entries(day)
    .filter(([name]) => name !== "$overall")
    .sort((a, b) => b[1][0].count - a[1][0].count);
}

function stepsTable(steps, labels) {
  const rows = steps.map((s, i) => [
    labels[i],
    num(count(s.count), { "data-count": s.count }),
    num(i === 0 ? "—" : percent(s.step_conv_ratio)),
    num(percent(s.overall_conv_ratio)),
    num(i === 0 ? "—" : count(steps[i - 1].count - s.count)),
    num(duration(s.avg_time)),
  ]);
  const headers = [
    "Step",
    "People",
    "From the step before",
    "From the first step",
    "Dropped off",
    "Average time from the step before",
  ];
  return table("Conversion and drop-off per step", headers, rows, { className: "funnel-steps" });
}

function segmentTable(segments, labels) {
  const rows = segments.map(([name, steps]) => [
    name,
    ...steps.map((s, i) =>
      num(i === 0 ? count(s.count) : `${count(s.count)} (${percent(s.overall_conv_ratio)})`),
    ),
  ]);
  return table(
    "People per step, by breakdown value (share of the first step)",
    ["Value", ...labels],
    rows,
  );
}
