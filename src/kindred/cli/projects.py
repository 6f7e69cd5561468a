"""`kindred project ...` and `kindred service-account ...`: manage projects beside a running server.

They open only the metadata store, which several processes may open at once, so a running server
serves a new project at once.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import orjson

from kindred.identity import IdentityMode
from kindred.server import create_project, open_metadata
from kindred.settings import Settings
from kindred.storage.base import MetadataStore, Project
from kindred.storage.errors import ProjectExistsError, ProjectHasDataError

MODES = click.Choice([str(mode) for mode in IdentityMode])
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The server's data dir [env KINDRED_DATA_DIR; default ./kindred-data].",
)


@contextmanager
def _metadata(data_dir: Path | None) -> Iterator[MetadataStore]:
    meta = open_metadata(Settings.from_env(data_dir=data_dir))
    try:
        yield meta
    finally:
        meta.close()


def _echo_json(value: object) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _as_json(project: Project) -> dict[str, object]:
    fields = dataclasses.asdict(project)
    fields["identity_mode"] = str(project.identity_mode)
    return fields


def _find(meta: MetadataStore, name: str) -> Project:
    project = meta.project_by_name(name)
    if project is None and name.isdigit():
        project = meta.project(int(name))
    if project is None:
        names = ", ".join(p.name for p in meta.projects()) or "none yet"
        raise click.ClickException(f"no project named {name!r}; the projects are: {names}")
    return project


@click.group()
def project() -> None:
    """Create, list and change projects."""


@project.command("create")
@click.argument("name")
@click.option("--token", default=None, help="The project token (default: generated).")
@click.option("--secret", default=None, help="The project secret (default: generated).")
@click.option("--identity-mode", type=MODES, default="original", show_default=True)
@data_dir_option
def create(
    name: str, token: str | None, secret: str | None, identity_mode: str, data_dir: Path | None
) -> None:
    """Create a project and print it as JSON, secret included."""
    with _metadata(data_dir) as meta:
        try:
            created = create_project(
                meta, name, token=token, secret=secret, identity_mode=IdentityMode(identity_mode)
            )
        except ProjectExistsError as exc:
            raise click.ClickException(str(exc)) from None
        _echo_json(_as_json(created))


@project.command("list")
@data_dir_option
def list_projects(data_dir: Path | None) -> None:
    """List every project as JSON."""
    with _metadata(data_dir) as meta:
        _echo_json([_as_json(p) for p in meta.projects()])


@project.command("show")
@click.argument("name")
@data_dir_option
def show(name: str, data_dir: Path | None) -> None:
    """Print one project, by name or id, as JSON."""
    with _metadata(data_dir) as meta:
        _echo_json(_as_json(_find(meta, name)))


@project.command("set-mode")
@click.argument("name")
@click.argument("identity_mode", type=MODES)
@data_dir_option
def set_mode(name: str, identity_mode: str, data_dir: Path | None) -> None:
    """Change a project's identity mode; only allowed while it holds no data."""
    with _metadata(data_dir) as meta:
        found = _find(meta, name)
        try:
            changed = meta.set_identity_mode(found.id, IdentityMode(identity_mode))
        except ProjectHasDataError as exc:
            raise click.ClickException(str(exc)) from None
        _echo_json(_as_json(changed))


@click.group("service-account")
def service_account() -> None:
    """Create service accounts: user:secret credentials sent with ?project_id=."""


@service_account.command("create")
@click.argument("project_name")
@click.argument("username")
@click.option("--secret", default=None, help="The account's secret (default: generated).")
@data_dir_option
def create_service_account(
    project_name: str, username: str, secret: str | None, data_dir: Path | None
) -> None:
    """Create a service account for a project and print it as JSON, secret included."""
    with _metadata(data_dir) as meta:
        found = _find(meta, project_name)
        account = meta.create_service_account(found.id, username, secret or secrets.token_hex(16))
        _echo_json(dataclasses.asdict(account))
