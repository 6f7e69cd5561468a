"""Talking to a running kindred over HTTP, for the commands that read or change its data.

The running server holds the DuckDB file, so `kindred identity ...` and `kindred export` cannot open
it; they call the server's API with the project secret instead. Only the standard library is used,
so the CLI needs nothing the server does not.
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPResponse
from typing import Any, TypeVar
from urllib.parse import urlencode

import click
import orjson

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_SECONDS = 300.0

F = TypeVar("F", bound=Callable[..., Any])


def server_options(command: F) -> F:
    """`--url` and `--project-secret`, shared by every command that calls a running server."""
    command = click.option(
        "--project-secret",
        required=True,
        envvar="KINDRED_PROJECT_SECRET",
        help="The project's secret, as `kindred project show NAME` prints it "
        "[env KINDRED_PROJECT_SECRET].",
    )(command)
    return click.option(
        "--url",
        default=DEFAULT_URL,
        show_default=True,
        envvar="KINDRED_URL",
        help="The running kindred server [env KINDRED_URL].",
    )(command)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the API's JSON answer instead of text."
)


@dataclass(frozen=True, slots=True)
class ServerClient:
    """The API of the kindred server at `url`, authenticated by a project secret."""

    url: str
    secret: str

    def get_json(self, path: str, params: Mapping[str, str]) -> Any:
        with self.open(path, params) as response:
            return orjson.loads(response.read())

    def post_json(self, path: str, body: Mapping[str, str]) -> Any:
        with self.open(path, {}, body=body) as response:
            return orjson.loads(response.read())

    @contextmanager
    def open(
        self, path: str, params: Mapping[str, str], *, body: Mapping[str, str] | None = None
    ) -> Iterator[HTTPResponse]:
        """The response to GET `path` (POST of a JSON `body`, if given); ClickException if the
        server cannot be reached or answers with an error."""
        request = self._request(path, params, body)
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
        except urllib.error.HTTPError as exc:
            raise click.ClickException(_http_error_message(exc)) from None
        except urllib.error.URLError as exc:
            raise click.ClickException(self._unreachable_message(exc.reason)) from None
        except TimeoutError as exc:
            raise click.ClickException(self._unreachable_message(exc)) from None
        with response:
            yield response

    def _request(
        self, path: str, params: Mapping[str, str], body: Mapping[str, str] | None
    ) -> urllib.request.Request:
        url = self.url.rstrip("/") + path
        if params:
            url += "?" + urlencode(params)
        credentials = base64.b64encode(f"{self.secret}:".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        if body is None:
            return urllib.request.Request(url, headers=headers)
        headers["Content-Type"] = "application/json"
        return urllib.request.Request(url, data=orjson.dumps(body), headers=headers, method="POST")

    def _unreachable_message(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            what = "nothing is listening there (connection refused)"
        else:
            what = str(reason)
        return (
            f"cannot reach kindred at {self.url}: {what}. Start the server with `kindred serve`, "
            "or pass --url (or set KINDRED_URL) to the address it listens on."
        )


def _http_error_message(exc: urllib.error.HTTPError) -> str:
    body = exc.read()
    try:
        message = str(orjson.loads(body)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = body.decode("utf-8", "replace").strip() or exc.reason
    if exc.code == 401:
        message += (
            "\nCheck --project-secret (or KINDRED_PROJECT_SECRET): it is the project's secret, "
            "which `kindred project show NAME` prints."
        )
    return f"the server answered {exc.code}: {message}"


def echo_json(value: object) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def format_ms(time_ms: int) -> str:
    """Unix milliseconds as a UTC time a person reads."""
    try:
        moment = dt.datetime.fromtimestamp(time_ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{time_ms} ms"
    return moment.strftime("%Y-%m-%d %H:%M:%S")
