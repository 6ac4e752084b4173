"""The full gate's forwarder rows: CPU per GiB of pcp-forward against Twisted's portforward.

Runs ``benchmarks/forward_bench.py --skip-slow --json FILE`` (loopback, rounds
interleaved) and reads, for each forwarder, its median CPU seconds per GiB:
any object in the JSON with a ``name`` (or ``forwarder``) and a key naming CPU
per GiB. One row per pcp forwarder (``pcp-forward`` on each loop, ``pcp.aio``):
its figure / portforward's (lower is better).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from pcp.bench.engine import Row
from pcp.bench.workloads import Case

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "forward_bench.py"
BYTES = "256M"
LABEL = "256MiB"

__all__ = ["cpu_per_gib", "rows"]


def _objects(node: Any) -> Iterator[Dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def cpu_per_gib(document: Any) -> Dict[str, float]:
    """Forwarder name -> CPU seconds per GiB, from forward_bench.py's JSON."""
    out: Dict[str, float] = {}
    for obj in _objects(document):
        name = obj.get("name", obj.get("forwarder"))
        for key, value in obj.items():
            if isinstance(name, str) and isinstance(value, (int, float)) and re.search(r"cpu.*gib", key, re.I):
                out[name] = float(value)
    return out


def rows(progress: Optional[Callable[[str], None]] = None) -> List[Row]:
    """One row per pcp forwarder (pcp-forward on each loop, pcp.aio) against portforward."""
    fd, path = tempfile.mkstemp(prefix="pcp-forward-", suffix=".json")
    os.close(fd)
    try:
        proc = subprocess.run([sys.executable, str(SCRIPT), "--bytes", BYTES, "--rounds", "3", "--skip-requests",
                               "--skip-churn", "--skip-slow", "--json", path],
                              capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode != 0:
            row = Row("cpu", _case("pcp-forward"), "portforward")
            row.skipped = f"forward_bench.py failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"
            return [row]
        with open(path, encoding="utf-8") as fh:
            figures = cpu_per_gib(json.load(fh))
    finally:
        os.unlink(path)
    if "portforward" not in figures or not any(n.startswith("pcp") for n in figures):
        row = Row("cpu", _case("pcp-forward"), "portforward")
        row.skipped = f"forward_bench.py's JSON names no pcp and portforward CPU per GiB (found {sorted(figures)})"
        return [row]
    out = []
    for name in sorted(n for n in figures if n.startswith("pcp")):
        mine, theirs = figures[name], figures["portforward"]
        row = Row("cpu", _case(name), "portforward", mine, theirs, mine / theirs if theirs else None)
        out.append(row)
        if progress is not None:
            progress(f"forwarder CPU per GiB: {name} {figures[name]:.2f} s, portforward {figures['portforward']:.2f} s")
    return out


def _case(name: str) -> Case:
    return Case("forward", f"{LABEL},{name}", writes=1, nbytes=256 << 20)
