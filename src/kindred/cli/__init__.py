"""The `kindred` command line: one click group that every subcommand hangs off."""

from __future__ import annotations

import click

from kindred import __version__
from kindred.cli.export import export
from kindred.cli.identity import identity
from kindred.cli.import_events import import_events
from kindred.cli.projects import project, service_account
from kindred.cli.reports import funnel, retention
from kindred.cli.serve import serve
from kindred.identity import IdentityMode

MODE_DESCRIPTIONS = {
    IdentityMode.ORIGINAL: "Original ID Merge: $identify, $create_alias and $merge join ids.",
    IdentityMode.SIMPLIFIED: "Simplified ID Merge: an event with $device_id and $user_id links them.",
    IdentityMode.LEGACY: "Legacy: $create_alias maps an alias to one distinct_id, not retroactively.",
}


@click.group()
@click.version_option(__version__, prog_name="kindred")
def main() -> None:
    """kindred is a self-hosted, Mixpanel-compatible product analytics server."""


@main.command()
def modes() -> None:
    """List the identity modes a project can use."""
    for mode in IdentityMode:
        click.echo(f"{mode:<11} {MODE_DESCRIPTIONS[mode]}")


main.add_command(serve)
main.add_command(project)
main.add_command(service_account)
main.add_command(import_events)
main.add_command(export)
main.add_command(identity)
main.add_command(funnel)
main.add_command(retention)
