from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from kindred import __version__
from kindred.cli import main


def test_version_option_prints_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"kindred, version {__version__}\n"


def test_help_describes_kindred_and_lists_modes_command() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    assert "Mixpanel-compatible" in result.output
    assert "modes" in result.output


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
