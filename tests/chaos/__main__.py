"""`python -m tests.chaos [--short] [--duration S] [--report FILE]`: one chaos run; prints
the table of faults and invariants and exits 1 when an invariant did not hold."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.chaos.run import Options, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the ~1 minute run of make test")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of faults")
    parser.add_argument("--crowd-rate", type=float, default=4.0, help="crowd actions a second")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workdir", type=Path, help="kept after the run (logs in log/)")
    parser.add_argument("--report", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="townsquare-chaos-"))
    options = Options(
        workdir=workdir,
        short=args.short,
        duration=args.duration,
        crowd_rate=args.crowd_rate,
        seed=args.seed,
    )
    report = asyncio.run(run_chaos(options))
    summary = (
        f"{report.messages} messages sent, {report.rest_faulted} REST calls faulted, "
        f"{report.seconds:.0f} s; logs in {workdir / 'log'}"
    )
    print(report.table())
    print(summary)
    if args.report:
        args.report.write_text(report.table() + "\n\n" + summary + "\n", encoding="utf-8")
    return 0 if report.held else 1


if __name__ == "__main__":
    sys.exit(main())
