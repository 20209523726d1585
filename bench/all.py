"""Run every benchmark, one after the other, each in its own process (a few minutes on 2 cores).

    .venv/bin/python bench/all.py [NAME ...]     e.g. ``bench/all.py ack_latency contention``

The output is Markdown: tables to paste into ``bench/RESULTS.md``.
"""

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = ("ack_latency", "options_search", "provisioning", "store_scaling", "contention")


def main() -> int:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    here = Path(__file__).resolve().parent
    started = time.perf_counter()
    print(f"## Benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    failed = []
    for name in names:
        if subprocess.run([sys.executable, str(here / f"{name}.py")], check=False).returncode:
            failed.append(name)
    outcome = f"; FAILED: {', '.join(failed)}" if failed else "."
    print(f"\nAll done in {time.perf_counter() - started:.0f} s{outcome}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
