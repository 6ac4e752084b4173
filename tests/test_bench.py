"""pcp.bench, the reference proxy it measures against, and the release gate's verdicts.

Nothing here times anything: the workloads run at tiny sizes to check that
every byte arrives, and the gate is fed made-up rounds to check its verdicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pcp import bench
from pcp._reference import ReferenceProxy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import gate  # noqa: E402

HAVE_TWISTED = bench.load_alternatives()["twisted"].cls is not None
SMOKE = bench.cases("smoke")


def _ids(cases):
    return [case.key for case in cases]


# -- the workloads --------------------------------------------------------------------


@pytest.mark.parametrize("case", SMOKE, ids=_ids(SMOKE))
def test_every_workload_delivers_every_byte(impl, case):
    one_round = bench.build_round(case, bench.Alternative(impl.kind, impl.ProducerConsumerProxy))
    # Each round checks that the consumer got exactly its bytes (and, in
    # churn, one pause and one resume per cycle); a second round reuses the proxy.
    assert one_round() >= 0
    assert one_round() >= 0


@pytest.mark.parametrize("case", SMOKE, ids=_ids(SMOKE))
@pytest.mark.parametrize("name", ["reference", "twisted", "direct", "memmove"])
def test_alternatives_run_every_workload_they_apply_to(case, name):
    alts = bench.load_alternatives()
    alts["direct"] = bench.Alternative("direct")
    alts["memmove"] = bench.Alternative("memmove")
    if name == "twisted" and not HAVE_TWISTED:
        pytest.skip("Twisted is not installed")
    if name not in case.alternatives:
        with pytest.raises(bench.Skip):
            bench.build_round(case, alts[name])
        return
    one_round = bench.build_round(case, alts[name])
    assert one_round() >= 0
    assert one_round() >= 0


def test_every_mode_covers_every_workload():
    for mode in ("full", "quick", "cli", "smoke"):
        assert {case.workload for case in bench.cases(mode)} == {
            "buffered", "passthrough", "large", "partial", "churn"}
    full = {case.key for case in bench.cases("full")}
    quick = {case.key for case in bench.cases("quick")}
    assert quick <= full  # one baseline serves both forms of the gate
    assert {"buffered[N=1e3]", "buffered[N=1e4]", "buffered[N=1e5]", "buffered[N=1e6]"} <= full
    assert max(case.n for case in bench.cases("quick") if case.workload == "buffered") == 10**5
    assert "partial[64MiB]" in full and "churn[cycles=1e5]" in full
    large = [case for case in bench.cases("full") if case.workload == "large"]
    assert {(case.chunk, case.per_flush == case.writes) for case in large} == {
        (65536, True), (65536, False), (1 << 20, True), (1 << 20, False)}
    assert all(case.per_flush in (16, case.writes) for case in large)


def test_large_case_needs_whole_flushes():
    with pytest.raises(ValueError):
        bench.large_case(1 << 20, 8 << 20, per_flush=16)


@pytest.mark.skipif(not HAVE_TWISTED, reason="Twisted is not installed")
def test_twisted_bytes_flush_failure_is_reported():
    from twisted.protocols.pcp import ProducerConsumerProxy

    error = bench.twisted_bytes_flush_error(ProducerConsumerProxy)
    assert error is not None and error.startswith("TypeError")
    alts = bench.load_alternatives()
    assert any("raises TypeError" in line for line in bench.notes(alts))


@pytest.mark.skipif(not HAVE_TWISTED, reason="Twisted is not installed")
def test_twisted_quadratic_path_is_skipped_above_1e4_with_a_reason():
    twisted = bench.load_alternatives()["twisted"]
    assert bench.build_round(bench.buffered_case(10**3), twisted)
    with pytest.raises(bench.Skip, match="quadratic"):
        bench.build_round(bench.buffered_case(10**5), twisted)


def test_paired_ratio_is_the_median_of_round_quotients():
    assert bench.paired_ratio([1, 2, 30], [2, 2, 3]) == 1.0
    assert gate.paired_ratio([1, 1, 1, 9], [2, 2, 2, 2]) == 0.5


def test_measure_interleaves_and_counts_rounds():
    calls = []

    def make(name):
        def one_round():
            calls.append(name)
            return 0.001
        return one_round

    times = bench.measure(bench.buffered_case(10), {"a": make("a"), "b": make("b")}, rounds=3)
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3}
    # A warm-up round each, then rounds starting from a different alternative.
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]


# -- the reference proxy ----------------------------------------------------------------


class Consumer:
    def __init__(self):
        self.writes = []
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = (producer, streaming)

    def write(self, data):
        self.writes.append(data)


class Producer:
    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


def test_reference_buffers_while_paused_and_flushes_in_one_write():
    consumer = Consumer()
    proxy = ReferenceProxy(consumer)
    assert consumer.producer == (proxy, True)
    proxy.write(b"a")
    proxy.pauseProducing()
    source = bytearray(b"bc")
    proxy.write(source)
    source[:] = b"zz"  # the proxy copied it
    proxy.write(b"d")
    assert consumer.writes == [b"a"]
    proxy.resumeProducing()
    assert consumer.writes == [b"a", b"bcd"]
    assert all(type(w) is bytes for w in consumer.writes)
    with pytest.raises(TypeError):
        proxy.write("text")


def test_reference_pauses_its_producer_at_the_high_mark_and_resumes_at_the_low():
    consumer = Consumer()
    proxy = ReferenceProxy(consumer)
    proxy.bufferSize = 100
    producer = Producer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    for _ in range(4):
        proxy.write(b"x" * 30)
    assert producer.events == ["pause"]
    proxy.resumeProducing()
    assert producer.events == ["pause", "resume"]
    assert consumer.writes == [b"x" * 120]


def test_reference_pull_proxy_with_partial_writes_delivers_in_order_and_stays_bounded():
    consumer = Consumer()

    class Partial(ReferenceProxy):
        iAmStreaming = False

        def _writeSomeData(self, data):
            self.consumer.write(data[:5])
            return min(len(data), 5)

    proxy = Partial(consumer)
    chunks = iter([b"0123456789", b"abcdefghij", b"KLMNOPQRST"])

    class Pull:
        def resumeProducing(self):
            chunk = next(chunks, None)
            if chunk is not None:
                proxy.write(chunk)

        def stopProducing(self):
            pass

    proxy.registerProducer(Pull(), False)
    for _ in range(12):
        proxy.resumeProducing()
        assert proxy._size <= 10
    assert b"".join(consumer.writes) == b"0123456789abcdefghijKLMNOPQRST"


# -- the gate's verdicts ------------------------------------------------------------------


def _entry(case, alt, ratio=None, workload=None, skipped="", rounds=5):
    entry = {"case": case, "workload": workload or case.split("[")[0], "alt": alt, "writes": 1,
             "nbytes": 64, "times": [], "compiled_times": []}
    if skipped:
        entry["skipped"] = skipped
    elif ratio is not None:
        entry["times"] = [1.0] * rounds
        entry["compiled_times"] = [ratio] * rounds
    return entry


def _document(*entries):
    cases = {e["case"] for e in entries}
    compiled = [_entry(case, "compiled") for case in sorted(cases)]
    for e in compiled:
        e["times"] = [1.0]
    return {"mode": "quick", "results": compiled + list(entries)}


def _verdicts(document, baseline=None):
    report = gate.evaluate(document, gate.load_thresholds(), baseline or {})
    return report, {(row.case, row.alt): row for row in report.rows}


def test_gate_passes_ratios_within_their_thresholds():
    report, rows = _verdicts(_document(
        _entry("buffered[N=1e3]", "reference", 0.30),
        _entry("buffered[N=1e3]", "twin", 0.10),
        _entry("buffered[N=1e4]", "twisted", 0.0002),
        _entry("passthrough[64B]", "direct", 1.5),
        _entry("passthrough[1KiB]", "direct", 3.0),
        _entry("large[1MiBx64-once]", "memmove", 9.0),
    ))
    assert not report.failed
    assert rows["passthrough[1KiB]", "direct"].verdict == "info"
    assert rows["large[1MiBx64-once]", "memmove"].limit is None
    assert rows["buffered[N=1e3]", "reference"].limit == 0.35
    assert rows["buffered[N=1e4]", "twisted"].limit == 0.001


@pytest.mark.parametrize("case, alt, ratio", [
    ("buffered[N=1e6]", "reference", 0.36),
    ("buffered[N=1e4]", "twisted", 0.0011),
    ("passthrough[64B]", "direct", 1.61),
    ("churn[cycles=1e5]", "reference", 1.2),
    ("churn[cycles=1e5]", "twin", 1.06),
    ("partial[16MiB]", "reference", 167.0),
])
def test_gate_fails_a_ratio_that_misses_its_threshold(case, alt, ratio):
    report, rows = _verdicts(_document(_entry(case, alt, ratio)))
    assert report.failed
    assert rows[case, alt].verdict.startswith("FAIL")


def test_gate_reports_a_tie_where_compiled_only_must_not_lose():
    report, rows = _verdicts(_document(
        _entry("large[1MiBx64-once]", "reference", 1.02),
        _entry("large[1MiBx64-once]", "twin", 1.0),
    ))
    assert not report.failed
    assert rows["large[1MiBx64-once]", "twin"].verdict.startswith("tie")
    assert rows["large[1MiBx64-once]", "reference"].verdict.startswith("tie")
    assert "tied" in gate.format_report(_document(), report)


def test_gate_fails_a_ratio_more_than_15_percent_worse_than_its_baseline():
    key = "buffered[N=1e3] vs reference"
    report, rows = _verdicts(_document(_entry("buffered[N=1e3]", "reference", 0.30)), {key: 0.25})
    assert report.failed
    assert "+20% vs baseline" in rows["buffered[N=1e3]", "reference"].verdict
    report, rows = _verdicts(_document(_entry("buffered[N=1e3]", "reference", 0.28)), {key: 0.25})
    assert not report.failed


def test_gate_fails_when_a_gated_ratio_was_not_measured():
    report, _ = _verdicts(_document(_entry("buffered[N=1e4]", "twisted", skipped="twisted: not installed")))
    assert report.failed
    report, _ = _verdicts(_document(_entry("buffered[N=1e5]", "twisted", skipped=bench.TWISTED_SKIP)))
    assert not report.failed
    document = _document(_entry("buffered[N=1e3]", "reference", 0.3))
    document["results"][0]["skipped"] = "compiled: disabled by PCP_NO_EXTENSIONS"
    report, _ = _verdicts(document)
    assert report.failed
    report, _ = _verdicts({"results": []})
    assert report.failed


def test_gate_table_lists_every_ratio_beside_its_threshold():
    document = _document(_entry("buffered[N=1e3]", "reference", 0.3), _entry("buffered[N=1e4]", "twisted", 0.0002))
    report, _ = _verdicts(document)
    table = gate.format_report(document, report)
    assert "<= 0.35" in table and "<= 0.001 (>=1,000x)" in table
    assert "0.300" in table and "(5,000x)" in table
    assert "gate passed" in table


def test_baseline_update_keeps_rows_this_run_did_not_measure(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"ratios": {"buffered[N=1e6] vs reference": 0.31}}))
    report, _ = _verdicts(_document(_entry("buffered[N=1e3]", "reference", 0.3)))
    gate.write_baseline(report, {"mode": "quick", "environment": {}}, path)
    assert gate.load_baseline(path) == {
        "buffered[N=1e6] vs reference": 0.31, "buffered[N=1e3] vs reference": 0.3}


def test_committed_thresholds_hold_the_issue_requirements():
    thresholds = gate.load_thresholds()
    assert thresholds["regression_tolerance"] == 0.15
    rules = {(r.get("workload"), r.get("case"), r["alt"]): r for r in thresholds["rules"]}
    assert rules[None, None, "reference"]["max"] == 1.0
    assert rules[None, None, "twin"]["below"] == 1.0
    assert rules["buffered", None, "reference"]["max"] == 0.35
    assert rules[None, "passthrough[64B]", "direct"]["max"] == 1.6
    assert rules[None, "buffered[N=1e4]", "twisted"]["max"] == 0.001
    full = {case.key for case in bench.cases("full")}
    for rule in thresholds["rules"]:
        assert rule.get("case", "buffered[N=1e4]") in full
    baseline = gate.load_baseline()
    assert baseline, "benchmarks/baseline.json holds the last release's ratios"
    assert all(key.split(" vs ")[0] in full for key in baseline)


def test_only_narrow_failures_are_measured_again_and_the_better_run_counts():
    document = _document(
        _entry("buffered[N=1e3]", "reference", 0.40),  # within 25% of 0.35: again
        _entry("partial[16MiB]", "reference", 115.0),  # far off: no point
        _entry("buffered[N=1e4]", "reference", 0.30),  # passes
    )
    for e in document["results"]:
        e["node"] = f"benchmarks/test_workloads.py::test_workload[{e['case']}-{e['alt']}]"
    report, _ = _verdicts(document)
    assert [row.key for row in gate.marginal(report)] == ["buffered[N=1e3] vs reference"]
    retry = {"results": [_entry("buffered[N=1e3]", "reference", 0.30)]}
    report, rows = _verdicts(gate.merge_retry(document, retry))
    row = rows["buffered[N=1e3]", "reference"]
    assert row.ratio == pytest.approx(0.30) and not row.failed
    assert "measured twice: 0.4, then 0.3" in row.verdict
    worse = {"results": [_entry("buffered[N=1e3]", "reference", 0.45)]}
    report, rows = _verdicts(gate.merge_retry(document, worse))
    assert rows["buffered[N=1e3]", "reference"].ratio == pytest.approx(0.40)
    assert report.failed


def test_baseline_records_the_worse_measurement_of_a_retried_ratio(tmp_path):
    document = _document(_entry("buffered[N=1e3]", "reference", 0.40))
    retry = {"results": [_entry("buffered[N=1e3]", "reference", 0.30)]}
    report, rows = _verdicts(gate.merge_retry(document, retry))
    assert rows["buffered[N=1e3]", "reference"].ratio == pytest.approx(0.30)  # the gate keeps the better
    path = tmp_path / "baseline.json"
    gate.write_baseline(report, {"mode": "full", "environment": {}}, path)
    assert gate.load_baseline(path) == {"buffered[N=1e3] vs reference": pytest.approx(0.40)}


def test_twisted_ratio_is_not_held_to_the_baseline():
    key = "buffered[N=1e4] vs twisted"
    report, rows = _verdicts(_document(_entry("buffered[N=1e4]", "twisted", 0.0004)), {key: 0.0001})
    assert not report.failed


def test_rounds_stay_within_the_settings():
    quick = gate.Settings.quick()
    assert quick.rounds_for(0.001) == quick.most
    assert quick.rounds_for(1.0) == quick.least
    assert quick.rounds_for(100.0) == 1


# -- python -m pcp.bench ------------------------------------------------------------------


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert bench.main(["--smoke", "--json", str(out)]) == 0
    printed = capsys.readouterr()
    assert "ns/write" in printed.out and "compiled vs it" in printed.out
    assert "[1/" in printed.err  # progress, as it goes
    figures = json.loads(out.read_text())
    assert set(figures["cases"]) == {case.key for case in SMOKE}
    buffered = figures["cases"]["buffered[N=1e2]"]["alternatives"]
    assert {"compiled", "twin", "reference", "twisted"} <= set(buffered)
    assert buffered["reference"]["rounds"] and buffered["reference"]["ns_per_write"] > 0


def test_cli_works_without_twisted(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "twisted.protocols.pcp", None)
    assert bench.load_alternatives()["twisted"].missing == "not installed"
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "twisted: not installed" in out


def test_cli_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert bench.main(["--smoke", "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pcp-buffer[bench]" in err
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_draws_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "scaling.png"
    assert bench.main(["--smoke", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_does_not_import_the_benchmarks_directory(tmp_path):
    # benchmarks/ is not installed: pcp.bench must stand on pcp alone.
    code = (
        "import sys, pcp.bench, pcp._reference; "
        "sys.exit(any(m == 'benchmarks' or m.startswith('benchmarks.') for m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH="")
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env).returncode == 0
