"""The `scraper` command (and `python -m scraper`).

Kept apart from cli.py so that it imports nothing: extraction workers (forked by a forkserver)
import the main module of their parent again, and they have no use for the command-line stack.
"""

import sys


def main() -> None:
    from .cli import main as run_command

    run_command()


if __name__ == "__main__":
    sys.exit(main())
