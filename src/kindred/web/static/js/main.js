// The shell: the session, the project switcher, the navigation, and which page shows.
//
// Addresses are #/<project id>/<page>?<the page's own parameters>, so that a report can be
// reloaded, bookmarked and shared with someone signed in to the same project.

import * as api from "./api.js";
import * as events from "./pages/events.js";
import * as funnels from "./pages/funnels.js";
import * as health from "./pages/health.js";
import * as insights from "./pages/insights.js";
import * as retention from "./pages/retention.js";
import * as signIn from "./pages/signin.js";
import * as users from "./pages/users.js";
import { errorState, loading, show } from "./ui.js";

const PAGES = {
  events: { title: "Events", module: events },
  users: { title: "Users", module: users },
  funnels: { title: "Funnels", module: funnels },
  retention: { title: "Retention", module: retention },
  insights: { title: "Insights", module: insights },
  health: { title: "Identity health", module: health },
};
const DEFAULT_PAGE = "events";

const state = { projects: [], controller: null, page: null };
const main = document.getElementById("main");

export function pageUrl(projectId, page, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") {
        query.append(name, String(item));
      }
    }
  }
  const text = query.toString();
  return `#/${projectId}/${page}${text ? `?${text}` : ""}`;
}

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const mark = hash.indexOf("?");
  const path = mark === -1 ? hash : hash.slice(0, mark);
  const query = new URLSearchParams(mark === -1 ? "" : hash.slice(mark + 1));
  return { parts: path.split("/").filter(Boolean), query };
}

async function route({ moveFocus = true } = {}) {
  if (state.controller) {
    state.controller.abort();
  }
  const controller = new AbortController();
  state.controller = controller;
  const { parts, query } = parseHash();

  if (parts[0] === "sign-in" || state.projects.length === 0) {
    showShell(null, null);
    document.title = "Sign in · kindred";
    main.replaceChildren();
    signIn.render(main, { projects: state.projects, back: backUrl(), onSignedIn });
    focusHeading(moveFocus);
    return;
  }
  const project = state.projects.find((p) => String(p.id) === parts[0]);
  const page = parts[1] in PAGES ? parts[1] : null;
  if (!project || !page) {
    const fallback = project || state.projects[0];
    location.replace(pageUrl(fallback.id, page || DEFAULT_PAGE));
    return;
  }

  state.page = page;
  showShell(project, page);
  document.title = `${PAGES[page].title} · ${project.name} · kindred`;
  main.replaceChildren();
  const ctx = {
    project,
    query,
    signal: controller.signal,
    url: (target, params) => pageUrl(project.id, target, params),
    // Record a page's parameters in the address without showing the page again.
    setQuery: (params) => history.replaceState(null, "", pageUrl(project.id, page, params)),
  };
  try {
    const rendering = PAGES[page].module.render(main, ctx);
    focusHeading(moveFocus);
    await rendering;
  } catch (error) {
    if (error.name !== "AbortError") {
      main.append(errorState(error, `Showing ${PAGES[page].title}`));
    }
  }
}

function focusHeading(moveFocus) {
  const heading = main.querySelector("h1");
  if (moveFocus && heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

function backUrl() {
  const first = state.projects[0];
  return first ? pageUrl(first.id, state.page || DEFAULT_PAGE) : null;
}

function showShell(project, page) {
  const signedIn = project !== null;
  document.getElementById("session").hidden = !signedIn;
  document.getElementById("nav").hidden = !signedIn;
  if (!signedIn) {
    return;
  }
  const switcher = document.getElementById("project-switch");
  switcher.replaceChildren(
    ...state.projects.map((p) => {
      const option = document.createElement("option");
      option.value = String(p.id);
      option.textContent = `${p.name} (${p.identity_mode})`;
      option.selected = p.id === project.id;
      return option;
    }),
  );
  for (const link of document.querySelectorAll("#nav a[data-page]")) {
    link.href = pageUrl(project.id, link.dataset.page);
    if (link.dataset.page === page) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
}

function onSignedIn(answer) {
  state.projects = answer.projects;
  location.hash = pageUrl(answer.signed_in.id, state.page || DEFAULT_PAGE);
}

async function signOut() {
  const button = document.getElementById("sign-out");
  button.disabled = true;
  try {
    state.projects = await api.signOut();
    location.hash = "#/sign-in";
  } catch (error) {
    show(main, errorState(error, "Signing out", { offerSignIn: false }));
  } finally {
    button.disabled = false;
  }
}

async function start() {
  document.getElementById("project-switch").addEventListener("change", (event) => {
    location.hash = pageUrl(event.target.value, state.page || DEFAULT_PAGE);
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  // The address's fragment holds the page, so the skip link moves focus without following it.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => route());

  show(main, loading("Checking your session…"));
  try {
    state.projects = await api.session();
  } catch (error) {
    show(main, errorState(error, "Checking your session", { offerSignIn: false }));
    return;
  }
  await route({ moveFocus: false });
}

start();
