from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from kindred import __version__
from kindred.cli import SUBCOMMANDS, main


def test_version_option_prints_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"kindred, version {__version__}\n"


def test_help_describes_kindred_and_lists_modes_command() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    assert "Mixpanel-compatible" in result.output
    assert "modes" in result.output


def test_help_lists_every_subcommand_with_its_summary() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == {*SUBCOMMANDS, "modes"}
    assert "Import events from NDJSON" in result.output


def test_a_subcommand_imports_only_its_own_module() -> None:
    # Subcommands load on use: `kindred import` must not pay for the query engine or the web UI.
    code = (
        "import sys; from click.testing import CliRunner; from kindred.cli import main; "
        "CliRunner().invoke(main, ['import', '--help'], catch_exceptions=False); "
        "print(sorted(m for m in sys.modules if m.startswith(('kindred.query', 'kindred.web', "
        "'starlette'))))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "[]\n"


def test_modes_lists_each_identity_mode_on_its_own_line() -> None:
    result = CliRunner().invoke(main, ["modes"])

    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == ["original", "simplified", "legacy"]


def test_unknown_command_exits_with_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])

    assert result.exit_code == 2


def test_python_dash_m_kindred_prints_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "kindred", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"kindred, version {__version__}\n"
