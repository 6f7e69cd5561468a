"""The `kindred` command line: one click group that every subcommand hangs off."""

from __future__ import annotations

import click

from kindred import __version__

# Kept here rather than imported from kindred.identity so `kindred --help` works even while
# the identity engine is mid-change. Names follow Mixpanel's ID management settings; see
# https://docs.mixpanel.com/docs/tracking-methods/id-management
IDENTITY_MODES: tuple[tuple[str, str], ...] = (
    ("original", "Original ID Merge: $identify, $create_alias and $merge join ids into one."),
    ("simplified", "Simplified ID Merge: an event with $device_id and $user_id links the two."),
    ("legacy", "Legacy: $create_alias maps an alias to one distinct_id; no retroactive merge."),
)


@click.group()
@click.version_option(__version__, prog_name="kindred")
def main() -> None:
    """kindred is a self-hosted, Mixpanel-compatible product analytics server."""


@main.command()
def modes() -> None:
    """List the identity modes a project can use."""
    for name, description in IDENTITY_MODES:
        click.echo(f"{name:<11} {description}")
