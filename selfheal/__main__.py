"""`python -m selfheal`: the command-line face."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see run.py: set before sklearn loads

from selfheal.cli import main as _main  # noqa: E402


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
