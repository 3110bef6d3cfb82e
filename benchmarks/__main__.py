"""``python -m benchmarks [--quick]``: see :mod:`benchmarks.cli` (the options and what is
measured), :mod:`benchmarks.runner`, :mod:`benchmarks.report` and :mod:`benchmarks.machine`."""

from __future__ import annotations

import sys

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
