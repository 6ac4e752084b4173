"""Leak tests: millions of mixed operations in a fresh subprocess, memory flat, references intact.

``tests/leak_ops.py`` runs the operations (every accepted input type, refused
writes, pass-through and buffered writes, partial flushes, the marks, growth
and shrinking of the ring, stopped and dropped proxies, the ring on its own)
and reports. Budget: 10 million operations on the compiled extension, 2
million on the pure-Python twin (about 20 s together on one core).

After a warm-up (the first tenth), resident memory must stay within a few MiB
(``RSS_SLACK``) at every checkpoint; the reference count of every object
written must be what it was before; the number of objects the garbage
collector tracks must not grow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("leak_ops.py")
OPS = {"compiled": 10_000_000, "twin": 2_000_000}
RSS_SLACK = 4 * 1024 * 1024


def run_probe(kind: str, ops: int, **env: str) -> dict:
    environ = dict(os.environ, **env)
    environ.pop("PCP_NO_EXTENSIONS", None)
    if kind == "twin":
        environ["PCP_NO_EXTENSIONS"] = "1"
    result = subprocess.run(
        [sys.executable, str(PROBE), str(ops)],
        capture_output=True, text=True, timeout=600, env=environ,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def leaks(report: dict) -> list:
    """What the report shows leaking, as readable lines (empty: nothing)."""
    found = []
    rss = [r for _, r in report["rss"]]
    base = rss[0]
    for ops, r in report["rss"][1:]:
        if r - base > RSS_SLACK:
            found.append(f"RSS grew {(r - base) / 2**20:.1f} MiB by operation {ops}")
    for name, before in report["refcounts_before"].items():
        after = report["refcounts_after"][name]
        if after != before:
            found.append(f"refcount of {name}: {before} -> {after}")
    before, after = report["gc_objects"]
    if after - before > 10:
        found.append(f"gc-tracked objects: {before} -> {after}")
    return found


@pytest.mark.slow
def test_millions_of_operations_leak_nothing(impl):
    report = run_probe(impl.kind, OPS[impl.kind])
    assert report["extensions"] is (impl.kind == "compiled")
    assert report["ops"] >= OPS[impl.kind]
    assert len(report["rss"]) >= 8
    assert leaks(report) == []
    hint, grown, final = report["ring_capacity"]
    assert grown > 200_000 > final >= hint  # the ring grew and shrank back


@pytest.mark.parametrize("leak", ["keep-data", "keep-objects"])
def test_the_probe_sees_a_leak(impl, leak):
    """A consumer that keeps what it is sent (data or written objects) is caught."""
    report = run_probe(impl.kind, 300_000, PCP_LEAK_PROBE_SELFTEST=leak)
    found = leaks(report)
    assert found, report
    if leak == "keep-objects":
        assert any(line.startswith("refcount") for line in found), found
    else:
        assert any(line.startswith("RSS") for line in found), found
