"""`python -m selfheal`: the command-line face."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see run.py: set before sklearn loads

try:
    from selfheal.cli import main as _main
except ImportError as exc:  # run by an interpreter without the dependencies
    name = getattr(exc, "name", None) or str(exc)
    sys.stderr.write(
        f"selfheal: error: the Python package {name!r} is missing from {sys.executable}; "
        "run `make install` and use .venv/bin/selfheal (or `source .venv/bin/activate` "
        "first)\n"
    )
    raise SystemExit(1) from None


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
