"""Let `python -m kindred` run the command line."""

from __future__ import annotations

from kindred.cli import main

if __name__ == "__main__":
    main(prog_name="kindred")
