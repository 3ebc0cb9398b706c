"""Run every benchmark (`python -m benchmarks [NAME ...]`), each in its own process.

Each benchmark prints whatever it likes and ends with one JSON line:
`{"benchmark": ..., "value": ..., "unit": ..., "baseline": ..., "ratio": ...}`.
This runner checks that line and prints a summary; it exits non-zero if a benchmark failed
or did not end with a valid result line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIRED = {"benchmark", "value", "unit", "baseline", "ratio"}


def main(names: list[str]) -> int:
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    chosen = [m for m in modules if not names or m in names or m.removeprefix("bench_") in names]
    failures = 0
    results = []
    for module in chosen:
        print(f"== {module}", flush=True)
        run = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        lines = run.stdout.strip().splitlines()
        try:
            result = json.loads(lines[-1])
            if run.returncode != 0 or not result.keys() >= REQUIRED:
                raise ValueError(f"exit {run.returncode}, keys {sorted(result)}")
        except (IndexError, ValueError) as error:
            print(f"!! {module} did not produce a result line: {error}", file=sys.stderr)
            failures += 1
            continue
        results.append(result)
    print("== summary")
    for result in results:
        print(json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
