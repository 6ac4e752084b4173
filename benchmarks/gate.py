"""The release gate: ``python -m benchmarks.gate [--quick] [--targets] [--write-docs FILE]``.

Measures the rows of ``pcp.bench.engine.plan("quick" | "full")`` with the
engine ``python -m pcp.bench`` uses, prints every ratio beside the rules of
``benchmarks/thresholds.json`` that apply to it, and exits 1 when a gated row
misses one (or could not be measured), 0 otherwise.

How noise is kept out of the verdict:

* CPU-bound rows are judged on **instructions** counted by callgrind (one
  fresh round; start-up excluded by marks around the round), which do not move
  with the machine's load: the same commit gives the same counts run after
  run. Large-chunk rows, where every implementation makes the same single
  copy and time can only tie, are judged on instructions and on the
  instructions spent in memcpy (copies per byte).
* Memory rows are judged on the **peak traced memory** of one fresh round
  (tracemalloc), which repeats exactly.
* Time rows (page faults and copies of large chunks) use fresh proxies, rounds
  interleaved, the median of paired quotients and its 95% distribution-free
  interval; their limits sit well outside that interval, and a row whose
  interval straddles its limit is flagged. Every row is measured once: a
  failure is a failure, no second draw is taken.

``--quick`` is the CI form (N up to 1e5; a few minutes). ``--targets`` also
judges the rules' ``target`` (issue 11's goals for the new core), as the gate
will once ``enforce_targets`` is set in thresholds.json. ``--save FILE``
keeps the run as JSON, ``--results FILE`` judges a saved run again without
measuring, ``--write-docs FILE`` writes the dated Markdown report
(``docs/benchmarks.md``). ``--no-retry`` is accepted for old scripts: the gate
never retries.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from pcp.bench import engine, report
from pcp.bench.alternatives import load_alternatives
from pcp.bench.workloads import TWISTED_SKIP

HERE = Path(__file__).resolve().parent
THRESHOLDS = HERE / "thresholds.json"

__all__ = ["Verdict", "evaluate", "format_gate", "load_thresholds", "main"]


def load_thresholds(path: Path = THRESHOLDS) -> Dict[str, Any]:
    """The committed thresholds."""
    with open(path, encoding="utf-8") as fh:
        data: Dict[str, Any] = json.load(fh)
    return data


@dataclass
class Verdict:
    """What the gate makes of one row."""

    row: engine.Row
    rules: List[Dict[str, Any]] = field(default_factory=list)
    limit: Optional[float] = None
    target: Optional[float] = None
    text: str = "info"
    failed: bool = False
    misses_target: bool = False

    @property
    def gated(self) -> bool:
        """Whether a rule applies to the row."""
        return self.limit is not None


def pattern_matches(pattern: str, key: str) -> bool:
    """Whether row *key* matches *pattern*, where ``*`` matches anything and nothing else is special."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), key) is not None


def _matching(rules: Sequence[Dict[str, Any]], key: str) -> List[Dict[str, Any]]:
    return [rule for rule in rules if pattern_matches(rule["rows"], key)]


def evaluate(rows: Sequence[engine.Row], thresholds: Dict[str, Any], targets: bool = False) -> List[Verdict]:
    """Each row against the rules matching its key (``metric case vs alt``; ``*`` is a wildcard).

    Every matching rule's ``max`` applies (the tightest decides); with
    *targets* (or ``enforce_targets`` in the file) every ``target`` does too.
    """
    targets = targets or bool(thresholds.get("enforce_targets", False))
    verdicts = []
    for row in rows:
        v = Verdict(row, _matching(thresholds["rules"], row.key))
        maxima = [float(rule["max"]) for rule in v.rules if "max" in rule]
        goals = [float(rule["target"]) for rule in v.rules if "target" in rule]
        v.limit = min(maxima) if maxima else None
        v.target = min(goals) if goals else None
        verdicts.append(v)
        if not v.rules:
            v.text = "info" if not row.skipped else "info (not measured)"
            continue
        if row.skipped:
            # Twisted's quadratic path is skipped by design above N = 1e4; anything else unmeasured fails.
            v.failed = row.skipped != TWISTED_SKIP
            v.text = "FAIL: not measured" if v.failed else "skipped (by design)"
            continue
        if row.ratio is None:
            v.failed, v.text = True, "FAIL: no ratio"
            continue
        v.misses_target = v.target is not None and row.ratio > v.target
        limit = v.limit if v.limit is not None else float("inf")
        if targets and v.target is not None:
            limit = min(limit, v.target)
        if row.ratio > limit:
            v.failed = True
            v.text = f"FAIL: > {limit:g}"
        else:
            v.text = "ok"
        if v.target is not None:
            v.text += f"; target {v.target:g} {'missed' if v.misses_target else 'met'}"
        if row.interval is not None and row.interval[0] <= limit < row.interval[1]:
            v.text += "; 95% interval straddles the limit (review it)"
    return verdicts


def format_gate(rows: Sequence[engine.Row], verdicts: Sequence[Verdict], mode: str, notes: Sequence[str]) -> str:
    """The gate's table: every row, its limit and target, the verdict; then the summary."""
    extra = {}
    for i, v in enumerate(verdicts):
        limit = f"<= {v.limit:g}" if v.limit is not None else "-"
        extra[i] = [f"{limit:>9}", v.text]
    lines = [f"pcp release gate ({mode})", report.format_table(rows, extra, (f"{'limit':>9}", "verdict")), ""]
    lines += [f"note: {line}" for line in notes]
    failed = [v for v in verdicts if v.failed]
    missed = [v for v in verdicts if v.misses_target]
    gated = sum(1 for v in verdicts if v.gated)
    if missed:
        lines.append(f"{len(missed)} row(s) miss their issue-11 target: "
                     + ", ".join(v.row.key for v in missed))
    if failed:
        lines.append(f"GATE FAILED: {len(failed)} of {gated} gated row(s): " + ", ".join(v.row.key for v in failed))
    else:
        lines.append(f"gate passed: {gated} gated row(s) within their limits")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure (or load) the rows, print the verdicts; 0 if every gated row holds, 1 if not."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI form: N up to 1e5, a few minutes")
    parser.add_argument("--targets", action="store_true", help="also hold every row to its issue-11 target")
    parser.add_argument("--results", metavar="FILE", help="judge a saved run instead of measuring")
    parser.add_argument("--save", metavar="FILE", help="keep this run's rows (and time rounds) in FILE")
    parser.add_argument("--write-docs", metavar="FILE", help="write the dated Markdown report to FILE")
    parser.add_argument("--no-retry", action="store_true", help="accepted and ignored: the gate never retries")
    parser.add_argument("--parallel", type=int, default=2, help="callgrind workers at a time (default 2)")
    args = parser.parse_args(argv)

    thresholds = load_thresholds()
    started = time.perf_counter()
    if args.results:
        with open(args.results, encoding="utf-8") as fh:
            document = json.load(fh)
        rows = report.rows_from_json(document)
        mode = document.get("mode", "?")
    else:
        mode = "quick" if args.quick else "full"
        alts = load_alternatives()
        if alts["compiled"].missing:
            print(f"GATE FAILED: compiled: {alts['compiled'].missing}", file=sys.stderr)
            return 1

        def progress(line: str) -> None:
            print(f"[{time.perf_counter() - started:5.0f} s] {line}", file=sys.stderr, flush=True)

        rows = engine.measure(engine.plan(mode), alts, progress, parallel=args.parallel)
        if mode == "full":
            from benchmarks import forwarder

            rows += forwarder.rows(progress)
        document = report.to_json(rows, alts, mode)
        document["seconds"] = round(time.perf_counter() - started)
    verdicts = evaluate(rows, thresholds, args.targets)
    document["verdicts"] = {v.row.key: v.text for v in verdicts}
    text = format_gate(rows, verdicts, mode, document.get("notes", []))
    print()
    print(text)
    if not args.results:
        print(f"({time.perf_counter() - started:.0f} s)")
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
    if args.write_docs:
        from benchmarks import docs

        Path(args.write_docs).write_text(docs.markdown(document, rows, verdicts), encoding="utf-8")
        print(f"report written to {args.write_docs}")
    return 1 if any(v.failed for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
