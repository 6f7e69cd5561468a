"""`kindred export`: a running server's raw event export (/api/2.0/export) into a file.

The export is Mixpanel's NDJSON, one event a line, with every event under its person's canonical
id. Lines are written as they stream in, so an export of any size needs little memory.
"""

from __future__ import annotations

import datetime as dt
import sys

import click
import orjson

from kindred.cli.client import ServerClient, server_options

EXPORT_PATH = "/api/2.0/export"
DAY = click.DateTime(["%Y-%m-%d"])


@click.command("export")
@click.option("--from-date", type=DAY, required=True, help="First day to export, yyyy-mm-dd (UTC).")
@click.option("--to-date", type=DAY, required=True, help="Last day to export, yyyy-mm-dd (UTC).")
@click.option(
    "--event", "events", multiple=True, help="Export only events of this name; repeat for more."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="The file to write the NDJSON to [default: standard output].",
)
@server_options
def export(
    from_date: dt.datetime,
    to_date: dt.datetime,
    events: tuple[str, ...],
    output: str,
    url: str,
    project_secret: str,
) -> None:
    """Export the raw events of a date range as NDJSON, as Mixpanel's export API gives them."""
    if to_date < from_date:
        raise click.BadParameter("must not be before --from-date", param_hint="--to-date")
    params = {"from_date": f"{from_date:%Y-%m-%d}", "to_date": f"{to_date:%Y-%m-%d}"}
    if events:
        params["event"] = orjson.dumps(list(events)).decode()

    exported = 0
    client = ServerClient(url, project_secret)
    with (
        client.open(EXPORT_PATH, params) as response,
        click.open_file(output, "wb") as file,
        click.progressbar(response, label="exporting", show_pos=True, file=sys.stderr) as lines,
    ):
        for line in lines:
            file.write(line)
            exported += 1
    where = "standard output" if output == "-" else output
    click.echo(f"exported {exported} events to {where}", err=True)
