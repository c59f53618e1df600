r"""Experiment sweeps: datasets × grid × replicates, run in parallel, resumable, summarised.

``refset sweep CONFIG`` (or :func:`run_sweep`) trains one :class:`refset.SparseMLP` per cell of
a TOML config and writes every run, a results table and Cavallaro et al.'s statistics (ζ study,
ALGORITHMS §6; Table 3 and the time gain of their §5.2).  ``experiments/cavallaro2020.toml`` is the
reproduction; ``experiments/zeta_quick.toml`` runs in seconds.

Config
------
.. code-block:: toml

    [experiment]
    name = "cavallaro2020"   # label (letters, digits, . _ + = -); default "sweep"
    seed = 2020              # root seed, default 0
    runs = 10                # replicates per cell, >= 1, default 1
    epochs = 150             # default 100
    save_models = "all"      # model.npz of "all" runs, of replicate 0 only ("first"), or "none"
    [data]
    datasets = ["lung", "CLL_SUB_111", "COIL20", "TOX-171"]  # required; registered names
    test_size = 0.3333333333333333   # default 1/3
    missing = "skip"         # absent data file: "skip" its runs (with a message) or "error"
    data_dir = "../data"     # optional; relative to the config file; default $REFSET_DATA
    [data.synthetic]         # make_synthetic options, for the "synthetic" dataset only
    n_samples = 600
    [model]                  # fixed SparseMLP parameters (get_params() names)
    hidden_layer_sizes = [3000, 3000, 3000]
    epsilon = 20
    [model.method_options]   # options of the method, or one table per method when the
    lam = 0.1                # grid runs over methods: [model.method_options.path-weight]
    [grid]                   # cartesian product: SparseMLP parameters or method_options.<name>
    zeta = [0.0, 0.01, 0.02, 0.3]
    method = ["set", "path-weight"]
    [summary]
    baseline = { zeta = 0.3 }  # gain = 1 - t(compare) / t(baseline)
    compare = { zeta = 0.0 }   # default { zeta = 0.0 } when baseline is { zeta = ... }

``seed``, ``epochs``, ``threads`` and ``verbose`` are set by the sweep and refused in
``[model]`` and ``[grid]``; a key may be fixed or gridded, not both.  Without ``[summary]`` the
baseline is ``{ zeta = 0.3 }`` when ``grid.zeta`` holds 0 and 0.3 (else no gain).  Every cell's
model is constructed and validated before any run starts; a bad config is a ``ValueError``
naming the key (``experiment.runs: must be an integer >= 1, got 0``).

Cells and seeds
---------------
A cell is (dataset, grid point, replicate ``r``).  Its seed is :func:`cell_seed`:
``SeedSequence(root_seed, spawn_key=(D, r))`` (``D``: the dataset's registered name as an
integer of its UTF-8 bytes), first 32-bit word.  It drives the split and all training, exactly
as ``refset train --dataset NAME --seed SEED`` with the same parameters.  It does not depend
on the grid point (paired design): replicate ``r`` of every ζ (and every method) sees the same
train/test split, and with one method the same initial network and first-epoch order, so grid
points differ only by what they vary.  Adding or reordering grid values, datasets or
replicates changes no other cell's seed.  Run ids read
``<dataset>__<method>__<key>=<value>...__r<replicate>`` (grid keys sorted,
``method_options.`` dropped, lists joined by ``x``), e.g. ``COIL20__set__zeta=0.3__r03``.

Output layout
-------------
::

    OUT/sweep.toml            the config (its text); another config in the same OUT is refused
    OUT/results.json          {"config": <normalised config>, "runs": [row, ...]}
    OUT/results.csv           the same rows, grid keys as columns (lists as JSON)
    OUT/summary.json, summary.csv     summarize(rows) (a list of rows)
    OUT/runs/<run_id>/config.json     {"data": ..., "model": ...}, as refset train writes it
    OUT/runs/<run_id>/history.json, history.csv
    OUT/runs/<run_id>/model.npz       the final model (checkpoint format; see save_models)
    OUT/runs/<run_id>/result.json     its row; error.txt (traceback) for a failed run
    OUT/.lock                 holds the pid of the sweep running here (an flock; see below)

A run directory is a ``refset train`` run directory (``refset train --resume`` extends it).
Row fields: ``run_id, dataset, method, <grid keys but method>, replicate, seed, status``
(``ok`` | ``failed`` | ``skipped``), ``error`` (one line), ``epochs, final_accuracy,
best_accuracy, best_epoch, aae, mean_accuracy`` (mean over the epochs),
``mean_accuracy_ci_low, mean_accuracy_ci_high`` (its 95 % Student-t interval over the epochs),
``seconds_train, seconds_eval, seconds_topology, seconds_total`` (sums over the history) and
``run_dir`` (relative to OUT; None for skipped runs, which have no directory).

Running, resume and failures
----------------------------
Workers (joblib processes with ``jobs > 1``, or a Dask cluster) train a cell and return its
history, config and model bytes; the driver writes the files, atomically, as each run finishes
(``result.json`` last), then rewrites ``results.json`` and ``results.csv``.  Rerunning skips
every run whose ``result.json`` says ``ok`` (with its files present) and retries failed and
skipped ones; a run that raised is ``failed`` with its error and the others go on; a dataset
whose file is absent is ``skipped`` ("lung.mat not found in DIR; put the file there or remove
it from [data] datasets").  Pending runs execute replicate by replicate, so an interrupted
sweep holds whole replicates of every grid point; within replicate ``r`` the grid points start
at the ``r``-th (mod their number), so no grid point always runs first on a machine whose speed
drifts.

Locking, leftovers and failures
-------------------------------
A sweep holds an exclusive lock on OUT (``fcntl.flock`` of ``OUT/.lock``, non-blocking) from
before it reads OUT until it ends: a second sweep on the same OUT fails at once ("OUT is in
use by another sweep (pid N)").  The kernel drops the lock when the holder dies, so the file
a killed sweep leaves blocks nothing.  Under the lock the sweep removes the temporary files
(``.tmp-XXXXXXXX-<name>``, of :func:`refset._io.atomic_write`) a killed sweep left in OUT
and ``OUT/runs`` and says how many (and their size), and reruns a run marked ``ok`` whose
``model.npz`` is not a whole checkpoint (``--dry-run`` shows it as pending).  Worker
processes (``jobs > 1``) end themselves within a second when the driver dies.
:func:`run_sweep` returns the rows as a :class:`SweepResult`, whose ``failure_message()``
(``"2 of 12 runs failed; see OUT/runs/*/error.txt"``) makes ``refset sweep`` exit with
status 1.  An OUT that is a file, lies under a file or is not writable, and a config that is
a directory or not UTF-8 text, are refused before anything runs with a ``ValueError`` naming
the path.

Deviations
----------
- An unfinished run restarts from epoch 0; it is not resumed from a mid-run checkpoint
  (workers need not see OUT).  Its seed makes the restarted run equal an uninterrupted one.
- The sections that define the runs must match to continue in an OUT; ``experiment.name``,
  ``experiment.save_models``, ``data.data_dir``, ``data.missing`` and ``[summary]`` may change
  (``sweep.toml`` is then rewritten).
- Cavallaro's Table 3 is one run with a fixed seed: the summary's ``r0_*`` fields are that
  statistic for replicate 0 (highest accuracy, mean over the epochs with its 95 % interval over
  the epochs); the statistics over the runs (``final_accuracy_*``, ``best_accuracy``,
  ``mean_accuracy_mean``) are given beside them.  Times are mean seconds per run: training,
  evaluation and topology update of every epoch (data loading and the construction of the
  initial network are excluded), measured in the worker.
- With ``dask``, the cells go through joblib's Dask backend, except on a cluster with a
  single worker thread, where joblib would run them in the driver's process: they are then
  submitted to the cluster directly (``Client.submit``).
- Missing files are detected by the driver before the runs start (their runs are skipped at
  once); with ``dask`` the workers detect them.  With ``data.missing = "error"`` the sweep is
  refused before it starts (a worker that finds a file missing records the run as failed).
"""
from ._cells import Cell, cell_seed, expand_cells, grid_points
from ._config import load_config, parse_config
from ._runner import SweepResult, plan_sweep, run_sweep
from ._worker import run_cell
from ._summary import (ROW_FIELDS, epoch_interval, format_summary, load_results, row_fields,
                       run_metrics, summarize, summary_fields)

__all__ = [
    "Cell", "ROW_FIELDS", "SweepResult", "cell_seed", "epoch_interval", "expand_cells",
    "format_summary", "grid_points", "load_config", "load_results", "parse_config",
    "plan_sweep", "row_fields", "run_cell", "run_metrics", "run_sweep", "summarize",
    "summary_fields",
]
