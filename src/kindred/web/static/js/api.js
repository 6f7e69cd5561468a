// Calls to kindred's HTTP APIs: the very endpoints a script calls, with the session cookie (sent
// by the browser) in place of the project secret, and the project named by `project_id`.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }

  get isSignedOut() {
    return this.status === 401;
  }
}

const UNREACHABLE =
  "kindred did not answer. Check that the server is still running, then try again.";

// The parameters that have a value, in order.
function definedParams(params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") {
      query.set(name, String(value));
    }
  }
  return query;
}

// The URL of an API call, as a script would write it (a script sends the secret instead).
export function apiUrl(path, params = {}, projectId = null) {
  const all = projectId === null ? params : { project_id: projectId, ...params };
  const query = definedParams(all).toString();
  return query ? `${path}?${query}` : path;
}

async function send(url, { method = "GET", body = null, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== null) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  }
  let response;
  try {
    response = await fetch(url, { method, body, headers, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") {
      throw error;
    }
    throw new ApiError(UNREACHABLE, 0);
  }
  if (!response.ok) {
    throw new ApiError(await errorMessage(response), response.status);
  }
  return response;
}

async function errorMessage(response) {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.error === "string") {
      return capitalise(parsed.error);
    }
  } catch (error) {
    // Not JSON: say what the server answered instead.
  }
  return `kindred answered ${response.status} ${response.statusText}.`;
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// GET (or POST as a form, with `method: "POST"`) a JSON API of the project `projectId`.
export async function getJson(path, params, projectId, { method = "GET", signal } = {}) {
  let response;
  if (method === "POST") {
    const body = definedParams(params);
    response = await send(apiUrl(path, {}, projectId), { method, body, signal });
  } else {
    response = await send(apiUrl(path, params, projectId), { signal });
  }
  return response.json();
}

// Read an NDJSON export line by line, calling `onEvent` with each parsed event.
export async function readExport(params, projectId, onEvent, { signal } = {}) {
  const response = await send(apiUrl("/api/2.0/export", params, projectId), { signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    pending += decoder.decode(value || new Uint8Array(), { stream: !done });
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) {
      if (line.trim()) {
        onEvent(JSON.parse(line));
      }
    }
    if (done) {
      break;
    }
  }
  if (pending.trim()) {
    onEvent(JSON.parse(pending));
  }
}

// The session: which projects this browser is signed in to.
export async function session() {
  const response = await send("/ui/session");
  return (await response.json()).projects;
}

// Answers {projects: every signed-in project, signed_in: this one}.
export async function signIn(secret) {
  const body = new URLSearchParams({ secret });
  const response = await send("/ui/session", { method: "POST", body });
  return response.json();
}

export async function signOut() {
  const response = await send("/ui/session/sign-out", { method: "POST", body: "" });
  return (await response.json()).projects;
}
