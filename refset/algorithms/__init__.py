"""The algorithms of the papers, one module each, in the order a reader meets them.

=============================================  ==================================================
module                                         algorithm (specification: ``docs/spec/algorithms.md``)
=============================================  ==================================================
:mod:`~refset.algorithms.erdos_renyi`          Erdős–Rényi sparse initialisation (ALGORITHMS §1)
:mod:`~refset.algorithms.initializers`         weight initialisers of a layer's links (§1)
:mod:`~refset.algorithms.topology`             isolation and free-cell sampling, shared by all (§0)
:mod:`~refset.algorithms.sparse_evolutionary`  SET: remove ζ, regrow at random (§2)
:mod:`~refset.algorithms.paths`                input-to-output path enumeration and path sums (§4.1)
:mod:`~refset.algorithms.path_weight`          Path-Weight evolution (§4.1–4.4)
:mod:`~refset.algorithms.sensitivity`          Sensitivity evolution (§4.5)
:mod:`~refset.algorithms.csti`                 CSTI: correlated sparse topological initialisation (§5.1)
:mod:`~refset.algorithms.swi`                  SWI: sparse weight initialisation (§5.2)
:mod:`~refset.algorithms.ch3_l3`               CH3-L3 link prediction on one layer (§5.4)
:mod:`~refset.algorithms.cht`                  ESML / CHT: topology step, percolation, early stop (§5.3)
=============================================  ==================================================

Each module is plain numpy, readable on its own, and lists its deviations from the paper in
its docstring.  The public functions are importable from here as well, e.g.
``refset.algorithms.set_step``.
"""
from .erdos_renyi import erdos_renyi_count, erdos_renyi_layer, erdos_renyi_probability
from .initializers import INITIALIZERS, get_initializer
from .sparse_evolutionary import SetStepResult, original_thresholds, select_prune, set_step
from .path_weight import EvolutionStepResult, path_weight_step, update_schedule
from .sensitivity import link_sensitivity, sensitivity_step
from .csti import csti_layers, csti_topology, feature_correlation, feature_statistics
from .swi import SWI
from .ch3_l3 import ch3_l3_reference, ch3_l3_scores, ch3_l3_top_k
from .cht import EarlyStop, EsmlStepResult, early_stop_update, esml_step, percolate

__all__ = [
    "erdos_renyi_count", "erdos_renyi_layer", "erdos_renyi_probability",
    "INITIALIZERS", "get_initializer",
    "SetStepResult", "original_thresholds", "select_prune", "set_step",
    "EvolutionStepResult", "path_weight_step", "update_schedule",
    "link_sensitivity", "sensitivity_step",
    "csti_layers", "csti_topology", "feature_correlation", "feature_statistics",
    "SWI",
    "ch3_l3_reference", "ch3_l3_scores", "ch3_l3_top_k",
    "EarlyStop", "EsmlStepResult", "early_stop_update", "esml_step", "percolate",
]
