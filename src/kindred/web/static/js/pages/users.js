// Users: a person found by any of their ids, with their profile, their identity cluster (how each
// id joined, what was refused and why), their activity, and withdrawing an identity input.

import { getJson } from "../api.js";
import {
  apiCall,
  confirmDialog,
  count,
  dateInput,
  dateTime,
  daysBefore,
  emptyState,
  errorState,
  field,
  h,
  loading,
  rangeProblem,
  Runs,
  show,
  table,
  today,
  utcTime,
} from "../ui.js";

const IDENTITY_API = "/api/kindred/identity";
const KINDS = {
  identify: "$identify",
  create_alias: "$create_alias",
  merge: "$merge",
  link: "event with $user_id and $device_id",
};

export async function render(main, ctx) {
  const idInput = h("input", {
    type: "search",
    name: "id",
    value: ctx.query.get("id") || "",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const fromInput = dateInput("from", ctx.query.get("from") || daysBefore(today(), 29));
  const toInput = dateInput("to", ctx.query.get("to") || today());
  const message = h("div", { class: "form-message" });
  const results = h("section", { class: "results", "aria-label": "Person" });
  const person = { ctx, region: results, runs: new Runs(ctx.signal) };

  function submit(event) {
    event.preventDefault();
    const id = idInput.value.trim();
    const problem = !id
      ? "Enter an id: a user id, a device id or an alias."
      : rangeProblem(fromInput.value, toInput.value);
    if (problem) {
      show(message, errorState(new Error(problem), "Finding the person", { offerSignIn: false }));
      return;
    }
    show(message);
    ctx.setQuery({ id, from: fromInput.value, to: toInput.value });
    load(person, { id, from: fromInput.value, to: toInput.value });
  }

  main.append(
    h("h1", {}, "Users"),
    h(
      "p",
      { class: "lede" },
      "Find a person by any of their ids: the one kindred reports them under, or any other.",
    ),
    h(
      "form",
      { class: "controls", onsubmit: submit, novalidate: true, role: "search" },
      field("Any id of the person", idInput),
      field("Activity from", fromInput),
      field("Activity to", toInput),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Find")),
    ),
    message,
    results,
  );
  if (idInput.value) {
    await load(person, { id: idInput.value, from: fromInput.value, to: toInput.value });
  } else {
    show(results, emptyState("Enter an id to see the person behind it."));
  }
}

// Show the person `search.id` names in `person.region`, with `notice` above when given.
async function load(person, search, notice = null) {
  const { ctx, region } = person;
  show(region, loading(`Looking up ${search.id}…`));
  const opts = { signal: person.runs.start() };
  const pid = ctx.project.id;
  try {
    const shown = await getJson(`${IDENTITY_API}/ids`, { distinct_id: search.id }, pid, opts);
    const canonical = shown.canonical_id;
    const streamParams = {
      distinct_ids: JSON.stringify([canonical]),
      from_date: search.from,
      to_date: search.to,
    };
    const [profiles, stream] = await Promise.all([
      getJson("/api/query/engage", { distinct_id: canonical }, pid, { ...opts, method: "POST" }),
      getJson("/api/query/stream/query", streamParams, pid, opts),
    ]);
    const profile = profiles.results.length ? profiles.results[0].$properties : null;
    const redraw = (text) => load(person, search, text);
    show(
      region,
      notice ? h("p", { class: "notice", role: "status" }, notice) : null,
      personHeading(search.id, shown),
      profileSection(profile),
      clusterSection(ctx, shown, redraw),
      refusedSection(shown),
      activitySection(stream.results.events, search),
      apiCall("/api/query/stream/query", streamParams),
    );
  } catch (error) {
    if (error.name !== "AbortError") {
      show(region, errorState(error, `Looking up ${search.id}`));
    }
  }
}

function personHeading(searched, shown) {
  const heading = h("h2", { class: "person-id" }, shown.canonical_id);
  if (searched === shown.canonical_id) {
    return heading;
  }
  return [
    heading,
    h(
      "p",
      {},
      "“",
      h("code", {}, searched),
      "” is one of this person's ids; reports count them under “",
      h("code", {}, shown.canonical_id),
      "”.",
    ),
  ];
}

function section(title, ...content) {
  return h("section", { class: "card" }, h("h3", {}, title), ...content);
}

function profileSection(profile) {
  if (!profile || Object.keys(profile).length === 0) {
    return section(
      "Profile",
      emptyState("No profile properties: nothing was ever set for this person."),
    );
  }
  const names = Object.keys(profile).sort(
    (a, b) => a.startsWith("$") - b.startsWith("$") || a.localeCompare(b),
  );
  const rows = names.map((name) => [name, formatValue(profile[name])]);
  return section(
    "Profile",
    table("Profile properties", ["Property", "Value"], rows, { className: "properties" }),
  );
}

function formatValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function clusterSection(ctx, shown, redraw) {
  const members = shown.members.map((id) => [h("code", {}, id), joinedBy(id, shown)]);
  const inputs = shown.inputs.map((input) => [
    utcTime(input.time),
    describeInput(input),
    outcome(input),
    withdrawButton(ctx, input, redraw),
  ]);
  return section(
    "Identity cluster",
    h(
      "p",
      {},
      `${count(shown.members.length)} ${shown.members.length === 1 ? "id" : "ids"}, one person.`,
    ),
    table("Ids of this person, and how each joined", ["Id", "How it joined"], members),
    inputs.length
      ? table(
          "Identity inputs naming these ids, oldest first",
          ["Time (UTC)", "Input", "Outcome", "Action"],
          inputs,
        )
      : emptyState("No identity input names these ids: the person has a single id."),
  );
}

function joinedBy(id, shown) {
  if (id === shown.canonical_id) {
    return "The canonical id: reports count the person under it.";
  }
  const input = shown.inputs.find((i) => i.status === "applied" && i.ids.includes(id));
  if (!input) {
    return "—";
  }
  const other = input.ids[0] === id ? input.ids[1] : input.ids[0];
  return `By ${KINDS[input.kind] || input.kind} with ${other}, ${dateTime(input.time)}`;
}

function describeInput(input) {
  return h(
    "span",
    {},
    `${KINDS[input.kind] || input.kind}: `,
    h("code", {}, input.ids[0]),
    " and ",
    h("code", {}, input.ids[1]),
  );
}

function outcome(input) {
  if (input.status === "refused") {
    return h(
      "span",
      {},
      h("strong", { class: "badge warn" }, `Refused: ${input.code}`),
      " ",
      input.description || "",
    );
  }
  if (input.status === "withdrawn") {
    return h("span", { class: "badge" }, "Withdrawn");
  }
  return h("span", { class: "badge ok" }, "Applied");
}

function withdrawButton(ctx, input, redraw) {
  if (input.status !== "applied") {
    return "";
  }
  if (!input.insert_id) {
    return h("span", { class: "muted" }, "No $insert_id: cannot be withdrawn");
  }
  const label = `Withdraw the ${KINDS[input.kind] || input.kind} of ${input.ids[0]} and ${input.ids[1]}`;
  const button = h(
    "button",
    { type: "button", class: "secondary small", "aria-label": label },
    "Withdraw…",
  );
  button.addEventListener("click", async () => {
    const sure = await confirmDialog({
      title: "Withdraw this identity input?",
      body:
        `The ${KINDS[input.kind] || input.kind} that joined ${input.ids[0]} and ${input.ids[1]} ` +
        `($insert_id ${input.insert_id}) will count as if it never arrived: every report sees ` +
        "the ids apart, unless another input joins them. There is no undo.",
      confirm: "Withdraw",
    });
    if (!sure) {
      button.focus();
      return;
    }
    button.disabled = true;
    try {
      const done = await getJson(
        `${IDENTITY_API}/unmerge`,
        { insert_id: input.insert_id },
        ctx.project.id,
        {
          method: "POST",
          signal: ctx.signal,
        },
      );
      const now = Object.entries(done.canonical_ids).map(
        ([id, canonical]) => `${id} → ${canonical}`,
      );
      await redraw(`Withdrawn. Each id it named is now reported as: ${now.join("; ")}.`);
    } catch (error) {
      if (error.name !== "AbortError") {
        button.replaceWith(errorState(error, "Withdrawing"));
      }
    }
  });
  return button;
}

function refusedSection(shown) {
  if (shown.refused.length === 0) {
    return section("Refused inputs", emptyState("No identity input naming these ids was refused."));
  }
  const rows = shown.refused.map((input) => [
    utcTime(input.time),
    describeInput(input),
    h("code", {}, input.code),
    input.description || "",
  ]);
  return section(
    "Refused inputs",
    h(
      "p",
      {},
      "These identity inputs named an id of this person and were refused; the ids they would have joined stayed apart.",
    ),
    table("Refused identity inputs, and why", ["Time (UTC)", "Input", "Code", "Why"], rows),
  );
}

function activitySection(events, search) {
  if (events.length === 0) {
    return section(
      "Activity",
      emptyState(`No events by this person from ${search.from} to ${search.to}.`),
    );
  }
  const rows = [...events].reverse().map((e) => {
    const raw = e.properties.$distinct_id_before_identity;
    return [
      utcTime(e.properties.time * 1000),
      e.event,
      raw ? h("small", { class: "muted" }, `sent as ${raw}`) : "",
    ];
  });
  return section(
    "Activity",
    h("p", {}, `${count(events.length)} events from ${search.from} to ${search.to}, newest first.`),
    table("Activity, newest first", ["Time (UTC)", "Event", "Id it was sent with"], rows),
  );
}
