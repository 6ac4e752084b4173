"""``python -m pcp.bench``: pcp side by side with its alternatives, on this machine.

By default it times every workload (fresh proxy per round, rounds
interleaved) against pcp compiled, pcp's pure-Python twin, the plain-Python
reference proxy (``pcp._reference``), Twisted's
``twisted.protocols.pcp.ProducerConsumerProxy`` when it is installed, and the
physical references (a direct ``consumer.write``, a memmove). ``--count`` adds
the rows that do not depend on the machine's load: instructions per write
counted by valgrind's callgrind, and peak memory per round. The release gate
(``python -m benchmarks.gate``, in a clone) runs the same engine and judges
the rows against its thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Dict, List, Optional, Sequence

from pcp.bench import engine, report
from pcp.bench.alternatives import load_alternatives

__all__ = ["main", "plot"]


def plot(rows: Sequence[engine.Row], path: str) -> None:
    """Draw time per write against N for the buffered workload (same chunk), log-log, to *path*."""
    import matplotlib  # type: ignore[import-not-found, unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    series: Dict[str, Dict[int, float]] = {}
    for row in rows:
        if row.metric != "time" or row.case.workload != "buffered" or row.case.chunks != "same":
            continue
        if row.compiled is not None:
            series.setdefault("compiled", {})[row.case.n] = row.compiled / row.case.writes * 1e9
        if row.other is not None:
            series.setdefault(row.alt, {})[row.case.n] = row.other / row.case.writes * 1e9
    labels = {"compiled": "pcp compiled", "twin": "pcp pure-Python twin",
              "reference": "plain Python reference", "twisted": "twisted.protocols.pcp (flush on str)"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in series.items():
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], marker="o", label=labels.get(name, name))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (64-byte writes into a fresh paused proxy, then one flush)")
    ax.set_ylabel("ns per write (its share of the flush included)")
    ax.set_title("Per-write cost of a fresh paused proxy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _matplotlib_missing() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return True
    return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: measure, print the table; 0 on success, 2 on bad usage."""
    parser = argparse.ArgumentParser(
        prog="python -m pcp.bench",
        description="pcp compiled side by side with its pure-Python twin, a plain Python "
        "reference proxy and Twisted's twisted.protocols.pcp.")
    parser.add_argument("--count", action="store_true",
                        help="add instruction counts (needs valgrind; a few minutes) and peak memory per round")
    parser.add_argument("--plot", metavar="FILE.png", help="draw time per write against N (log-log) to FILE.png")
    parser.add_argument("--json", metavar="FILE", help="write every row (and every timed round) to FILE as JSON")
    parser.add_argument("--rounds", type=int, default=5, help="least timed rounds per case (default 5)")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds per case that extra rounds may use (default 1.0)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes and one round: checks that the command works, measures nothing useful")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.plot and _matplotlib_missing():
        print("pcp.bench: --plot needs matplotlib, which is not installed.\n"
              "Install the bench extra: python -m pip install 'pcp-buffer[bench]'", file=sys.stderr)
        return 2
    alts = load_alternatives()
    if alts["compiled"].missing:
        print(f"pcp.bench: compiled: {alts['compiled'].missing}; nothing to compare", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    mode = "smoke" if args.smoke else "cli"
    entries: List[engine.Entry] = engine.plan(mode)
    if not args.smoke:
        if args.count:
            entries = [e for e in engine.plan("quick") if e.metric != "time"] + entries
        rows = engine.measure(entries, alts, progress, rounds=args.rounds, budget=args.budget)
    else:
        if not args.count:
            entries = [e for e in entries if e.metric == "time"]
        rows = engine.measure(entries, alts, progress, rounds=1, budget=0.0)
    print()
    print(report.format_table(rows))
    print()
    for line in report.notes(alts, rows):
        print(f"note: {line}")
    print(f"({time.perf_counter() - started:.0f} s; the release gate: python -m benchmarks.gate, in a clone)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report.to_json(rows, alts, mode), fh, indent=1)
        print(f"figures written to {args.json}")
    if args.plot:
        plot(rows, args.plot)
        print(f"plot written to {args.plot}")
    return 0
