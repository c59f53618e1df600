"""Topology-evolution methods, one module per algorithm."""
from .sparse_evolutionary import SetStepResult, select_prune, set_step

__all__ = ["SetStepResult", "select_prune", "set_step"]
