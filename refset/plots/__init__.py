r"""Figures of a ζ sweep and of single runs: Cavallaro et al. (2020), Figs. 2 and 3.

Cavallaro, Grilli, Mocanu et al., *Artificial neural networks training acceleration through
network science strategies*, Soft Computing 24:17787 (2020): Fig. 2 is the test accuracy per
epoch for each revise fraction ζ, one panel per dataset; Fig. 3 the execution time over 10
runs, with the gain :math:`1 - t(\zeta = 0) / t(\zeta_{default})` (ALGORITHMS §6).  Four more
figures read any single run: its learning curves (loss and accuracy per epoch, train and test,
and the seconds of each epoch split into training, evaluation and topology update); the degree
distributions of its sparse layers at the start and at the end, against the Erdős–Rényi
expectation; its link bookkeeping (link counts, removed / regrown links and active neurons per
epoch); and its method's own panels (CHT: overlap, frozen layers, percolation, active neurons;
Path-Weight: λ, ζ, δ per update as used and the importances that drive them; Sensitivity: the
mean sensitivity).  The title of each states the method and the schedule actually used, read
from the history where the method records it (Path-Weight's ζ per update, CHT's frozen layers,
the learning rate per epoch), else from the run's config.

The inputs are the files ``refset sweep`` and ``refset train`` write (``results.json``,
``runs/<run_id>/history.json`` and ``model.npz``).  matplotlib is optional and imported
lazily; figures are built on :class:`matplotlib.figure.Figure` (no pyplot state), so they work
headless, in scripts and in notebooks (matplotlib ≥ 3.7: legends placed outside the axes).
No randomness is involved.

Modules: :mod:`.sweeps` (Figs. 2 and 3 of a sweep), :mod:`.runs` (figures of a single run),
:mod:`.files` (:func:`plot_results`, every figure to files); private: ``_sweep`` (reading
``results.json`` and histories), ``_run`` (reading one run, rebuilding its initial network,
titles), ``_style`` (matplotlib guard, colours, markers, layout).

Deviations
----------
- Accuracy is drawn in percent, as in the paper, with its markers (circle, triangle, square,
  cross for the first four values, in sorted order).  The band is the 95 % Student-t confidence
  interval of the mean over the runs that reached the epoch, drawn where at least two did.
- Execution time: mean seconds per run split into train / evaluation / topology (stacked);
  the error bar is the standard deviation over runs of the total (run-to-run spread, what
  "over 10 runs" shows), omitted for a single run.  The gain
  :math:`1 - t(compare) / t(baseline)` uses the mean ``seconds_total`` of the rows (sum of the
  three parts when absent); it is written when both values of ``by`` were run, the baseline
  being ``config["summary"]["baseline"][by]`` (else 0.3 when ``by == "zeta"``) and the
  compared value ``config["summary"]["compare"][by]`` (else 0), per combination of the other
  varying keys.
- Grid keys other than ``by`` (and ``method``) that vary in the results are not averaged over:
  each combination gets its own line or bar, coloured by its ``by`` value and told apart by
  line style (curves) or tick label (bars).  Colours follow the sorted values of ``by`` over
  the whole sweep, so a value has the same colour in every panel and figure.
- Degree distributions skip dense layers (density 1).  The Erdős–Rényi expectation is the
  binomial degree law of :math:`G(n, p)` with the layer's density p (a close approximation of
  the exact-M model), drawn as expected neurons per bin, with its mean degree as a dashed line.
  Counts are log-scaled when the largest and smallest non-zero bins differ by ≥ 50×.
- The initial degrees are not stored in a run directory (``model.npz`` is the final network,
  the history holds counts only): they are recomputed.  The initial network is rebuilt by the
  model's own initialisation from the run's parameters and seed (those ``model.npz`` holds,
  the same as ``config.json``'s), ``SparseMLP(**params)._initialize(n_features, n_classes,
  draws_from_seed(seed), X_train)``, the call :meth:`refset.SparseMLP.fit` makes before the
  first epoch, so it is the run's initial network bit for bit (tests check it against the
  layers a run really started from).  Erdős–Rényi layers need only the numbers of features
  and classes (from ``model.npz``); CHT's CSTI layers also need the training data, loaded
  again from ``config["data"]``.  When that fails (data file missing, no ``config.json`` for
  CSTI, no integer seed) only the final degrees are drawn and the figure's title says why.
  The initial degrees are a step line over the final histogram; the Erdős–Rényi expectation
  is that of the final layer.
- Active neurons are drawn on a linear axis, in percent of each layer's width when it is known
  (from ``model.npz`` or a model), so that a shrinkage such as CHT's 784 → 673 inputs shows;
  the legend gives the counts.  Train loss and accuracy are what the history records: with
  ``train_metrics="running"`` (the default) running means over the epoch's mini-batches, which
  the legend says.
- The representative run of a dataset in :func:`plot_results` is replicate 0 of the baseline
  grid point (``config["summary"]["baseline"]``, else ζ = 0.3) if it finished, else the first
  finished run of that dataset in ``results.json`` order.
- Layout is matplotlib's "constrained" layout (the successor of tight layout, which also fits
  suptitles and legends).
"""
from .files import plot_results
from .runs import (plot_degree_distributions, plot_learning_curves, plot_link_bookkeeping,
                   plot_method_panels)
from .sweeps import plot_accuracy_curves, plot_execution_time

__all__ = ["plot_accuracy_curves", "plot_execution_time", "plot_learning_curves",
           "plot_degree_distributions", "plot_link_bookkeeping", "plot_method_panels",
           "plot_results"]
