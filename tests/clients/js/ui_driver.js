// Drives kindred's web UI in Debian's headless Chromium (playwright-core), one step at a time.
//
// Usage: node ui_driver.js '<json config>', where the config is
//   {"chromium": "/usr/bin/chromium", "base": "http://127.0.0.1:PORT", "screenshots": "/dir",
//    "steps": [...]}
// One browser for the whole run. Targets are {"label": text}, {"role": r, "name": text} or
// {"css": selector}, exact matches, the first one found. Steps:
//   {"context": [width, height]}   a fresh context (no cookies) and page at that size
//   {"viewport": [width, height]}  resize the current page
//   {"goto": "/#/..."}             open base + path (only the fragment changes: no new load)
//   {"reload": true}               load the page afresh
//   {"fill": target, "value": v}   {"select": target, "value": v or "label": l}
//   {"click": target}              {"press": "Tab"}
//   {"wait": target}               until it is visible
//   {"read": target, "as": key, "what": "text" | "texts" | "contents" | "count" | "attr:NAME" |
//                                  "attrs:NAME"}   (texts: each match's innerText; contents:
//                                  each one's textContent, hidden or not)
//   {"eval": "overflow" | "unlabelled" | "focused" | "url" | "session", "as": key}
//   {"send": {"path": "/import?strict=1", "secret": s, "body": [...]}}
//                                  POST JSON from Node (as a script would), authenticated by `s`
//   {"screenshot": name}           a full-page PNG in the screenshots folder
// Prints one JSON line: {"recorded": {...}, "problems": [{"step", "kind", "text"}],
// "screenshots": [...]}. A problem is a console error, an uncaught page error, a failed request
// or an HTTP error answer, tagged with the index of the step during which it happened; a step
// that fails ends the run with a "driver" problem (and a screenshot named "failure").
"use strict";

const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];
const STEP_TIMEOUT_MS = 10000;

function locate(page, target) {
  if (target.label !== undefined) {
    return page.getByLabel(target.label, { exact: true }).first();
  }
  if (target.role !== undefined) {
    return page.getByRole(target.role, { name: target.name, exact: true }).first();
  }
  return page.locator(target.css).first();
}

function locateAll(page, target) {
  if (target.css !== undefined) {
    return page.locator(target.css);
  }
  if (target.label !== undefined) {
    return page.getByLabel(target.label, { exact: true });
  }
  return page.getByRole(target.role, { name: target.name, exact: true });
}

// Run in the page: checks that need its DOM.
function pageCheck(name) {
  if (name === "overflow") {
    return document.documentElement.scrollWidth - window.innerWidth;
  }
  if (name === "focused") {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()}:${(el.textContent || "").trim().slice(0, 40)}` : null;
  }
  if (name === "url") {
    return location.hash;
  }
  if (name === "unlabelled") {
    const controls = document.querySelectorAll("input, select, textarea, button");
    return [...controls]
      .filter((el) => el.type !== "hidden" && el.offsetParent !== null)
      .filter((el) => {
        const named =
          el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
        return !named && !(el.tagName === "BUTTON" && el.textContent.trim());
      })
      .map((el) => el.outerHTML.slice(0, 80));
  }
  throw new Error(`unknown check ${name}`);
}

async function read(page, step) {
  const what = step.what || "text";
  if (what === "count") {
    return locateAll(page, step.read).count();
  }
  if (what === "texts") {
    return locateAll(page, step.read).allInnerTexts();
  }
  if (what === "contents") {
    // The text of hidden elements too (a closed <details>), where innerText is empty.
    return locateAll(page, step.read).allTextContents();
  }
  if (what.startsWith("attrs:")) {
    const name = what.slice(6);
    return locateAll(page, step.read).evaluateAll(
      (els, n) => els.map((el) => el.getAttribute(n)),
      name,
    );
  }
  if (what.startsWith("attr:")) {
    return locate(page, step.read).getAttribute(what.slice(5));
  }
  return locate(page, step.read).innerText();
}

// From Node, not the page: POST `body` as JSON to `path`, with `secret` as the Basic user.
async function send(base, { path: target, secret, body }) {
  const response = await fetch(base + target, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Basic ${Buffer.from(`${secret}:`).toString("base64")}`,
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`POST ${target} answered ${response.status}: ${await response.text()}`);
  }
}

class Run {
  constructor(browser, config) {
    this.browser = browser;
    this.config = config;
    this.context = null;
    this.page = null;
    this.stepIndex = -1;
    this.recorded = {};
    this.problems = [];
    this.screenshots = [];
  }

  problem(kind, text) {
    this.problems.push({ step: this.stepIndex, kind, text });
  }

  async open(width, height) {
    if (this.context) {
      await this.context.close();
    }
    this.context = await this.browser.newContext({
      viewport: { width, height },
      reducedMotion: "reduce",
    });
    const page = await this.context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("console", (message) => {
      if (message.type() === "error") {
        this.problem("console", message.text());
      }
    });
    page.on("pageerror", (error) => this.problem("page error", error.message));
    page.on("requestfailed", (request) => {
      const reason = request.failure().errorText;
      // A page left, or a report run again, aborts the fetches it no longer needs.
      if (reason !== "net::ERR_ABORTED") {
        this.problem("request failed", `${request.method()} ${request.url()}: ${reason}`);
      }
    });
    page.on("response", (response) => {
      if (response.status() >= 400) {
        this.problem(
          "http",
          `${response.status()} ${response.request().method()} ${response.url()}`,
        );
      }
    });
    this.page = page;
  }

  async screenshot(name) {
    const file = path.join(this.config.screenshots, `${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    this.screenshots.push(file);
  }

  async step(step) {
    const page = this.page;
    if (step.context) {
      await this.open(...step.context);
    } else if (step.viewport) {
      await page.setViewportSize({ width: step.viewport[0], height: step.viewport[1] });
    } else if (step.goto !== undefined) {
      await page.goto(this.config.base + step.goto);
    } else if (step.reload) {
      await page.reload();
    } else if (step.fill) {
      await locate(page, step.fill).fill(step.value);
    } else if (step.select) {
      const option = step.label !== undefined ? { label: step.label } : step.value;
      await locate(page, step.select).selectOption(option);
    } else if (step.click) {
      await locate(page, step.click).click();
    } else if (step.press) {
      await page.keyboard.press(step.press);
    } else if (step.wait) {
      await locate(page, step.wait).waitFor({ state: "visible" });
    } else if (step.read) {
      this.recorded[step.as] = await read(page, step);
    } else if (step.eval) {
      this.recorded[step.as] =
        step.eval === "session"
          ? await page.evaluate(() => fetch("/ui/session").then((r) => r.json()))
          : await page.evaluate(pageCheck, step.eval);
    } else if (step.send) {
      await send(this.config.base, step.send);
    } else if (step.screenshot) {
      await this.screenshot(step.screenshot);
    } else {
      throw new Error(`unknown step ${JSON.stringify(step)}`);
    }
  }

  async run(steps) {
    for (const [i, step] of steps.entries()) {
      this.stepIndex = i;
      try {
        await this.step(step);
      } catch (error) {
        this.problem(
          "driver",
          `step ${i} ${JSON.stringify(step)}: ${error.message.split("\n")[0]}`,
        );
        if (this.page) {
          await this.screenshot("failure").catch(() => {});
        }
        return;
      }
    }
  }
}

async function main() {
  const config = JSON.parse(process.argv[2]);
  fs.mkdirSync(config.screenshots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: LAUNCH_ARGS,
  });
  try {
    const run = new Run(browser, config);
    await run.run(config.steps);
    const { recorded, problems, screenshots } = run;
    process.stdout.write(JSON.stringify({ recorded, problems, screenshots }) + "\n");
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
