"""pcp's benchmark engine: ``python -m pcp.bench`` compares pcp with its alternatives.

The workloads (``pcp.bench.workloads``), the alternatives
(``pcp.bench.alternatives``) and the ways of measuring a round (time,
callgrind instruction counts, peak memory) are written once here;
``python -m pcp.bench`` (this package's command line) and the release gate
(``python -m benchmarks.gate``, in a clone) are two front ends over
``pcp.bench.engine``.
"""

from __future__ import annotations

from pcp.bench.alternatives import ALTERNATIVES, Alternative, load_alternatives
from pcp.bench.engine import METRICS, MODES, Entry, Row, measure, plan
from pcp.bench.workloads import Case, Skip, build_round

__all__ = [
    "ALTERNATIVES",
    "METRICS",
    "MODES",
    "Alternative",
    "Case",
    "Entry",
    "Row",
    "Skip",
    "build_round",
    "load_alternatives",
    "measure",
    "plan",
]
