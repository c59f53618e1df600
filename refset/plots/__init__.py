r"""Figures of a ζ sweep and of single runs: Cavallaro et al. (2020), Figs. 2 and 3.

Cavallaro, Grilli, Mocanu et al., *Artificial neural networks training acceleration through
network science strategies*, Soft Computing 24:17787 (2020): Fig. 2 is the test accuracy per
epoch for each revise fraction ζ, one panel per dataset; Fig. 3 the execution time over 10
runs, with the gain :math:`1 - t(\zeta = 0) / t(\zeta_{default})` (ALGORITHMS §6).  Two more
figures read any single run: the degree distributions of its sparse layers against the
Erdős–Rényi expectation, and its link bookkeeping (link counts, removed / regrown links and
active neurons per epoch).

The inputs are the files ``refset sweep`` and ``refset train`` write (``results.json``,
``runs/<run_id>/history.json`` and ``model.npz``).  matplotlib is optional and imported
lazily; figures are built on :class:`matplotlib.figure.Figure` (no pyplot state), so they work
headless, in scripts and in notebooks (matplotlib ≥ 3.7: legends placed outside the axes).
No randomness is involved.

Modules: :mod:`.sweeps` (Figs. 2 and 3 of a sweep), :mod:`.runs` (figures of a single run),
:mod:`.files` (:func:`plot_results`, every figure to files); private: ``_sweep`` (reading
``results.json`` and histories), ``_style`` (matplotlib guard, colours, markers, layout).

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
- The representative run of a dataset in :func:`plot_results` is replicate 0 of the baseline
  grid point (``config["summary"]["baseline"]``, else ζ = 0.3) if it finished, else the first
  finished run of that dataset in ``results.json`` order.
- Layout is matplotlib's "constrained" layout (the successor of tight layout, which also fits
  suptitles and legends).
"""
from .files import plot_results
from .runs import plot_degree_distributions, plot_link_bookkeeping
from .sweeps import plot_accuracy_curves, plot_execution_time

__all__ = ["plot_accuracy_curves", "plot_execution_time", "plot_degree_distributions",
           "plot_link_bookkeeping", "plot_results"]
