// Drives the official Node SDK (npm `mixpanel`, unchanged) through a list of calls.
//
// Usage: node node_driver.js '<json config>', where the config is
//   {"host": "127.0.0.1:PORT", "token": "...", "key": "...",
//    "steps": [{"client": "plain", "call": "people.set", "args": [...]}, ...]}
// Each step calls client.<call>(...args, callback) and waits for the callback. Values of the
// form {"$date": <ms>} in args become Date objects (the SDK turns them into ms). Clients:
//   plain     http, defaults                  keyed   http, `key` (the only /import auth over http)
//   verbose   http, verbose: true            prefixed http, path: "/mp"
// Prints one JSON line: {"results": [{"call": ..., "error": null | "message"}, ...]}.
// Run with HTTP_PROXY and HTTPS_PROXY unset: the SDK's init() throws otherwise (CLIENTS.md §3.1).
"use strict";

const Mixpanel = require("mixpanel");

// A call whose callback never comes (wrong argument order, say) fails instead of hanging.
const CALLBACK_TIMEOUT_MS = 10000;

function revive(value) {
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
}

function describe(error) {
  if (!error) {
    return null;
  }
  if (Array.isArray(error)) {
    // The batch methods call back with a list of errors (or an empty list).
    const messages = error.filter(Boolean).map((e) => String(e.message || e));
    return messages.length ? messages.join("; ") : null;
  }
  return String(error.message || error);
}

function call(client, path, args) {
  const names = path.split(".");
  const method = names.pop();
  const target = names.reduce((object, name) => object[name], client);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("no callback"), CALLBACK_TIMEOUT_MS);
    const done = (error) => {
      clearTimeout(timer);
      resolve(describe(error));
    };
    try {
      target[method](...args, done);
    } catch (error) {
      clearTimeout(timer);
      resolve(`threw: ${error.message}`);
    }
  });
}

async function main() {
  const config = JSON.parse(process.argv[2]);
  const base = { host: config.host, protocol: "http" };
  const clients = {
    plain: Mixpanel.init(config.token, base),
    keyed: Mixpanel.init(config.token, { ...base, key: config.key }),
    verbose: Mixpanel.init(config.token, { ...base, verbose: true }),
    prefixed: Mixpanel.init(config.token, { ...base, path: "/mp" }),
  };
  const results = [];
  for (const step of config.steps) {
    const error = await call(clients[step.client || "plain"], step.call, revive(step.args));
    results.push({ call: step.call, error });
  }
  process.stdout.write(JSON.stringify({ results }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
