"""The `kindred` command line: one click group that every subcommand hangs off."""

from __future__ import annotations

import importlib

import click

from kindred import __version__
from kindred.identity import IdentityMode

# Each subcommand is imported when it runs, not when `kindred` starts: importing all of them (the
# server, the query engine, the web UI) took a third of a second before any command did anything.
SUBCOMMANDS = {
    "serve": "kindred.cli.serve:serve",
    "project": "kindred.cli.projects:project",
    "service-account": "kindred.cli.projects:service_account",
    "import": "kindred.cli.import_events:import_events",
    "export": "kindred.cli.export:export",
    "identity": "kindred.cli.identity:identity",
    "funnel": "kindred.cli.reports:funnel",
    "retention": "kindred.cli.reports:retention",
}

MODE_DESCRIPTIONS = {
    IdentityMode.ORIGINAL: "Original ID Merge: $identify, $create_alias and $merge join ids.",
    IdentityMode.SIMPLIFIED: "Simplified ID Merge: an event with $device_id and $user_id links them.",
    IdentityMode.LEGACY: "Legacy: $create_alias maps an alias to one distinct_id, not retroactively.",
}


class LazyGroup(click.Group):
    """A group whose subcommands in `SUBCOMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command), target
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="kindred")
def main() -> None:
    """kindred is a self-hosted, Mixpanel-compatible product analytics server."""


@main.command()
def modes() -> None:
    """List the identity modes a project can use."""
    for mode in IdentityMode:
        click.echo(f"{mode:<11} {MODE_DESCRIPTIONS[mode]}")
