// Charts, drawn by the vendored Chart.js (vendor/chart.js/README.md) in the UI's colours. Every
// chart has its numbers in a table beside it; the chart is the picture, the table the record.

const PALETTE = [
  "#2f5bd3",
  "#d9822b",
  "#1f8a70",
  "#c0392b",
  "#7b52ab",
  "#8a7a12",
  "#b5548c",
  "#5d6d7e",
];
const DROPPED = "#c7d1ea";

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

function library() {
  if (!window.Chart) {
    throw new Error(
      "The chart library did not load. Reload the page; the numbers are in the table.",
    );
  }
  return window.Chart;
}

function options(scales, { legend = true } = {}) {
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: still ? false : { duration: 250 },
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { display: legend, position: "bottom", labels: { boxWidth: 12 } } },
    scales,
  };
}

const COUNT_AXIS = { beginAtZero: true, ticks: { precision: 0 } };

// One chart at a time in a place of a page; the old one is destroyed when a new one is drawn,
// and when the page is left (`signal` aborts).
export class ChartSlot {
  constructor(signal) {
    this.chart = null;
    signal.addEventListener("abort", () => this.clear());
  }

  clear() {
    if (this.chart) {
      this.chart.destroy();
      this.chart = null;
    }
  }

  draw(canvas, config) {
    this.clear();
    const Chart = library();
    this.chart = new Chart(canvas, config);
    return this.chart;
  }
}

// Per step: the people who got there, stacked on those who dropped off since the step before.
export function funnelBars(labels, converted, dropped) {
  return {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Converted", data: converted, backgroundColor: colour(0), stack: "people" },
        { label: "Dropped off", data: dropped, backgroundColor: DROPPED, stack: "people" },
      ],
    },
    options: options({ x: { stacked: true }, y: { ...COUNT_AXIS, stacked: true } }),
  };
}

// `series` of {label, data}, bars side by side per label.
export function groupedBars(labels, series) {
  const datasets = series.map((s, i) => ({ ...s, backgroundColor: colour(i) }));
  return { type: "bar", data: { labels, datasets }, options: options({ y: COUNT_AXIS }) };
}

// `series` of {label, data}, stacked per label.
export function stackedBars(labels, series) {
  const datasets = series.map((s, i) => ({ ...s, backgroundColor: colour(i), stack: "all" }));
  return {
    type: "bar",
    data: { labels, datasets },
    options: options({ x: { stacked: true }, y: { ...COUNT_AXIS, stacked: true } }),
  };
}

// `series` of {label, data}, a line each; `integers` when the values are counts.
export function lines(labels, series, { integers = true } = {}) {
  const datasets = series.map((s, i) => ({
    ...s,
    borderColor: colour(i),
    backgroundColor: colour(i),
    borderWidth: 2,
    pointRadius: labels.length > 40 ? 0 : 3,
    tension: 0.2,
  }));
  return {
    type: "line",
    data: { labels, datasets },
    options: options(
      { y: integers ? COUNT_AXIS : { beginAtZero: true } },
      { legend: series.length > 1 },
    ),
  };
}
