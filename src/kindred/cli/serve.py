"""`kindred serve`: run the server on a data dir."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import uvicorn

from kindred.app import create_app
from kindred.cli.interpreter import collect_garbage_less_often
from kindred.errors import ConfigError
from kindred.server import build_services, ensure_default_project
from kindred.settings import Settings

GIL_SWITCH_INTERVAL_SECONDS = 0.0005


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the data lives [env KINDRED_DATA_DIR; default ./kindred-data].",
)
@click.option(
    "--host", default=None, help="Address to listen on [env KINDRED_HOST; default 127.0.0.1]."
)
@click.option(
    "--port", type=int, default=None, help="Port to listen on [env KINDRED_PORT; default 8000]."
)
def serve(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Run the server: Mixpanel's ingestion endpoints and read APIs."""
    try:
        settings = Settings.from_env(data_dir=data_dir, host=host, port=port)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    services = build_services(settings)
    project = ensure_default_project(services.meta)
    url = f"http://{settings.host}:{settings.port}"
    if project is not None:
        click.echo(f"Created project {project.name!r} (original identity mode).")
        click.echo(f"  token:  {project.token}")
        click.echo(f"  secret: {project.secret}")
        click.echo("Point the browser SDK at this server with:")
        click.echo(f'  mixpanel.init("{project.token}", {{api_host: "{url}"}});')
    click.echo(f"kindred is listening on {url} (data in {settings.data_dir})")

    app = create_app(services)
    # The event loop and the pipeline's writer thread share the GIL. The writer gives it up for
    # every DuckDB call and must win it back from a busy loop, which by default takes up to 5 ms
    # each time: several such waits per flush left every /track request waiting on them.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    collect_garbage_less_often()
    try:
        # kindred never reads client addresses, so uvicorn's proxy-header rewriting is skipped.
        uvicorn.run(
            app, host=settings.host, port=settings.port, log_level="warning", proxy_headers=False
        )
    finally:
        services.store.close()
        services.meta.close()
