"""Writing every figure of a sweep or of a single run to files: :func:`plot_results`."""
from collections.abc import Mapping
from pathlib import Path

from .._lock import check_output_dir
from ._style import _DPI, _require_matplotlib
from ._sweep import _Sweep, _hashable
from ._run import _dir_run
from .runs import (METHOD_PANELS, plot_degree_distributions, plot_learning_curves,
                   plot_link_bookkeeping, plot_method_panels)
from .sweeps import plot_accuracy_curves, plot_execution_time


def _check_formats(formats):
    from matplotlib.backend_bases import FigureCanvasBase

    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = [str(f).lower().lstrip(".") for f in formats]
    allowed = sorted(FigureCanvasBase.get_supported_filetypes())
    if not formats or any(f not in allowed for f in formats):
        raise ValueError(f"formats must be a non-empty list of {', '.join(allowed)}, "
                         f"got {formats!r}")
    return list(dict.fromkeys(formats))


def _save(fig, out_dir, stem, formats):
    from .._io import atomic_write

    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else None
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=fmt, dpi=_DPI, metadata=metadata)
        paths.append(path)
    return paths


def _representative(sweep, dataset, by):
    rows = [r for r in sweep.ok if r["dataset"] == dataset]
    base = (sweep.config.get("summary") or {}).get("baseline")
    if not isinstance(base, Mapping):
        base = {by: sweep.baseline(by)}
    for r in rows:
        if r.get("replicate", 0) == 0 and all(
                _hashable(sweep.value(r, k)) == _hashable(v) for k, v in base.items()):
            return r
    return rows[0]


def plot_results(path, out_dir=None, *, formats=("png", "svg"), quiet=False):
    """Write every figure of a sweep or of a single run to files.

    Parameters
    ----------
    path : path
        A sweep output directory (``results.json``) or a run directory of ``refset train``
        or of a sweep (``history.json``, optionally ``model.npz``).
    out_dir : path or None
        Where to write; default ``<path>/plots``.
    formats : sequence of str or str, default ("png", "svg")
        File formats (matplotlib's, e.g. ``"png"``, ``"svg"``, ``"pdf"``); ``"png,svg"`` too.
    quiet : bool, default False
        Do not print one line per figure written.

    Raises
    ------
    ValueError
        Before anything is drawn: ``path`` is neither kind of directory, a format is unknown,
        or ``out_dir`` is a file, lies under a file or is not writable.  A damaged input
        file (not JSON, not a refset ``history.json``, not a checkpoint) is a ``ValueError``
        naming it.

    Returns
    -------
    list of pathlib.Path
        The files written (each atomically): for a sweep ``accuracy_curves.*``,
        ``execution_time.*`` and the figures of the representative run of each dataset
        (replicate 0 of the baseline grid point); for a run directory its figures:
        ``curves_<run_id>.*`` (:func:`plot_learning_curves`), ``degrees_<run_id>.*``
        (:func:`plot_degree_distributions`, initial and final; needs ``model.npz``),
        ``bookkeeping_<run_id>.*`` (:func:`plot_link_bookkeeping`) and, for CHT, Path-Weight
        and Sensitivity, ``method_<run_id>.*`` (:func:`plot_method_panels`).  The sweep
        figures are drawn by ``by = "zeta"`` when ζ is a grid key or no grid is given, else
        by the first grid key.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> run = pathlib.Path(tmp.name) / "run"; run.mkdir()
    >>> history = [{"epoch": e, "test_accuracy": 0.5, "nnz": [50], "removed": [5],
    ...             "regrown": [5], "active_neurons": [10, 3]} for e in (1, 2)]
    >>> _ = (run / "history.json").write_text(json.dumps({"history": history}))
    >>> [str(p.relative_to(run)) for p in plot_results(run, formats=["svg"], quiet=True)]
    ['plots/curves_run.svg', 'plots/bookkeeping_run.svg']
    >>> tmp.cleanup()
    """
    _require_matplotlib()
    path = Path(path)
    formats = _check_formats(formats)
    sweep_file, run_file = path / "results.json", path / "history.json"
    if not (path.is_dir() and (sweep_file.is_file() or run_file.is_file())):
        raise ValueError(f"path must be a sweep output directory (holding results.json) or a "
                         f"run directory (holding history.json), got {str(path)!r}")
    out_dir = Path(out_dir) if out_dir is not None else path / "plots"
    check_output_dir(out_dir, "out_dir")
    written = []

    def save(fig, stem):
        written.extend(_save(fig, out_dir, stem, formats))
        if not quiet:
            suffix = formats[0] if len(formats) == 1 else "{" + ",".join(formats) + "}"
            print(f"wrote {out_dir / stem}.{suffix}")

    def single(run_dir, run_id):
        run = _dir_run(run_dir)                     # one reading for all of the run's figures
        if run.history is not None:
            save(plot_learning_curves(run), f"curves_{run_id}")
        if run.model is not None:
            save(plot_degree_distributions(run), f"degrees_{run_id}")
            why = run.initial_layers()[1]
            if why and not quiet:
                print(f"{run_dir}: initial degrees not drawn: {why}")
        elif not quiet:
            print(f"no model.npz in {run_dir}: degree distributions skipped")
        if run.history is not None:
            save(plot_link_bookkeeping(run), f"bookkeeping_{run_id}")
            if run.method in METHOD_PANELS:
                save(plot_method_panels(run), f"method_{run_id}")

    if not sweep_file.is_file():
        single(path, path.name)
        return written
    sweep = _Sweep(path)
    if not sweep.ok:
        raise ValueError(f"{str(path)!r} holds no finished ('ok') run yet; nothing to plot")
    grid = sweep.grid
    by = "zeta" if "zeta" in grid or not grid else grid[0]
    if not grid and len({r.get("method") for r in sweep.ok}) > 1:
        by = "method"
    save(plot_accuracy_curves(sweep_file, by=by), "accuracy_curves")
    save(plot_execution_time(sweep_file, by=by), "execution_time")
    for name in sweep.datasets():
        row = _representative(sweep, name, by)
        single(sweep.run_dir(row), row.get("run_id") or sweep.run_dir(row).name)
    return written
