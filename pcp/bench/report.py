"""Rows as text and as JSON, for both front ends."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence

from pcp.bench.alternatives import Alternative
from pcp.bench.engine import Row
from pcp.bench.workloads import TWISTED_SKIP, Case

__all__ = ["environment", "figure", "format_ratio", "format_table", "notes", "rows_from_json", "to_json"]

UNITS = {
    "instructions": "instructions per write, callgrind, one fresh round",
    "copies": "instructions in memcpy/memmove, per byte through (1.0 = one copy with rep movsb)",
    "memory": "peak traced memory of one fresh round (tracemalloc)",
    "resident": "growth of peak resident memory over one fresh round (VmHWM)",
    "cpu": "forwarder CPU seconds per GiB, loopback (benchmarks/forward_bench.py)",
    "time": "per write, best of interleaved fresh rounds, each in a forked child (first-touch page faults "
            "included); ratio = median of paired rounds [95% interval]",
}


def figure(row: Row, value: Optional[float]) -> str:
    """A round's figure of *row* as the table shows it (per write, per byte or per round)."""
    if value is None:
        return "-"
    if row.metric == "instructions":
        return f"{value / row.case.writes:,.0f} I"
    if row.metric == "copies":
        return f"{value / row.case.nbytes:.3f} I/B"
    if row.metric in ("memory", "resident"):
        return f"{value / (1 << 20):,.1f} MiB"
    if row.metric == "cpu":
        return f"{value:.2f} s/GiB"
    ns = value / row.case.writes * 1e9
    if ns < 1e3:
        return f"{ns:.1f} ns"
    return f"{ns / 1e3:.1f} us" if ns < 1e6 else f"{ns / 1e6:.1f} ms"


def format_ratio(row: Row) -> str:
    """The ratio, with its interval for time rows and the speed-up when it is large."""
    if row.ratio is None:
        return "-"
    text = f"{row.ratio:.3g} ({1 / row.ratio:,.0f}x)" if row.ratio < 0.1 else f"{row.ratio:.3f}"
    if row.interval is not None:
        text += f" [{row.interval[0]:.3f}, {row.interval[1]:.3f}]"
    return text


def format_table(rows: Sequence[Row], extra: Optional[Dict[int, List[str]]] = None,
                 extra_head: Sequence[str] = ()) -> str:
    """One line per row: metric, case, alternative, compiled's figure, the other's, the ratio.

    *extra* adds columns (by row index) under *extra_head*, for the gate's verdicts.
    """
    head = f"{'metric':<12} {'case':<28} {'vs':<10} {'pcp':>12} {'it':>12} {'ratio':>26}"
    for title in extra_head:
        head += f"  {title}"
    lines = [head, "-" * len(head)]
    for i, row in enumerate(rows):
        if row.skipped:
            line = f"{row.metric:<12} {row.case.key:<28} {row.alt:<10} {'-':>12} {'-':>12} {'-':>26}"
            reason = row.skipped if len(row.skipped) < 70 else row.skipped.split(":")[0]
            line += f"  skipped: {reason}"
        else:
            line = (f"{row.metric:<12} {row.case.key:<28} {row.alt:<10} {figure(row, row.compiled):>12} "
                    f"{figure(row, row.other):>12} {format_ratio(row):>26}")
        for column in (extra or {}).get(i, []):
            line += f"  {column}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def notes(alts: Dict[str, Alternative], rows: Sequence[Row] = ()) -> List[str]:
    """What the table does not say: units, missing alternatives, Twisted's bytes failure."""
    out = [f"{metric}: {UNITS[metric]}" for metric in UNITS if any(r.metric == metric for r in rows)]
    out.append("ratio = pcp compiled's figure / the alternative's (lower is better); every round is a fresh proxy")
    for name, alt in alts.items():
        if alt.missing:
            out.append(f"{name}: {alt.missing}")
        elif alt.note:
            out.append(f"{name}: {alt.note}")
    if "twisted" in alts and not alts["twisted"].missing:
        out.append(f"twisted: {TWISTED_SKIP}")
    return out


def environment() -> Dict[str, Any]:
    """Where the figures were measured."""
    import pcp
    from pcp.bench.counting import valgrind_version

    twisted_version: Optional[str]
    try:
        from twisted import __version__ as twisted_version
    except ImportError:
        twisted_version = None
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "pcp": getattr(pcp, "__version__", "?"),
        "extensions": pcp.EXTENSIONS,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
        "load": load,
        "twisted": twisted_version,
        "valgrind": valgrind_version(),
        "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def rows_from_json(document: Dict[str, Any]) -> List[Row]:
    """The rows of a document written by ``to_json`` (to judge a saved run again)."""
    rows = []
    for item in document.get("rows", []):
        interval = item.get("interval")
        copies = item.get("copies")
        rows.append(Row(item["metric"], Case(**item["case_fields"]), item["alt"], item.get("compiled"),
                        item.get("other"), item.get("ratio"), tuple(interval) if interval else None,
                        len(next(iter((item.get("rounds") or {}).values()), [])),
                        tuple(copies) if copies else None, item.get("skipped", ""), item.get("rounds") or {}))
    return rows


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def to_json(rows: Sequence[Row], alts: Dict[str, Alternative], mode: str) -> Dict[str, Any]:
    """Every row with its figures (and every time round), where and how they were measured."""
    out: Dict[str, Any] = {"mode": mode, "environment": environment(), "notes": notes(alts, rows), "rows": []}
    for row in rows:
        out["rows"].append({
            "key": row.key, "metric": row.metric, "case": row.case.key, "alt": row.alt,
            "case_fields": asdict(row.case),
            "writes": row.case.writes, "bytes": row.case.nbytes,
            "compiled": row.compiled, "other": row.other, "ratio": row.ratio,
            "interval": list(row.interval) if row.interval else None,
            "copies": list(row.copies) if row.copies else None,
            "skipped": row.skipped, "rounds": row.raw or None,
        })
    return out
