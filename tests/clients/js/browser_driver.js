// Drives the official browser SDK (npm `mixpanel-browser`, unchanged) in Debian's headless Chromium.
//
// Usage: node browser_driver.js '<json config>', where the config is
//   {"chromium": "/usr/bin/chromium", "page": "http://127.0.0.1:PORT/page.html",
//    "api": "http://127.0.0.1:PORT", "scenarios": [{"name": ..., "token": ..., "steps": [...]}]}
// Each scenario runs in a fresh browser context (cookies and localStorage start empty). Steps:
//   {"init": {...config}, "instance": "name"}
//                                  mixpanel.init(token, {api_host: api, ...config}, name); waits
//                                  for `loaded`; a named instance is then called as "name.track"
//   {"call": "people.set", "args": [...], "record": "key", "callback": true, "then": [name, ...args]}
//                                  calls mixpanel.<call>(...args); with "callback", passes one and
//                                  waits for it; with "then", calls <name>(...args) on the result
//                                  (mixpanel.get_group(k, id).set(...)); "record" keeps the value
//   {"wait": "settled"}            until the SDK's queues are empty and no request is in flight
//   {"wait": "property", "name": "$user_id", "value": "u"}
//   {"hide": true}                 the page goes hidden (visibilitychange), as when a tab is left
//   {"reload": true}               reload the page (then init again)
//   {"sleep": ms}                  wait
// Values {"$date": ms} in args become Dates. Prints one JSON line: {"scenarios": [{"name",
// "recorded", "requests": [{method, url, status, body, type}], "failures": [...]}]}.
"use strict";

const { chromium } = require("playwright-core");

const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];
const POLL_MS = 50;
const SETTLED_POLLS = 6; // 300 ms of quiet: longer than the flush interval the tests use
const WAIT_TIMEOUT_MS = 15000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition, what) {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await condition()) {
      return;
    }
    await sleep(POLL_MS);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Runs in the page: one step against window.mixpanel.
async function pageStep(step) {
  const revive = (value) => {
    if (Array.isArray(value)) {
      return value.map(revive);
    }
    if (value !== null && typeof value === "object") {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === "$date") {
        return new Date(value.$date);
      }
      return Object.fromEntries(keys.map((k) => [k, revive(value[k])]));
    }
    return value;
  };
  const mp = window.mixpanel;
  if (step.init) {
    return new Promise((resolve) => {
      mp.init(step.token, { ...step.init, loaded: () => resolve(null) }, step.instance);
    });
  }
  const names = step.call.split(".");
  const method = names.pop();
  const target = names.reduce((object, name) => object[name], mp);
  const args = revive(step.args || []);
  let result;
  if (step.callback) {
    result = await new Promise((resolve, reject) => {
      // The SDK never calls back when the callback is not where it expects one: fail, not hang.
      const timer = setTimeout(() => reject(new Error(`no callback from ${step.call}`)), 10000);
      target[method](...args, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
    });
  } else {
    result = target[method](...args);
  }
  if (step.then) {
    const [name, ...rest] = step.then;
    result = result[name](...revive(rest));
  }
  // Only a recorded value crosses back: others may be SDK objects that do not serialise.
  return step.record ? JSON.parse(JSON.stringify(result ?? null)) : null;
}

// Runs in the page: are the SDK's localStorage queues for `token` empty?
function queuesEmpty(token) {
  return ["_ev", "_pp", "_gr"].every((suffix) => {
    const raw = window.localStorage.getItem(`__mpq_${token}${suffix}`);
    return raw === null || JSON.parse(raw).length === 0;
  });
}

// Runs in the page: the SDK's queues, for a failure message.
function dumpQueues(token) {
  return JSON.stringify(
    ["_ev", "_pp", "_gr"].map((suffix) => window.localStorage.getItem(`__mpq_${token}${suffix}`)),
  );
}

// Watches the page's requests to kindred: what was answered, what failed, what is in flight.
class Traffic {
  constructor(page, api) {
    this.requests = [];
    this.failures = [];
    this.inFlight = 0;
    this.reading = []; // answers being read; awaited before the context closes
    const isApi = (request) => request.url().startsWith(api);
    page.on("request", (request) => {
      if (isApi(request)) {
        this.inFlight += 1;
      }
    });
    page.on("requestfinished", (request) => {
      if (isApi(request)) {
        this.reading.push(this.record(request));
      }
    });
    page.on("requestfailed", (request) => {
      if (isApi(request)) {
        // A CORS refusal lands here too: the server stored the data, the SDK saw status 0.
        this.failures.push(`${request.method()} ${request.url()}: ${request.failure().errorText}`);
        this.inFlight -= 1;
      }
    });
    page.on("pageerror", (error) => this.failures.push(`page error: ${error.message}`));
  }

  async record(request) {
    const response = await request.response();
    let body = null;
    try {
      body = response ? await response.text() : null;
    } catch (error) {
      body = null; // a beacon's answer cannot be read
    }
    this.requests.push({
      method: request.method(),
      url: request.url(),
      type: request.resourceType(),
      status: response ? response.status() : null,
      body,
    });
    this.inFlight -= 1;
  }
}

async function hide(page, traffic) {
  const before = traffic.requests.length;
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    Object.defineProperty(document, "hidden", { value: true, configurable: true });
    // As the browser does: fired at the document, bubbling to window (where the SDK listens).
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  });
  await waitFor(async () => traffic.requests.length > before && traffic.inFlight === 0, "a beacon");
}

async function settle(page, traffic, token) {
  let quiet = 0;
  await waitFor(async () => {
    const idle = traffic.inFlight === 0 && (await page.evaluate(queuesEmpty, token));
    quiet = idle ? quiet + 1 : 0;
    return quiet >= SETTLED_POLLS;
  }, "the SDK queues to empty");
}

async function runStep(page, traffic, config, scenario, step, recorded) {
  if (step.init) {
    const init = { api_host: config.api, ...step.init };
    await page.evaluate(pageStep, { init, instance: step.instance, token: scenario.token });
  } else if (step.wait === "settled") {
    await settle(page, traffic, scenario.token);
  } else if (step.wait === "property") {
    const value = () => page.evaluate((name) => window.mixpanel.get_property(name), step.name);
    await waitFor(async () => (await value()) === step.value, `${step.name} = ${step.value}`);
  } else if (step.hide) {
    await hide(page, traffic);
  } else if (step.reload) {
    await page.reload();
  } else if (step.sleep) {
    await sleep(step.sleep);
  } else if (step.call) {
    const value = await page.evaluate(pageStep, step);
    if (step.record) {
      recorded[step.record] = value;
    }
  } else {
    throw new Error(`unknown step ${JSON.stringify(step)}`);
  }
}

async function runScenario(browser, config, scenario) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const traffic = new Traffic(page, config.api);
  const recorded = {};
  try {
    await page.goto(config.page);
    for (const step of scenario.steps) {
      await runStep(page, traffic, config, scenario, step, recorded);
    }
    await waitFor(async () => traffic.inFlight === 0, "the last requests");
  } catch (error) {
    const queues = await page.evaluate(dumpQueues, scenario.token).catch(() => null);
    traffic.failures.push(`driver: ${error.message}; in flight: ${traffic.inFlight}; queues: ${queues}`);
  }
  await Promise.all(traffic.reading);
  await context.close();
  const { requests, failures } = traffic;
  return { name: scenario.name, recorded, requests, failures };
}

async function main() {
  const config = JSON.parse(process.argv[2]);
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: LAUNCH_ARGS,
  });
  try {
    const scenarios = [];
    for (const scenario of config.scenarios) {
      scenarios.push(await runScenario(browser, config, scenario));
    }
    process.stdout.write(JSON.stringify({ scenarios }) + "\n");
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
