"""`kindred funnel` and `kindred retention`: the Query API's reports, printed as tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import orjson

from kindred.cli.client import ServerClient, json_option, server_options

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.option("--from-date", type=DATE, required=True, help="First day, yyyy-mm-dd (UTC).")
@click.option("--to-date", type=DATE, required=True, help="Last day, yyyy-mm-dd, included.")
@click.option("--step", "steps", multiple=True, help="An event name; give two or more, in order.")
@click.option("--funnel-id", type=int, help="A saved funnel, instead of --step.")
@click.option("--length", type=int, help="The conversion window [default: 7, or the saved one].")
@click.option(
    "--length-unit", type=click.Choice(["second", "minute", "hour", "day"]), help="[default: day]"
)
@click.option("--where", help='Filter every step, e.g. properties["$browser"] == "Chrome".')
@server_options
@json_option
def funnel(
    from_date: dt.datetime,
    to_date: dt.datetime,
    steps: tuple[str, ...],
    funnel_id: int | None,
    length: int | None,
    length_unit: str | None,
    where: str | None,
    url: str,
    project_secret: str,
    as_json: bool,
) -> None:
    """Print a funnel over the whole date range: people per step and their conversion."""
    if funnel_id is None and len(steps) < 2:
        raise click.UsageError("give two or more --step EVENT options, or --funnel-id")
    days = (to_date - from_date).days + 1
    params = {
        "from_date": f"{from_date:%Y-%m-%d}",
        "to_date": f"{to_date:%Y-%m-%d}",
        "interval": str(max(days, 1)),  # one bucket: the whole range
        "funnel_id": None if funnel_id is None else str(funnel_id),
        "events": orjson.dumps([{"event": s} for s in steps]).decode() if steps else None,
        "length": None if length is None else str(length),
        "length_unit": length_unit,
        "where": where,
    }
    answer = ServerClient(url, project_secret).get_json("/api/query/funnels", _given(params))
    if as_json:
        click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2))
        return
    (bucket,) = answer["data"].values()
    rows = [
        [
            str(n),
            step["event"],
            f"{step['count']:,}",
            _percent(step["step_conv_ratio"]),
            _percent(step["overall_conv_ratio"]),
            _duration(step["avg_time"]),
        ]
        for n, step in enumerate(bucket["steps"], start=1)
    ]
    _print_table(["Step", "Event", "People", "From previous", "Overall", "Avg time"], rows)


@click.command()
@click.option("--from-date", type=DATE, required=True, help="First cohort day, yyyy-mm-dd.")
@click.option("--to-date", type=DATE, required=True, help="Last cohort day, yyyy-mm-dd.")
@click.option("--born-event", help="The event that makes a cohort (required for birth).")
@click.option("--event", help="The event that counts as coming back [default: any event].")
@click.option(
    "--type",
    "retention_type",
    type=click.Choice(["birth", "compounded"]),
    default="birth",
    show_default=True,
)
@click.option(
    "--unit", type=click.Choice(["day", "week", "month"]), default="day", show_default=True
)
@click.option("--periods", type=int, default=7, show_default=True, help="Periods after the 0th.")
@server_options
@json_option
def retention(
    from_date: dt.datetime,
    to_date: dt.datetime,
    born_event: str | None,
    event: str | None,
    retention_type: str,
    unit: str,
    periods: int,
    url: str,
    project_secret: str,
    as_json: bool,
) -> None:
    """Print retention by cohort: of the people in each cohort, the share back in each period."""
    params = {
        "from_date": f"{from_date:%Y-%m-%d}",
        "to_date": f"{to_date:%Y-%m-%d}",
        "born_event": born_event,
        "event": event,
        "retention_type": retention_type,
        "unit": unit,
        "interval_count": str(periods),
    }
    answer = ServerClient(url, project_secret).get_json("/api/query/retention", _given(params))
    if as_json:
        click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2))
        return
    header = ["Cohort", "People", *(f"{unit} {n}" for n in range(periods + 1))]
    rows = [
        [cohort, f"{row['first']:,}", *(_share(n, row["first"]) for n in row["counts"])]
        for cohort, row in answer.items()
    ]
    _print_table(header, rows)


def _given(params: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in params.items() if value is not None}


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _share(count: int, total: int) -> str:
    return "-" if not total else f"{count * 100 / total:.1f}%"


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {rest}s" if minutes else f"{rest}s"
