"""pcp.bench (the engine and ``python -m pcp.bench``) and the release gate's verdicts.

Nothing here gates on speed: the workloads run at tiny sizes to check that every
byte arrives, the instruments are checked on cases whose answer is known, and the
gate is fed made-up rows to check its verdicts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pcp.bench import counting, engine, memory, report, timing, workloads
from pcp.bench.alternatives import Alternative, load_alternatives
from pcp.bench.cli import main as bench_main

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import gate  # noqa: E402

ALTS = load_alternatives()
HAVE_TWISTED = ALTS["twisted"].cls is not None
HAVE_VALGRIND = shutil.which("valgrind") is not None
SMOKE = [e.case for e in engine.plan("smoke") if e.metric == "time"]


def _ids(cases):
    return [case.key for case in cases]


def _run(prepare):
    run, check = prepare()
    run()
    check()


# -- the workloads --------------------------------------------------------------------


@pytest.mark.parametrize("case", SMOKE, ids=_ids(SMOKE))
def test_every_workload_delivers_every_byte_on_a_fresh_proxy(impl, case):
    prepare = workloads.build_round(case, Alternative(impl.kind, impl.ProducerConsumerProxy))
    # Each check asserts the consumer got exactly its bytes (in churn, one pause
    # and one resume per cycle); each round builds its own proxy.
    _run(prepare)
    _run(prepare)


@pytest.mark.parametrize("case", SMOKE, ids=_ids(SMOKE))
@pytest.mark.parametrize("name", ["reference", "twisted", "direct", "memmove"])
def test_alternatives_run_every_workload_they_apply_to(case, name):
    if name == "twisted" and not HAVE_TWISTED:
        pytest.skip("Twisted is not installed")
    if name not in case.alternatives:
        with pytest.raises(workloads.Skip):
            workloads.build_round(case, ALTS[name])
        return
    _run(workloads.build_round(case, ALTS[name]))


def test_the_check_fails_when_bytes_go_missing():
    class Lossy(ALTS["reference"].cls):  # type: ignore[misc, name-defined]
        def write(self, data):
            if len(self._chunks) < 3:
                super().write(data)

    with pytest.raises(RuntimeError, match="expected 6400"):
        _run(workloads.build_round(workloads.buffered(100), Alternative("lossy", Lossy)))


@pytest.mark.parametrize("chunks", ["same", "distinct", "fresh"])
def test_chunk_kinds(chunks):
    seen = []

    class Recorder(ALTS["reference"].cls):  # type: ignore[misc, name-defined]
        def write(self, data):
            seen.append(data)
            super().write(data)

    _run(workloads.build_round(workloads.buffered(50, chunks), Alternative("recorder", Recorder)))
    assert len(seen) == 50 and all(len(c) == 64 and type(c) is bytes for c in seen)
    assert len({id(c) for c in seen}) == (1 if chunks == "same" else 50)


def test_bad_sizes_and_kinds_are_refused():
    with pytest.raises(ValueError):
        workloads.large(1 << 20, 8 << 20, per_flush=16)
    with pytest.raises(ValueError):
        workloads.buffered(10, "reused")
    with pytest.raises(ValueError):
        engine.plan("fast")


@pytest.mark.skipif(not HAVE_TWISTED, reason="Twisted is not installed")
def test_twisted_quadratic_path_is_skipped_above_1e4_with_a_reason():
    assert workloads.build_round(workloads.buffered(10**3), ALTS["twisted"])
    with pytest.raises(workloads.Skip, match="quadratic"):
        workloads.build_round(workloads.buffered(10**5), ALTS["twisted"])
    assert any("raises TypeError" in line for line in report.notes(ALTS))


def test_plans_cover_what_the_issue_asks():
    def keys(mode, metric):
        return {e.case.key for e in engine.plan(mode) if e.metric == metric}

    quick, full = keys("quick", "instructions"), keys("full", "instructions")
    for n in ("1e3", "1e5"):
        assert {f"buffered[N={n},same]", f"buffered[N={n},distinct]"} <= quick
    assert {"buffered[N=1e6,same]", "buffered[N=1e6,distinct]"} <= full
    assert not any("1e6" in key for key in quick)
    for workload in ("passthrough", "large", "partial", "churn"):
        assert any(key.startswith(workload) for key in quick)
    assert "buffered[N=1e6,fresh]" in keys("full", "memory") and "buffered[N=1e5,fresh]" in keys("quick", "memory")
    assert {"buffered[N=1e6,same]", "buffered[N=1e6,distinct]"} <= keys("full", "time")
    assert "buffered[N=1e6,fresh]" in keys("full", "resident")
    assert any(e.metric == "time" and e.case.n == 10**4 and "twisted" in e.alts for e in engine.plan("full"))
    for mode in engine.MODES:
        assert all(e.alts[0] == "compiled" for e in engine.plan(mode))


# -- timing -----------------------------------------------------------------------------


def test_median_interval_is_distribution_free():
    assert timing.median_interval(range(1, 26)) == (8, 18)  # n = 25: k = 8, coverage 95.7%
    assert timing.median_interval([3, 1, 2]) == (1, 3)  # too few for 95%: the whole range
    assert timing.paired_ratio([1, 2, 30], [2, 2, 3]) == 1.0


def test_time_rounds_interleave_and_never_keep_a_better_draw(monkeypatch):
    calls = []
    monkeypatch.setattr(timing, "_one", lambda prepare: calls.append(prepare) or 0.001)
    times = timing.time_rounds({"a": "a", "b": "b"}, rounds=3)
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3}
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up each, then rotating order


@pytest.mark.skipif(not hasattr(os, "fork"), reason="rounds run in place without fork")
def test_each_timed_round_runs_in_its_own_child():
    state = []

    def prepare():
        def run():
            state.append(1)

        return run, lambda: None

    assert timing._one(prepare) >= 0
    assert state == []  # the round ran in a forked child

    def failing():
        def check():
            raise RuntimeError("lost 3 bytes")

        return (lambda: None), check

    with pytest.raises(RuntimeError, match="lost 3 bytes"):
        timing._one(failing)


# -- instructions ------------------------------------------------------------------------


SEGMENT = """# callgrind format
events: Ir
summary: 1000
fn=(1) PyObject_Call
10 100
cfn=(2) __memcpy_avx_unaligned_erms
calls=1 0
10 400
fn=(2)
0 300
fn=(3) __memmove_avx_unaligned_erms
+2 50
* 50
"""


def test_callgrind_segments_are_parsed_with_name_compression(tmp_path):
    path = tmp_path / "cg.out.4"
    path.write_text(SEGMENT)
    count = counting.parse_segment(str(path))
    # The call line's 400 is inclusive (not PyObject_Call's own); memcpy's self 300, memmove's 100.
    assert count == counting.Count(1000, 400) and count.own == 600


def test_measuring_processes_get_a_fixed_environment(monkeypatch):
    monkeypatch.setenv("SOME_LONG_VARIABLE", "x" * 500)
    env = counting.worker_environment()
    assert "SOME_LONG_VARIABLE" not in env and env["PYTHONHASHSEED"] == "0"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


@pytest.mark.skipif(not HAVE_VALGRIND or ALTS["compiled"].cls is None, reason="needs valgrind and the extension")
def test_instruction_counts_repeat_exactly_and_cover_only_the_round():
    jobs = [(workloads.buffered(100), "reference"), (workloads.buffered(200), "reference")]
    first = counting.count_instructions(jobs)
    again = counting.count_instructions(jobs)
    # Same commit, same counts within 1% (the gate's promise; runs after the
    # first in a checkout were identical here, the first within 0.35%).
    for key, count in first.items():
        assert again[key].instructions == pytest.approx(count.instructions, rel=0.01)
    small, big = first["buffered[N=1e2,same]", "reference"], first["buffered[N=200,same]", "reference"]
    # Start-up (hundreds of millions of instructions) is not in the segment; the
    # second hundred writes cost about what the first did (fixed costs aside).
    assert small.instructions < 1_000_000
    per_write = (big.instructions - small.instructions) / 100
    assert 0.5 * small.instructions / 100 < per_write < 1.5 * small.instructions / 100


# -- memory --------------------------------------------------------------------------------


def test_traced_peak_repeats_and_charges_what_a_proxy_keeps():
    case = workloads.buffered(10**4, "fresh")
    ref = memory.traced_peak(case, ALTS["reference"])
    assert ref == pytest.approx(memory.traced_peak(case, ALTS["reference"]), rel=1e-3)  # within 0.1% (295 bytes in 2.5 MB seen on 3.9)
    # The reference keeps every chunk object (>= 97 bytes each) and then joins a copy;
    # with one chunk object written N times it does not keep N objects.
    assert ref > 10**4 * (64 + 33) + 10**4 * 64
    same = memory.traced_peak(workloads.buffered(10**4, "same"), ALTS["reference"])
    assert same + 10**4 * (64 + 33) <= ref


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux only")
def test_resident_peak_sees_the_round():
    assert memory.resident_peak(workloads.buffered(10**5, "fresh"), "reference") > 6_000_000


# -- the gate's verdicts --------------------------------------------------------------------


def _row(key_case, alt, ratio, metric="instructions", skipped="", interval=None):
    workload, label = key_case.split("[")
    case = workloads.Case(workload, label.rstrip("]"), writes=1, nbytes=64)
    return engine.Row(metric, case, alt, 1.0, 1.0, ratio, interval, skipped=skipped)


def _verdicts(*rows, targets=False):
    return {v.row.key: v for v in gate.evaluate(rows, gate.load_thresholds(), targets)}


def test_patterns_treat_only_star_as_a_wildcard():
    assert gate.pattern_matches("instructions buffered[N=1e3,*] vs reference",
                                "instructions buffered[N=1e3,distinct] vs reference")
    assert not gate.pattern_matches("instructions buffered[N=1e3,*] vs reference",
                                    "instructions buffered[N=1e5,same] vs reference")
    assert not gate.pattern_matches("time large[1MiB*] vs reference", "time large[64KiBx256,once] vs reference")


@pytest.mark.parametrize("case, alt, ratio, metric", [
    ("buffered[N=1e3,same]", "reference", 0.31, "instructions"),
    ("buffered[N=1e5,distinct]", "reference", 0.301, "instructions"),
    ("buffered[N=1e3,same]", "twisted", 0.011, "instructions"),
    ("passthrough[64B]", "direct", 1.51, "instructions"),
    ("partial[16MiB]", "reference", 1.001, "instructions"),
    ("large[1MiBx16,once]", "reference", 1.02, "instructions"),
    ("large[1MiBx16,once]", "memmove", 1.02, "copies"),
    ("churn[cycles=1e4]", "twin", 1.01, "instructions"),
    ("buffered[N=1e6,fresh]", "reference", 0.66, "memory"),
    ("buffered[N=1e6,distinct]", "reference", 0.8, "time"),
])
def test_gate_fails_a_row_that_misses_its_limit(case, alt, ratio, metric):
    v = _verdicts(_row(case, alt, ratio, metric))[f"{metric} {case} vs {alt}"]
    assert v.failed and v.text.startswith("FAIL")


def test_gate_passes_rows_within_limits_and_reports_targets():
    verdicts = _verdicts(
        _row("buffered[N=1e3,same]", "reference", 0.27),
        _row("passthrough[64B]", "direct", 1.39),
        _row("passthrough[1KiB]", "direct", 3.0),
        _row("large[64KiBx256,once]", "memmove", 9.0, "time"),
    )
    assert not any(v.failed for v in verdicts.values())
    assert verdicts["instructions passthrough[64B] vs direct"].misses_target
    assert "target 1.3 missed" in verdicts["instructions passthrough[64B] vs direct"].text
    assert verdicts["instructions passthrough[1KiB] vs direct"].text == "info"
    assert not verdicts["time large[64KiBx256,once] vs memmove"].gated
    # The same rows held to issue 11's targets: pass-through now fails.
    strict = _verdicts(_row("passthrough[64B]", "direct", 1.39), targets=True)
    assert strict["instructions passthrough[64B] vs direct"].failed


def test_gate_fails_unmeasured_rows_except_by_design():
    verdicts = _verdicts(
        _row("buffered[N=1e3,same]", "reference", None, skipped="valgrind is not installed"),
        _row("buffered[N=1e5,same]", "twisted", None, skipped=workloads.TWISTED_SKIP),
        _row("buffered[N=1e3,same]", "twisted", None, skipped="twisted: not installed"),
    )
    assert verdicts["instructions buffered[N=1e3,same] vs reference"].failed
    assert not verdicts["instructions buffered[N=1e5,same] vs twisted"].failed
    assert verdicts["instructions buffered[N=1e3,same] vs twisted"].failed


def test_gate_flags_a_time_interval_that_straddles_its_limit():
    v = _verdicts(_row("buffered[N=1e6,same]", "reference", 0.7, "time", interval=(0.6, 0.8)))
    assert "straddles" in v["time buffered[N=1e6,same] vs reference"].text


def test_thresholds_hold_issue_11_targets_and_match_the_full_plan():
    thresholds = gate.load_thresholds()
    assert thresholds["enforce_targets"] is False  # switched on by the lead with the new core
    targets = {rule["rows"]: rule["target"] for rule in thresholds["rules"] if "target" in rule}
    assert targets["instructions buffered[N=1e3,*] vs reference"] == 0.30
    assert targets["instructions buffered[N=1e5,*] vs reference"] == 0.30
    assert targets["instructions buffered[N=1e6,*] vs reference"] == 0.35
    assert targets["memory buffered[N=1e6,fresh] vs reference"] == 0.30
    assert targets["instructions passthrough[64B] vs direct"] == 1.30
    assert targets["instructions partial[*] vs reference"] == 0.95
    keys = {f"{e.metric} {e.case.key} vs {a}" for e in engine.plan("full") for a in e.alts[1:]}
    keys |= {k.replace("instructions large", "copies large") for k in keys}
    keys.add("cpu forward[256MiB,pcp-forward] vs portforward")
    for rule in thresholds["rules"]:
        assert any(gate.pattern_matches(rule["rows"], key) for key in keys), rule["rows"]


def test_gate_judges_a_saved_run_and_has_no_retry(tmp_path, capsys):
    rows = [_row("buffered[N=1e3,same]", "reference", 0.4)]
    document = report.to_json(rows, {}, "quick")
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document))
    assert gate.main(["--results", str(path), "--no-retry"]) == 1
    assert "GATE FAILED" in capsys.readouterr().out
    assert not hasattr(gate, "paired_ratio") and not hasattr(gate, "merge_retry")
    rows = [_row("buffered[N=1e3,same]", "reference", 0.2)]
    path.write_text(json.dumps(report.to_json(rows, {}, "quick")))
    docs = tmp_path / "benchmarks.md"
    assert gate.main(["--results", str(path), "--write-docs", str(docs)]) == 0
    text = docs.read_text()
    assert "python -m benchmarks.gate --write-docs docs/benchmarks.md" in text and "0.200" in text


# -- python -m pcp.bench ------------------------------------------------------------------

NEEDS_COMPILED = pytest.mark.skipif(ALTS["compiled"].cls is None, reason="the compiled extension is not in use")


@pytest.mark.skipif(ALTS["compiled"].cls is not None, reason="the compiled extension is in use")
def test_cli_without_the_extension_says_why(capsys):
    assert bench_main(["--smoke"]) == 2
    assert "compiled: " in capsys.readouterr().err


@NEEDS_COMPILED
def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert bench_main(["--smoke", "--json", str(out)]) == 0
    printed = capsys.readouterr()
    assert "ratio" in printed.out and "buffered[N=1e2,same]" in printed.out
    assert "time buffered" in printed.err  # progress, as it goes
    figures = json.loads(out.read_text())
    keys = {row["key"] for row in figures["rows"]}
    assert "time buffered[N=1e2,same] vs reference" in keys
    row = next(r for r in figures["rows"] if r["key"] == "time buffered[N=1e2,same] vs reference")
    assert row["ratio"] > 0 and row["rounds"]["compiled"]


@NEEDS_COMPILED
def test_cli_works_without_twisted(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "twisted.protocols.pcp", None)
    assert load_alternatives()["twisted"].missing == "not installed"
    assert bench_main(["--smoke"]) == 0
    assert "twisted: not installed" in capsys.readouterr().out


def test_cli_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert bench_main(["--smoke", "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pcp-buffer[bench]" in err
    assert not (tmp_path / "x.png").exists()


def test_bench_does_not_import_the_benchmarks_directory(tmp_path):
    # benchmarks/ is not installed: pcp.bench must stand on pcp alone.
    code = (
        "import sys, pcp.bench, pcp.bench.cli, pcp._reference; "
        "sys.exit(any(m == 'benchmarks' or m.startswith('benchmarks.') for m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env).returncode == 0


def test_forwarder_rows_read_cpu_per_gib_from_forward_bench_json():
    from benchmarks import forwarder

    document = {"machine": "x", "throughput": [
        {"name": "direct", "mbps_median": 3000.0, "rounds": [{"cpu_s": 0.1}]},
        {"name": "portforward", "cpu_s_per_gib": 1.04, "rounds": [{"cpu_s": 0.3}]},
        {"name": "pcp-forward", "cpu_s_per_gib": 0.88},
        {"name": "pcp.aio uvloop", "cpu_s_per_gib": 0.5},
    ], "requests": [{"name": "pcp-forward", "cpu_s_per_100k_requests": 9.0}]}
    assert forwarder.cpu_per_gib(document) == {"portforward": 1.04, "pcp-forward": 0.88, "pcp.aio uvloop": 0.5}
