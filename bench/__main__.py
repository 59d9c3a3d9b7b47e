"""Runs the benchmarks one after another, each with its defaults (see bench/README.md).

Run: .venv/bin/python -m bench [name ...]   (e.g. `backbone gateway_overhead`; all of them when none is named)
Each benchmark is its own `python -m bench.<name>` process, so one that fails does not stop the others.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("backbone", "registry_import", "matters_throughput", "mediation_sweep", "disclosure_public",
              "gateway_overhead")


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = [n for n in names or BENCHMARKS if subprocess.call([sys.executable, "-m", f"bench.{n}"]) != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
