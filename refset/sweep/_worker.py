"""The worker of a sweep: one cell in, its outcome out; it reads data files, writes nothing."""
import os
import shutil
import tempfile
import threading
import time
import traceback
import warnings

__all__ = ["run_cell", "execute", "watch_driver"]


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
    global _scratch
    from ..estimator.run import load_run_data
    from ..datasets import DatasetNotFoundError

    try:
        data = load_run_data(cell.data_args)
        model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test))
        if save_model:
            with tempfile.TemporaryDirectory(prefix="refset-sweep-") as tmp:
                _scratch = tmp                     # removed by watch_driver if the driver dies
                try:
                    path = os.path.join(tmp, "model.npz")
                    model.save(path)
                    with open(path, "rb") as f:
                        out["model"] = f.read()
                finally:
                    _scratch = None
    except DatasetNotFoundError as exc:
        out.update(status="skipped", error=_missing_message(exc, cell.data_args["data_dir"]))
    except Exception as exc:  # noqa: BLE001 -- any failure of one run is recorded, not raised
        out.update(status="failed", error=_one_line(exc), traceback=traceback.format_exc())


def _one_line(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _alive(pid):
    """Whether process ``pid`` exists and is not a zombie (a killed, unreaped driver)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


_watched = None            # the driver this worker process watches (one thread per process)
_scratch = None            # the temporary directory holding the model being saved, if any


def watch_driver(driver_pid, interval=0.5):
    """End this worker process (``os._exit(1)``) as soon as the sweep's driver is gone.

    Started once per worker process by the first task it runs: a daemon thread that polls
    every ``interval`` seconds.  A worker is the driver's child under joblib's loky backend,
    so "gone" is "this process's parent changed" (it was reparented: the driver died, even if
    nobody reaped it yet); otherwise, or if the driver died before the thread started, it is
    "no process ``driver_pid`` is alive".  Without it a killed driver leaves its workers
    training their current cells, for hours with large models.  A model being saved to the
    worker's temporary directory is removed first.  No-op in the driver itself.
    """
    global _watched
    if driver_pid is None or driver_pid == os.getpid() or _watched == driver_pid:
        return
    child = os.getppid() == driver_pid

    def watch():
        while True:
            time.sleep(interval)
            if not (os.getppid() == driver_pid if child else _alive(driver_pid)):
                if _scratch is not None:           # a model being saved: do not leave it
                    shutil.rmtree(_scratch, ignore_errors=True)
                os._exit(1)

    threading.Thread(target=watch, name="refset-sweep-driver-watch", daemon=True).start()
    _watched = driver_pid


def _run_in_worker(cell, save_model, driver_pid):
    """A joblib worker's task: watch the driver, then :func:`run_cell`."""
    watch_driver(driver_pid)
    return run_cell(cell, save_model)


def execute(tasks, jobs, dask):
    """Outcomes of ``tasks`` (cell, save_model) as they finish."""
    if dask is None and jobs == 1:
        for cell, save in tasks:
            yield run_cell(cell, save)
        return
    import joblib

    calls = (joblib.delayed(run_cell)(cell, save) for cell, save in tasks)
    if dask is None:
        driver = os.getpid()
        calls = (joblib.delayed(_run_in_worker)(cell, save, driver) for cell, save in tasks)
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
