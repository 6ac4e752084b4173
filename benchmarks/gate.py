"""The release gate: ``python -m benchmarks.gate [--quick] [--update-baseline]``.

Runs the benchmark suite (``benchmarks/test_workloads.py`` under
pytest-benchmark), then prints every ratio beside its threshold and its
baseline and exits non-zero when one falls short.

A ratio is pcp compiled's time divided by an alternative's time on the same
case: the median, over rounds, of that quotient for a compiled round run right
beside a round of the alternative, in this run (lower is better: 0.3 means
compiled takes 30% of the alternative's time). Thresholds live in
``benchmarks/thresholds.json``, the ratios of the last release in
``benchmarks/baseline.json``. A gated ratio fails when it misses its threshold
or is more than ``regression_tolerance`` (15%) worse than its baseline.

A failed ratio within 25% of passing is measured once more (its test and
the compiled rounds beside it) and the better of the two runs counts; the
table shows both figures. ``--no-retry`` turns that off.

``--quick`` is the CI form (N up to 1e5, fewer rounds, under 3 minutes).
``--update-baseline`` records this run's ratios as the new baseline (done at
release, after a full run passes its thresholds). ``--results FILE``
re-evaluates a saved run without measuring; ``--save FILE`` keeps this one.
Arguments after ``--`` go to pytest (``-- -k buffered``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
THRESHOLDS = HERE / "thresholds.json"
BASELINE = HERE / "baseline.json"
SUITE = HERE / "test_workloads.py"


@dataclass(frozen=True)
class Settings:
    """How many rounds a test runs: at least *least*, at most *most*, within *budget*
    seconds, and never more than *cap* seconds unless one round takes longer."""

    least: int
    most: int
    budget: float
    cap: float

    @classmethod
    def quick(cls) -> "Settings":
        """The CI form."""
        return cls(least=3, most=30, budget=1.5, cap=20.0)

    @classmethod
    def full(cls) -> "Settings":
        """The release form."""
        return cls(least=5, most=60, budget=4.0, cap=60.0)

    def rounds_for(self, warm: float) -> int:
        """Rounds for a test whose warm-up (subject and compiled partner) took *warm* seconds."""
        if warm <= 0:
            return self.most
        rounds = max(self.least, min(self.most, int(self.budget / warm)))
        if rounds * warm > self.cap:
            rounds = max(1, int(self.cap / warm))
        return rounds


# -- the results of a run ------------------------------------------------------------


def results_document(entries: List[Dict[str, Any]], alternatives: Dict[str, Any], quick: bool) -> Dict[str, Any]:
    """What a run of the suite measured, with where and how (the --pcp-results file)."""
    from pcp import bench

    return {
        "mode": "quick" if quick else "full",
        "environment": bench.environment(),
        "notes": bench.notes(alternatives) if alternatives else [],
        "results": entries,
    }


def load_thresholds(path: Path = THRESHOLDS) -> Dict[str, Any]:
    """The committed thresholds."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_baseline(path: Path = BASELINE) -> Dict[str, float]:
    """The committed baseline ratios by row key (empty if there is none)."""
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        return dict(json.load(fh).get("ratios", {}))


# -- verdicts ------------------------------------------------------------------------


@dataclass
class Row:
    """One ratio of the gate: compiled against one alternative on one case."""

    case: str
    alt: str
    ratio: Optional[float] = None
    compiled_s: Optional[float] = None
    alt_s: Optional[float] = None
    writes: int = 1
    limit: Optional[float] = None
    strict: bool = False
    tie: bool = False
    why: str = ""
    baseline: Optional[float] = None
    regression: bool = True
    verdict: str = "info"
    failed: bool = False
    bound: Optional[float] = None  # the highest ratio that passes, threshold and baseline together
    retried: str = ""
    worse: Optional[float] = None  # of a ratio measured twice, the worse measurement
    node: str = ""

    @property
    def key(self) -> str:
        """The row's name in the baseline."""
        return f"{self.case} vs {self.alt}"

    @property
    def gated(self) -> bool:
        """Whether a threshold applies (and so the baseline check too)."""
        return self.limit is not None


@dataclass
class Report:
    """Every row, and what failed."""

    rows: List[Row] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether the gate fails."""
        return bool(self.problems) or any(row.failed for row in self.rows)

    def ratios(self) -> Dict[str, float]:
        """The ratios --update-baseline records, by row key.

        A ratio measured twice is recorded as the worse of its two
        measurements: the better one is a lucky draw, and a baseline set by
        luck fails the next ordinary run.
        """
        return {row.key: row.ratio if row.worse is None else max(row.ratio, row.worse)
                for row in self.rows if row.ratio is not None}


def paired_ratio(compiled: Sequence[float], other: Sequence[float]) -> float:
    """The median over rounds of compiled's time / the other's time, round by round.

    Each compiled round ran right beside the other's, so both saw the same
    machine; the median shrugs off the rounds a neighbour disturbed.
    """
    return statistics.median(c / o for c, o in zip(compiled, other))


def _rule_applies(rule: Dict[str, Any], case: str, workload: str, alt: str) -> bool:
    return (
        rule["alt"] == alt
        and rule.get("workload", workload) == workload
        and rule.get("case", case) == case
    )


def _tightest(rules: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    def limit(rule: Dict[str, Any]) -> tuple:
        strict = "below" in rule
        return (rule["below"] if strict else rule["max"], not strict)

    return min(rules, key=limit) if rules else None


def evaluate(document: Dict[str, Any], thresholds: Dict[str, Any], baseline: Dict[str, float]) -> Report:
    """Every ratio of a run against its threshold and baseline."""
    report = Report()
    tolerance = float(thresholds.get("regression_tolerance", 0.15))
    tie = float(thresholds.get("tie_tolerance", 0.0))
    rules = thresholds["rules"]
    entries = document.get("results", [])
    compiled = {e["case"]: e for e in entries if e["alt"] == "compiled"}
    if not entries:
        report.problems.append("nothing was measured")
    for e in entries:
        if e["alt"] == "compiled":
            if e.get("skipped"):
                report.problems.append(f"{e['case']}: compiled did not run: {e['skipped']}")
            continue
        row = Row(e["case"], e["alt"], writes=e.get("writes", 1))
        rule = _tightest([r for r in rules if _rule_applies(r, e["case"], e.get("workload", ""), e["alt"])])
        if rule is not None:
            row.strict = "below" in rule
            row.limit = float(rule["below"] if row.strict else rule["max"])
            row.tie = bool(rule.get("tie", False))
            row.regression = bool(rule.get("regression", True))
            row.why = rule.get("why", "")
        row.baseline = baseline.get(row.key)
        row.retried = e.get("retried", "")
        row.worse = e.get("worse_ratio")
        row.node = e.get("node", "")
        report.rows.append(row)
        if e.get("skipped"):
            row.verdict = f"skipped: {e['skipped']}"
            row.failed = row.gated
            continue
        if not e.get("times") or not e.get("compiled_times"):
            row.verdict = "not measured (no compiled rounds beside it)"
            row.failed = row.gated
            continue
        row.compiled_s = min(e["compiled_times"])
        row.alt_s = min(e["times"])
        row.ratio = paired_ratio(e["compiled_times"], e["times"])
        _judge(row, tie, tolerance)
    for case, e in compiled.items():
        if not e.get("skipped") and not e.get("times"):
            report.problems.append(f"{case}: compiled was not measured")
    return report


def _judge(row: Row, tie: float, tolerance: float) -> None:
    if row.limit is None or row.ratio is None:
        row.verdict = "info"
        return
    ok = row.ratio < row.limit if row.strict else row.ratio <= row.limit
    row.bound = row.limit * (1 + tie) if row.tie else row.limit
    if ok:
        row.verdict = "ok"
    elif row.tie and row.ratio <= row.bound:
        row.verdict = f"tie (within {tie:.0%}: no faster)"
    else:
        row.verdict = "FAIL: misses threshold"
        row.failed = True
    if row.baseline and row.regression:
        row.bound = min(row.bound, row.baseline * (1 + tolerance))
        if row.ratio > row.baseline * (1 + tolerance):
            worse = row.ratio / row.baseline - 1
            row.verdict = (row.verdict + "; " if row.failed else "") + f"FAIL: {worse:+.0%} vs baseline"
            row.failed = True
    if row.retried:
        row.verdict += f" ({row.retried})"


# -- the table -----------------------------------------------------------------------


def _per_write(seconds: Optional[float], writes: int) -> str:
    if seconds is None:
        return "-"
    ns = seconds / writes * 1e9
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} us"
    return f"{ns / 1e6:.1f} ms"


def _ratio(ratio: Optional[float]) -> str:
    if ratio is None:
        return "-"
    if ratio < 0.1:
        return f"{ratio:.2g} ({1 / ratio:,.0f}x)"
    return f"{ratio:.3f}"


def _limit(row: Row) -> str:
    if row.limit is None:
        return "-"
    text = f"{'<' if row.strict else '<='} {row.limit:g}"
    if row.limit < 0.1:
        text += f" (>={1 / row.limit:,.0f}x)"
    return text


def format_report(document: Dict[str, Any], report: Report, gate: bool = True) -> str:
    """The gate's table: every ratio beside its threshold, its baseline and the verdict.

    With *gate* False (a plain pytest run) the last line says what the gate
    would make of it, without re-measuring anything.
    """
    head = (f"{'case':<28} {'vs':<10} {'pcp/write':>10} {'it/write':>10} "
            f"{'ratio':>15} {'threshold':>18} {'baseline':>9} {'change':>7}  verdict")
    lines = [
        f"pcp release gate ({document.get('mode', '?')}): ratio = pcp compiled's time / the "
        "alternative's time, median over rounds run side by side (lower is better); "
        "per-write costs are best rounds",
        head,
        "-" * len(head),
    ]
    for row in report.rows:
        change = "-"
        if row.baseline and row.ratio is not None:
            change = f"{row.ratio / row.baseline - 1:+.0%}"
        baseline = f"{row.baseline:.3g}" if row.baseline else "-"
        lines.append(
            f"{row.case:<28} {row.alt:<10} {_per_write(row.compiled_s, row.writes):>10} "
            f"{_per_write(row.alt_s, row.writes):>10} {_ratio(row.ratio):>15} {_limit(row):>18} "
            f"{baseline:>9} {change:>7}  {row.verdict}"
        )
    lines.append("")
    for note in document.get("notes", []):
        lines.append(f"note: {note}")
    for problem in report.problems:
        lines.append(f"FAIL: {problem}")
    failed = [row for row in report.rows if row.failed]
    ties = [row for row in report.rows if row.verdict.startswith("tie")]
    if ties:
        lines.append(f"{len(ties)} ratio(s) tied: compiled is not measurably faster there (see thresholds.json tie_tolerance)")
    if report.failed and not gate:
        lines.append(f"{len(failed)} ratio(s) fall short here; python -m benchmarks.gate gives the "
                     "verdict (it measures a narrow failure twice)")
    elif report.failed:
        lines.append(f"GATE FAILED: {len(failed)} ratio(s) fell short" + (
            f", {len(report.problems)} problem(s)" if report.problems else ""))
    else:
        gated = sum(1 for row in report.rows if row.gated)
        lines.append(f"{'gate passed: ' if gate else ''}{gated} gated ratio(s) within their thresholds and baseline")
    return "\n".join(lines)


def write_baseline(report: Report, document: Dict[str, Any], path: Path = BASELINE) -> None:
    """Record this run's ratios as the baseline, keeping rows this run did not measure."""
    old: Dict[str, Any] = {}
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            old = json.load(fh)
    ratios = dict(old.get("ratios", {}))
    ratios.update({key: round(value, 6) for key, value in report.ratios().items()})
    data = {
        "about": "Ratios (pcp compiled time / alternative time) of the last release; "
                 "python -m benchmarks.gate fails a gated ratio more than regression_tolerance worse. "
                 "Update at release: python -m benchmarks.gate --update-baseline",
        "recorded": document.get("environment", {}),
        "mode": document.get("mode"),
        "ratios": dict(sorted(ratios.items())),
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")


# -- command line --------------------------------------------------------------------


def run_suite(quick: bool, pytest_args: Sequence[str] = (), nodes: Sequence[str] = ()) -> Tuple[Dict[str, Any], int]:
    """Run the benchmark suite (or some of its *nodes*) in a fresh process.

    Returns what it measured and pytest's exit code.
    """
    fd, path = tempfile.mkstemp(prefix="pcp-gate-", suffix=".json")
    os.close(fd)
    command = [
        sys.executable, "-m", "pytest",
        *(nodes or [str(SUITE)]),
        "-q",
        "-p", "no:cacheprovider",
        f"--rootdir={HERE.parent}",
        f"--pcp-results={path}",
        "--benchmark-sort=name",
        "--benchmark-columns=min,median,max,rounds",
    ]
    if quick:
        command.append("--pcp-quick")
    try:
        rc = subprocess.run(command + list(pytest_args), cwd=HERE.parent).returncode
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    finally:
        os.unlink(path)
    return (json.loads(text) if text else {"results": []}), rc


def marginal(report: Report, margin: float = 1.25) -> List[Row]:
    """The failed rows within *margin* of what would pass: worth measuring again."""
    return [
        row for row in report.rows
        if row.failed and row.ratio is not None and row.bound and row.node
        and row.ratio <= row.bound * margin
    ]


def merge_retry(document: Dict[str, Any], retry: Dict[str, Any]) -> Dict[str, Any]:
    """Keep, for each re-measured row, the run with the better ratio; note both."""
    again = {(e["case"], e["alt"]): e for e in retry.get("results", [])}
    merged = []
    for e in document.get("results", []):
        other = again.get((e["case"], e["alt"]))
        if other is None or not other.get("times") or not e.get("times") or not e.get("compiled_times"):
            merged.append(e)
            continue
        first = paired_ratio(e["compiled_times"], e["times"])
        second = paired_ratio(other["compiled_times"], other["times"])
        kept = dict(other if second < first else e)
        kept["retried"] = f"measured twice: {first:.3g}, then {second:.3g}"
        kept["worse_ratio"] = max(first, second)
        merged.append(kept)
    return {**document, "results": merged}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the suite, print the gate's table; 0 if every ratio holds, 1 if not."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI form: N up to 1e5, fewer rounds")
    parser.add_argument("--update-baseline", action="store_true",
                        help="record this run's ratios in benchmarks/baseline.json (at release)")
    parser.add_argument("--force", action="store_true", help="with --update-baseline: even if a threshold fails")
    parser.add_argument("--results", metavar="FILE", help="evaluate a saved run instead of measuring")
    parser.add_argument("--save", metavar="FILE", help="keep this run's measurements in FILE")
    parser.add_argument("--no-retry", dest="retry", action="store_false",
                        help="do not measure a narrowly failed ratio a second time")
    args = parser.parse_args(argv)

    thresholds = load_thresholds()
    baseline = {} if args.update_baseline else load_baseline()
    pytest_rc = 0
    if args.results:
        with open(args.results, encoding="utf-8") as fh:
            document = json.load(fh)
    else:
        document, pytest_rc = run_suite(args.quick, pytest_args)
    report = evaluate(document, thresholds, baseline)
    retry = marginal(report) if not args.results and args.retry else []
    if retry:
        print(f"\nmeasuring {len(retry)} narrowly failed ratio(s) once more: "
              + ", ".join(row.key for row in retry), flush=True)
        again, _ = run_suite(args.quick, nodes=[row.node for row in retry])
        document = merge_retry(document, again)
        report = evaluate(document, thresholds, baseline)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
    if pytest_rc not in (0,):
        report.problems.append(f"the benchmark suite itself failed (pytest exit code {pytest_rc})")
    print()
    print(format_report(document, report))
    if args.update_baseline:
        if report.failed and not args.force:
            print("baseline NOT updated: the run misses a threshold (use --force to record it anyway)")
        else:
            write_baseline(report, document)
            print(f"baseline updated: {BASELINE.relative_to(HERE.parent)} ({len(report.ratios())} ratios)")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
