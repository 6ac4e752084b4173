"""The release gate's workloads under pytest-benchmark.

One test per workload, size and alternative (pcp compiled, its twin, the
reference proxy, Twisted, and the physical reference where there is one);
pytest-benchmark groups them by case. Each non-compiled test also runs a
compiled round beside every one of its own rounds (alternately before and
after it), so every ratio the gate checks comes from rounds measured side by
side. Run ``python -m benchmarks.gate`` for the verdict, or
``python -m pytest benchmarks`` for the timings and the ratio table.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from benchmarks.gate import Settings
from pcp import bench


def test_workload(request: Any, benchmark: Any, pcp_case: bench.Case, pcp_alt: str,
                  pcp_alternatives: Dict[str, bench.Alternative], pcp_settings: Settings,
                  pcp_results: List[Dict[str, Any]]) -> None:
    """Time one alternative on one case, with compiled rounds interleaved."""
    benchmark.group = pcp_case.key
    entry: Dict[str, Any] = {
        "case": pcp_case.key, "workload": pcp_case.workload, "alt": pcp_alt,
        "writes": pcp_case.writes, "nbytes": pcp_case.nbytes, "times": [], "compiled_times": [],
        "node": request.node.nodeid,
    }
    try:
        subject = bench.build_round(pcp_case, pcp_alternatives[pcp_alt])
    except bench.Skip as exc:
        entry["skipped"] = str(exc)
        pcp_results.append(entry)
        pytest.skip(str(exc))
    compiled = None
    if pcp_alt != "compiled" and pcp_alternatives["compiled"].cls is not None:
        compiled = bench.build_round(pcp_case, pcp_alternatives["compiled"])

    own: List[float] = entry["times"]
    partner: List[float] = entry["compiled_times"]
    warm = subject() + (compiled() if compiled else 0.0)
    rounds = pcp_settings.rounds_for(warm)

    def before() -> None:
        if compiled is not None and len(own) % 2 == 0:
            partner.append(compiled())

    def after() -> None:
        if compiled is not None and len(own) % 2 == 0:
            partner.append(compiled())

    benchmark.pedantic(lambda: own.append(subject()), setup=before, teardown=after, rounds=rounds)
    pcp_results.append(entry)

    best = min(own)
    benchmark.extra_info["ns_per_write"] = round(best / pcp_case.writes * 1e9, 2)
    benchmark.extra_info["gb_per_s"] = round(pcp_case.nbytes / best / 1e9, 3)
    if partner:
        benchmark.extra_info["compiled_ratio"] = round(min(partner) / best, 5)
