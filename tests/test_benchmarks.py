"""The benchmark suite runs end to end at tiny sizes and writes well-formed JSON.

Only the plumbing is tested here: timings are never asserted against thresholds (the
machine is shared and noisy; the targets are checked by ``benchmarks/run.py`` itself).
The peer sections (``--torch``, ``--original-code``) are tested for their skip and error
paths, the torch section at tiny sizes when PyTorch is installed, and the README table's
rows for them on a synthetic run.
"""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
TORCH_MISSING = "PyTorch is not installed (pip install torch)"
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


# -- peer sections ----------------------------------------------------------------------------
def _bench_module(monkeypatch, name):
    """A module of benchmarks/ (they import each other by name, so the folder goes on the path)."""
    monkeypatch.syspath_prepend(str(RUN.parent))
    return importlib.import_module(name)


class _NoTorch:
    """A meta path finder for which PyTorch is not installed (``sys.modules["torch"] = None``
    would break scipy, which looks torch up in ``sys.modules``)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}")


def test_torch_section_skipped_without_torch(monkeypatch):
    bench_torch = _bench_module(monkeypatch, "bench_torch")
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoTorch(), *sys.meta_path])
    spawned = []
    monkeypatch.setattr(_bench_module(monkeypatch, "bench_common"), "spawn_worker",
                        lambda *args: spawned.append(args))
    records, errors = bench_torch.run_torch("tiny", None, 0, RUN, lambda message: None)
    assert records == [{"skipped": TORCH_MISSING}] and errors == [] and not spawned
    assert TORCH_MISSING in bench_torch.torch_table(records)


def test_run_goes_on_without_torch(tmp_path):
    out = tmp_path / "no_torch.json"
    argv = [str(RUN), "--tiny", "--only", "topology", "--torch", "--json", str(out)]
    code = ("import runpy, sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            f"sys.argv = {argv!r}\n"
            f"runpy.run_path({str(RUN)!r}, run_name='__main__')\n")
    # cwd outside the checkout: ``python -c`` puts the working directory first on sys.path,
    # where a source checkout's refset/ (without the compiled kernels) would shadow refset
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["torch"] == [{"skipped": TORCH_MISSING}]
    assert results["topology"] and results["settings"]["torch"] is True
    assert TORCH_MISSING in proc.stdout and "== topology" in proc.stdout
    assert "--original-code PATH (refset vs the original SET code)" in proc.stdout


def _fake_worker(script, cfg, env):
    """A worker's result without a worker: refset 1 s per timed epoch, torch.sparse 3 s."""
    seconds = 1.0 if cfg["impl"] == "refset" else 3.0
    widths = [cfg["n_features"], *cfg["hidden"], cfg["n_classes"]]
    return {"workload": cfg["name"], "impl": cfg["impl"], "data_source": "fake",
            "n_train": 100, "n_features": widths[0], "layers": widths,
            "nnz": [10] * (len(widths) - 1), "torch": "0.0",
            "history": [{"epoch": e, "seconds_train": seconds * e, "train_loss": 2.0 - 0.5 * e,
                         "train_accuracy": 0.5} for e in (1, 2)],
            "memory": {"vmhwm_kib": 3072, "vmrss_before_kib": 1024, "vmhwm_before_kib": 4096,
                       "peak_reset": True}}, None


def test_dense_peer_over_the_memory_cap_is_not_run(monkeypatch):
    bench_torch = _bench_module(monkeypatch, "bench_torch")
    monkeypatch.setattr(bench_torch, "torch_version", lambda: "0.0")
    jobs = []

    def spawn(script, cfg, env):
        jobs.append(cfg["impl"])
        return _fake_worker(script, cfg, env)

    monkeypatch.setattr(_bench_module(monkeypatch, "bench_common"), "spawn_worker", spawn)
    records, errors = bench_torch.run_torch("tiny", None, 0, RUN, lambda message: None,
                                            memory_cap_gib=1e-6)
    assert errors == [] and "torch dense" not in jobs
    assert jobs[:2] == ["refset", "torch.sparse"]           # interleaved per repetition
    dense = [r for r in records if r["impl"] == "torch dense"]
    assert dense and all(r["not_run"].startswith("not run: needs ") for r in dense)
    sparse = [r for r in records if r["impl"] == "torch.sparse"]
    assert all(r["vs_refset"] == pytest.approx(6.0 / 2.0) for r in sparse)   # epoch 2 timed
    assert all(r["in_training_mib"] == pytest.approx(2.0) for r in sparse)
    assert "not run" in bench_torch.torch_table(records)


def test_torch_section_tiny(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "torch.json"
    proc = subprocess.run([sys.executable, str(RUN), "--tiny", "--only", "torch", "--json",
                           str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = json.loads(out.read_text())["torch"]
    assert {r["impl"] for r in records} == {"refset", "torch dense", "torch.sparse"}
    assert {r["dtype"] for r in records} == {"float32", "float64"}
    for r in records:
        assert "error" not in r, r
        assert _positive(r["seconds_epoch"]) and _positive(r["peak_mib"]), r
        if r["impl"] != "refset":
            # same data, batch order and initial weights: the losses differ by rounding only
            assert _positive(r["vs_refset"])
            assert r["loss_rel_diff"] < (1e-9 if r["dtype"] == "float64" else 1e-4), r
    assert all(r["zeros_kept"] for r in records if r["impl"] == "torch dense")
    assert "== torch: refset vs PyTorch" in proc.stdout


def test_original_code_bad_path_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, str(RUN), "--tiny", "--original-code",
                           str(tmp_path / "no-such-checkout")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--original-code" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def _peer_run():
    """A synthetic run with both peer sections (and no other section)."""
    def torch_rec(workload, impl, seconds, **extra):
        return {"workload": workload, "impl": impl, "seconds_epoch": seconds, "n_train": 10_000,
                "scaled_to_60000": True, "peak_mib": 200.0, "in_training_mib": 20.0,
                "repeats": 3, "torch": "2.13.0+cpu", **extra}

    mnist = "MNIST-shaped 784-1000-1000-1000-10, B=128, float32"
    wide = "784-10000-10000-10000-10, B=128, float32"
    return {
        "machine": {"cpu_model": "Test CPU", "cpu": {"model": "Test CPU", "simd": ["avx2"]},
                    "cores": 2, "load_average_start": [0.5, 0.5, 0.5]},
        "started": "2026-12-04T10:00:00+0000",
        "settings": {"mode": "quick", "torch": True, "original_code": "/src/set"},
        "targets": [],
        "torch": [torch_rec(mnist, "refset", 0.5), torch_rec(mnist, "torch dense", 3.0,
                                                               vs_refset=6.0),
                  torch_rec(mnist, "torch.sparse", 1.0, vs_refset=2.0),
                  torch_rec(wide, "refset", 2.0),
                  {"workload": wide, "impl": "torch dense", "not_run": "not run: needs 9.3 GiB"},
                  torch_rec(wide, "torch.sparse", 3.0, vs_refset=1.5)],
        "original": [{"dataset": "COIL20", "impl": "original", "seconds_epoch": 10.0,
                      "seconds_topology": 2.5, "over_refset": 12.5},
                     {"dataset": "COIL20", "impl": "refset", "seconds_epoch": 0.8,
                      "seconds_topology": 0.05}],
    }


def test_readme_table_renders_peer_rows(monkeypatch):
    readme_table = _bench_module(monkeypatch, "readme_table")
    text = readme_table.table(_peer_run(), "benchmarks/runs/peers.json")
    assert "`python benchmarks/run.py --quick --torch --original-code PATH` run" in text
    assert "on 2026-12-04" in text and "Test CPU, 2 cores" in text
    assert "The PyTorch rows (torch 2.13.0+cpu)" in text
    assert ("| MNIST-shaped 784-1000-1000-1000-10, B = 128, float32: training pass vs PyTorch "
            "| 0.500 s/epoch, scaled from 10,000 samples, 200 MiB (+20.0 in training) "
            "| PyTorch masked dense 3.00 s, 200 MiB (+20.0 in training); torch.sparse 1.00 s, "
            "200 MiB (+20.0 in training) | 6.0× dense; 2.0× torch.sparse |") in text
    assert ("PyTorch masked dense not run: needs 9.3 GiB; torch.sparse 3.00 s, 200 MiB (+20.0 "
            "in training) | 1.5× torch.sparse |") in text
    assert ("| COIL20, 3 × 3000, B = 2, float64, the original's split (*this run*) "
            "| 0.800 s/epoch (topology 0.0500 s) | original SET code 10.0 s/epoch (topology "
            "2.50 s) | 12× |") in text


def test_bench_b2_prints_its_six_tables():
    """The B = 2 diagnosis (benchmarks/bench_b2.py) runs and prints a positive time in every
    cell of its tables (one sample each: only the plumbing is tested), and the per-kernel
    account of the epoch names the training kernels of every layer."""
    from refset.kernels import backend

    if not backend.compiled_available():
        pytest.skip("bench_b2 times the compiled kernels, which are not built")
    proc = subprocess.run([sys.executable, str(RUN.parent / "bench_b2.py"), "--repeats", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for title in ("1. 3000 x 3000", "2. forward", "3. fused backward", "4. the full narrow",
                  "5. Python", "6. where the epoch goes"):
        assert f"== {title}" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()
            if line.startswith(("fixed", "Poisson", "500 ", "20000 ", "16 links", "160 links",
                                "3000 x 2", "sparse kernels", "stubs"))]
    assert len(rows) == 12
    for row in rows:
        numbers = [float(cell) for cell in row if cell.replace(".", "", 1).isdigit()]
        assert numbers and all(n > 0 for n in numbers[-2:]), row
    account = proc.stdout.split("== 6. where the epoch goes")[1]
    for kernel in ("csr_backward_update 3000 x 3000", "csr_backward_update 1024 x 3000",
                   "csr_backward_update 3000 x 20", "csr_forward 3000 x 3000",
                   "csr_forward 3000 x 20", "all kernels", "the whole training pass"):
        assert kernel in account, kernel
