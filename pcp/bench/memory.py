"""Peak memory of one round: traced allocations (deterministic) and resident memory.

``traced_peak`` runs each round under ``tracemalloc``: the peak of the bytes
allocated through Python's allocators (bytes objects, lists, and pcp's ring,
which uses ``PyMem_Malloc``) above what was allocated when the round began.
The same code allocates the same sizes, so the figure repeats (to a few
bytes of interpreter bookkeeping in megabytes); it is what the gate checks.

``resident_peak`` runs one round in a fresh process and reports the growth of
its peak resident set (``VmHWM`` in ``/proc/self/status``, Linux only) over
its resident set just before the round: what the kernel had to provide,
fragmentation and page faults included. It moves a little from run to run.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tracemalloc
from dataclasses import asdict
from typing import Dict, Optional, Sequence, Tuple

from pcp.bench.alternatives import Alternative, load_alternatives
from pcp.bench.workloads import Case, build_round

__all__ = ["resident_peak", "traced_peak"]


def traced_peak(case: Case, alt: Alternative) -> int:
    """Peak traced bytes of one fresh round of *case* on *alt*, above where it started."""
    prepare = build_round(case, alt)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        run, check = prepare()
        gc.collect()
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        run()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        if not was_tracing:
            tracemalloc.stop()
    check()
    return peak


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def resident_peak(case: Case, alt: str) -> Optional[int]:
    """Growth of peak resident memory over one fresh round, in a fresh process; None off Linux."""
    if not os.path.exists("/proc/self/status"):
        return None
    from pcp.bench.counting import worker_environment

    env = worker_environment()
    proc = subprocess.run(
        [sys.executable, "-m", "pcp.bench.memory", json.dumps({"case": asdict(case), "alt": alt})],
        env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"resident-memory round of {case.key} on {alt} failed:\n{proc.stderr[-2000:]}")
    return int(proc.stdout.split()[-1])


def _resident_worker(spec: str) -> int:
    job = json.loads(spec)
    case = Case(**job["case"])
    run, check = build_round(case, load_alternatives(only=[job["alt"]])[job["alt"]])()
    gc.collect()
    # Lower the high-water mark to the current resident set where the kernel allows it.
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass
    before = _status("VmRSS")
    run()
    peak = _status("VmHWM")
    check()
    print(max(0, peak - before))
    return 0


def traced_peaks(jobs: Sequence[Tuple[Case, str]], alts: Dict[str, Alternative]) -> Dict[Tuple[str, str], int]:
    """``traced_peak`` of every (case, alternative), by (case key, alternative)."""
    return {(case.key, alt): traced_peak(case, alts[alt]) for case, alt in jobs}


if __name__ == "__main__":
    sys.exit(_resident_worker(sys.argv[1]))
