"""Topology-evolution methods, one module per algorithm."""
from .sparse_evolutionary import SetStepResult, select_prune, set_step

__all__ = ["SetStepResult", "select_prune", "set_step"]

from .ch3_l3 import ch3_l3_reference, ch3_l3_scores, ch3_l3_top_k  # noqa: E402
from .cht import EarlyStop, EsmlStepResult, early_stop_update, esml_step, percolate  # noqa: E402

__all__ += ["ch3_l3_reference", "ch3_l3_scores", "ch3_l3_top_k", "EarlyStop", "EsmlStepResult",
            "early_stop_update", "esml_step", "percolate"]
