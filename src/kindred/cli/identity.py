"""`kindred identity show|explain|unmerge`: look into identity resolution on a running server.

Each command calls the server's /api/kindred/identity API (kindred.api.identity) and prints its
answer for a person to read, or as it came with --json.
"""

from __future__ import annotations

from typing import Any

import click

from kindred.cli.client import ServerClient, echo_json, format_ms, json_option, server_options

IDENTITY_API = "/api/kindred/identity"
INPUT_COLUMNS = ("STATUS", "KIND", "IDS", "TIME (UTC)", "INSERT ID")


@click.group()
def identity() -> None:
    """Inspect identity resolution on a running server, and undo a wrong merge."""


@identity.command("show")
@click.argument("distinct_id")
@server_options
@json_option
def show(distinct_id: str, url: str, project_secret: str, as_json: bool) -> None:
    """Show the person DISTINCT_ID belongs to: its ids, anchors and identity inputs."""
    client = ServerClient(url, project_secret)
    answer = client.get_json(f"{IDENTITY_API}/ids", {"distinct_id": distinct_id})
    if as_json:
        echo_json(answer)
        return

    members = answer["members"]
    click.echo(f"canonical id: {answer['canonical_id']}")
    click.echo(f"members ({len(members)}): {', '.join(members)}")
    if not answer["inputs"]:
        click.echo(f"no identity input names {distinct_id!r}, so it is a person of its own")
        return
    anchors = [f"{a['distinct_id']} (by {_describe(a['input'])})" for a in answer["anchors"]]
    click.echo(f"anchors: {', '.join(anchors) or 'none'}")

    click.echo(f"\ninputs ({len(answer['inputs'])}), oldest first:")
    _echo_inputs(answer["inputs"])


@identity.command("explain")
@click.argument("a")
@click.argument("b")
@server_options
@json_option
def explain(a: str, b: str, url: str, project_secret: str, as_json: bool) -> None:
    """Explain why ids A and B are one person (the inputs linking them), or why they are apart."""
    client = ServerClient(url, project_secret)
    answer = client.get_json(f"{IDENTITY_API}/explain", {"a": a, "b": b})
    if as_json:
        echo_json(answer)
        return

    verdict = "one person" if answer["is_linked"] else "apart"
    click.echo(f"{a!r} and {b!r} are {verdict}: {answer['reason']}")
    if answer["path"]:
        click.echo("path:")
        for number, step in enumerate(answer["path"], start=1):
            click.echo(f"  {number}. {_describe(step)}")
    if answer["refused"]:
        click.echo("refused inputs that would have joined them:")
        for number, outcome in enumerate(answer["refused"], start=1):
            click.echo(f"  {number}. {_describe(outcome)}: {outcome['code']}")


@identity.command("unmerge")
@click.argument("insert_id")
@server_options
@json_option
def unmerge(insert_id: str, url: str, project_secret: str, as_json: bool) -> None:
    """Withdraw the identity event with $insert_id INSERT_ID, as if it had never arrived.

    Every report sees the change at once: the events of the ids it joined count under their own
    person again. `kindred identity show ID` lists the $insert_id of each input.
    """
    client = ServerClient(url, project_secret)
    answer = client.post_json(f"{IDENTITY_API}/unmerge", {"insert_id": insert_id})
    if as_json:
        echo_json(answer)
        return

    for withdrawn in answer["withdrawn"]:
        click.echo(f"withdrew {_describe(withdrawn)}")
    for distinct_id, canonical in answer["canonical_ids"].items():
        person = "its own person" if canonical == distinct_id else f"part of {canonical}"
        click.echo(f"  {distinct_id} is now {person}")
    reclassified = answer["reclassified"]
    if reclassified:
        inputs = "input" if len(reclassified) == 1 else "inputs"
        click.echo(f"{len(reclassified)} other {inputs} changed outcome:")
        _echo_inputs(reclassified)


def _echo_inputs(inputs: list[dict[str, Any]]) -> None:
    """A table of inputs, each refused one followed by its reason."""
    rows = [INPUT_COLUMNS]
    rows += [
        (i["status"], i["kind"], _ids(i), format_ms(i["time"]), i["insert_id"] or "-")
        for i in inputs
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(INPUT_COLUMNS))]
    for row, outcome in zip(rows, [None, *inputs], strict=True):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo(("  " + "  ".join(cells)).rstrip())
        if outcome is not None and outcome["status"] == "refused":
            click.echo(f"      {outcome['code']}: {outcome['description']}")


def _ids(inp: dict[str, Any]) -> str:
    """The joining id, then the id it joins: `device -> user`, `alias -> distinct_id`."""
    first, second = inp["ids"]
    return f"{second} -> {first}"


def _describe(inp: dict[str, Any]) -> str:
    insert_id = f", $insert_id {inp['insert_id']}" if inp["insert_id"] else ""
    return f"{inp['kind']} {_ids(inp)} at {format_ms(inp['time'])}{insert_id}"
