// Sign in to a project with its secret; the server answers with a session cookie.

import * as api from "../api.js";
import { errorState, field, h, loading, show } from "../ui.js";

export function render(main, { projects, back, onSignedIn }) {
  const adding = projects.length > 0;
  const secret = h("input", {
    type: "password",
    name: "secret",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
  });
  const button = h("button", { type: "submit" }, "Sign in");
  const message = h("div", { class: "form-message" });

  async function submit(event) {
    event.preventDefault();
    if (!secret.value.trim()) {
      show(
        message,
        errorState(new Error("Enter the project's secret."), "Signing in", { offerSignIn: false }),
      );
      secret.focus();
      return;
    }
    button.disabled = true;
    show(message, loading("Signing in…"));
    try {
      onSignedIn(await api.signIn(secret.value.trim()));
    } catch (error) {
      show(message, errorState(error, "Signing in", { offerSignIn: false }));
      secret.select();
      secret.focus();
    } finally {
      button.disabled = false;
    }
  }

  main.append(
    h(
      "form",
      { class: "card sign-in", onsubmit: submit, novalidate: true },
      h("h1", {}, adding ? "Add a project" : "Sign in"),
      h(
        "p",
        {},
        "Sign in with a project's secret. ",
        h("code", {}, "kindred project show NAME"),
        " prints it, and the first ",
        h("code", {}, "kindred serve"),
        " printed the default project's. The token, which the SDKs send, cannot read.",
      ),
      field("Project secret", secret),
      h(
        "div",
        { class: "actions" },
        button,
        adding && back ? h("a", { href: back }, "Back to the reports") : null,
      ),
      message,
    ),
  );
}
