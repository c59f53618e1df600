"""The benchmark suite runs end to end at tiny sizes and writes well-formed JSON.

Only the plumbing is tested here: timings are never asserted against thresholds (the
machine is shared and noisy; the targets are checked by ``benchmarks/run.py`` itself).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
SECTIONS = ("kernels", "training", "topology", "memory", "roofline", "ch3", "paths")
TITLES = {"ch3": "CH3-L3", "paths": "paths"}                 # table titles that differ from the section name

pytestmark = pytest.mark.skipif(not RUN.is_file(),
                                reason="benchmarks/run.py not present (installed-only tree)")


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    proc = subprocess.run([sys.executable, str(RUN), "--tiny", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _positive(value):
    return isinstance(value, (int, float)) and value > 0


def test_sections_present(tiny_results):
    results, stdout = tiny_results
    assert results["settings"]["mode"] == "tiny"
    for key in ("cpu_model", "cpu", "cores", "numpy", "scipy", "refset_config"):
        assert key in results["machine"]
    cpu = results["machine"]["cpu"]
    assert cpu["model"] and isinstance(cpu["simd"], list)
    assert stdout.startswith(f"refset benchmarks, mode tiny: {cpu['model']}, ")
    assert results["started"][:2] == "20"
    for section in SECTIONS:
        assert isinstance(results[section], list) and results[section], section
        assert f"== {TITLES.get(section, section)}" in stdout
    assert "== targets" in stdout
    assert {t["status"] for t in results["targets"]} <= {"met", "MISSED", "not measured"}


def test_kernel_records(tiny_results):
    records = tiny_results[0]["kernels"]
    assert {r["op"] for r in records} == {"forward", "backward", "gradient"}
    assert {r["dtype"] for r in records} == {"float32", "float64"}
    impls = {r["impl"] for r in records}
    assert {"numpy twin", "scipy csr", "scipy csc", "dense masked"} <= impls
    for r in records:
        assert _positive(r["seconds_median"]) and _positive(r["gflops"]), r
        assert r["max_rel_diff_vs_first"] < (1e-3 if r["dtype"] == "float32" else 1e-9), r
        if r["vs_dense"] is not None:
            assert _positive(r["vs_dense"])


def test_training_and_memory_records(tiny_results):
    results = tiny_results[0]
    ran = [r for r in results["training"] if "skipped" not in r]
    assert ran, "the synthetic lung-shaped configuration needs no data file"
    for r in ran:
        assert "error" not in r, r
        for key in ("seconds_train", "seconds_eval", "seconds_topology", "seconds_epoch"):
            assert _positive(r[key]), (r["config"], key)
        assert not r["reference_workload"]
    for m in results["memory"]:
        if "skipped" not in m:
            assert _positive(m["process_peak_mib"])


def test_topology_and_roofline_records(tiny_results):
    results = tiny_results[0]
    kinds = {r["kind"] for r in results["topology"]}
    assert kinds == {"build", "set_step"}
    assert all(_positive(r["seconds_median"]) for r in results["topology"])
    bandwidth = [r for r in results["roofline"] if r["kind"] == "bandwidth"]
    kernels = [r for r in results["roofline"] if r["kind"] == "kernel"]
    assert bandwidth and all(_positive(r["gb_per_s"]) for r in bandwidth)
    assert kernels and all(_positive(r["per_link_gb_per_s"]) for r in kernels)
    assert "compulsory" in results["roofline_model"]


def test_ch3_records(tiny_results):
    records = tiny_results[0]["ch3"]
    impls = {r["impl"] for r in records}
    assert {"cython", "numpy twin", "naive"} <= impls or {"numpy twin", "naive"} <= impls
    assert all(_positive(r["seconds_median"]) for r in records)


def test_paths_records(tiny_results):
    records = tiny_results[0]["paths"]
    enum = [r for r in records if r["kind"] == "enumeration"]
    assert enum and all(r["max_rel_diff_node"] < 1e-9 for r in enum)
    assert any(r["kind"] == "importances" for r in records)
