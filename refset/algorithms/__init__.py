"""Topology-evolution methods, one module per algorithm."""
from .sparse_evolutionary import SetStepResult, original_thresholds, select_prune, set_step

__all__ = ["SetStepResult", "original_thresholds", "select_prune", "set_step"]

from .path_weight import EvolutionStepResult, path_weight_step, update_schedule  # noqa: E402
from .sensitivity import sensitivity, sensitivity_step  # noqa: E402

__all__ += ["EvolutionStepResult", "path_weight_step", "update_schedule", "sensitivity",
            "sensitivity_step"]

from .ch3_l3 import ch3_l3_reference, ch3_l3_scores, ch3_l3_top_k  # noqa: E402
from .cht import EarlyStop, EsmlStepResult, early_stop_update, esml_step, percolate  # noqa: E402

__all__ += ["ch3_l3_reference", "ch3_l3_scores", "ch3_l3_top_k", "EarlyStop", "EsmlStepResult",
            "early_stop_update", "esml_step", "percolate"]
