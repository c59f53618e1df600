"""The worker of a sweep: one cell in, its outcome out; it reads data files, writes nothing."""
import os
import tempfile
import traceback
import warnings

__all__ = ["run_cell", "execute"]


def _missing_message(exc, data_dir):
    from ..datasets import data_home

    root = data_home(data_dir)
    try:
        name = os.path.relpath(exc.path, root) if exc.path is not None else str(exc)
    except ValueError:                    # another drive (Windows)
        name = os.fspath(exc.path)
    return (f"{name} not found in {root}; put the file there or remove it from "
            "[data] datasets")


def run_cell(cell, save_model=True):
    """Train one cell and return its outcome; reads the data files, writes nothing.

    This is what a worker runs (in a joblib process or on a Dask worker): the driver writes
    the files, so workers need no access to the output directory.

    Parameters
    ----------
    cell : Cell
        From :func:`refset.sweep.expand_cells`.
    save_model : bool, default True
        Return the final model as the bytes of its ``model.npz`` checkpoint.

    Returns
    -------
    outcome : dict
        ``status`` (``"ok"``, ``"failed"`` or ``"skipped"`` when a data file is missing),
        ``error`` (one line or None), ``traceback``, ``config`` (the run's ``config.json``),
        ``history`` (the records of the epochs completed), ``model`` (bytes or None) and
        ``warnings`` (the distinct warning messages of the run).

    Examples
    --------
    >>> from refset.sweep import expand_cells, parse_config
    >>> config = parse_config({"experiment": {"epochs": 2}, "data": {"datasets": ["synthetic"],
    ...     "synthetic": {"n_samples": 90, "n_features": 20}},
    ...     "model": {"hidden_layer_sizes": [8], "epsilon": 2}})
    >>> outcome = run_cell(expand_cells(config)[0], save_model=False)
    >>> outcome["status"], len(outcome["history"])
    ('ok', 2)
    """
    from ..estimator import SparseMLP
    from ..estimator.run import run_config

    out = {"run_id": cell.run_id, "status": "ok", "error": None, "traceback": None,
           "config": None, "history": [], "model": None, "warnings": []}
    model = SparseMLP(**cell.params)
    out["config"] = run_config(cell.data_args, model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train_cell(cell, model, save_model, out)
    out["warnings"] = list(dict.fromkeys(str(w.message) for w in caught))
    out["history"] = list(getattr(model, "history_", []))
    return out


def _train_cell(cell, model, save_model, out):
    from ..estimator.run import load_run_data
    from ..datasets import DatasetNotFoundError

    try:
        data = load_run_data(cell.data_args)
        model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test))
        if save_model:
            with tempfile.TemporaryDirectory(prefix="refset-sweep-") as tmp:
                path = os.path.join(tmp, "model.npz")
                model.save(path)
                with open(path, "rb") as f:
                    out["model"] = f.read()
    except DatasetNotFoundError as exc:
        out.update(status="skipped", error=_missing_message(exc, cell.data_args["data_dir"]))
    except Exception as exc:  # noqa: BLE001 -- any failure of one run is recorded, not raised
        out.update(status="failed", error=_one_line(exc), traceback=traceback.format_exc())


def _one_line(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def execute(tasks, jobs, dask):
    """Outcomes of ``tasks`` (cell, save_model) as they finish."""
    if dask is None and jobs == 1:
        for cell, save in tasks:
            yield run_cell(cell, save)
        return
    import joblib

    calls = (joblib.delayed(run_cell)(cell, save) for cell, save in tasks)
    if dask is None:
        with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
            yield from joblib.Parallel(n_jobs=jobs, return_as="generator_unordered",
                                       batch_size=1)(calls)
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("--dask needs the distributed package: pip install "
                          "'refset[distributed]'") from None
    try:
        client = Client(dask) if isinstance(dask, str) else dask
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"dask: cannot connect to the scheduler at {dask} ({exc})") from None
    try:
        if sum(client.ncores().values()) > 1:
            with joblib.parallel_config(backend="dask"):
                yield from joblib.Parallel(n_jobs=-1, return_as="generator_unordered",
                                           batch_size=1)(calls)
        else:       # joblib runs a one-thread pool in this process: submit to the cluster
            from distributed import as_completed

            futures = [client.submit(run_cell, cell, save, pure=False) for cell, save in tasks]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures)
    finally:
        if client is not dask:
            client.close()
