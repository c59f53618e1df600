"""The estimator: :class:`SparseMLP`, its training loop and everything a run keeps.

=====================================  ===================================================
module                                 what it holds
=====================================  ===================================================
:mod:`refset.estimator.mlp`            :class:`SparseMLP`: parameters, initialisation, the
                                       training loop, prediction, persistence
:mod:`refset.estimator.numerics`       forward pass, loss, backpropagation, SGD, evaluation
:mod:`refset.estimator.evolution`      the topology update after an epoch (calls a method)
:mod:`refset.estimator.methods`        the methods as the model sees them: names, options,
                                       defaults, state between updates
:mod:`refset.estimator.layout`         the order in which the forward pass reads the links
:mod:`refset.estimator.checkpoint`     checkpoints: model, optimizer and generator state
:mod:`refset.estimator.history`        the per-epoch history as JSON and CSV
:mod:`refset.estimator.run`            a run directory: data arguments, ``config.json``,
                                       history files (shared by ``refset train`` and sweeps)
=====================================  ===================================================

The algorithms themselves are in :mod:`refset.algorithms`, the kernels in
:mod:`refset.kernels`.
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .methods import DEFAULTS, METHODS, make_method
from .mlp import SparseMLP
from .._validation import NotFittedError

__all__ = ["CheckpointError", "DEFAULTS", "METHODS", "NotFittedError", "SparseMLP",
           "load_checkpoint", "make_method", "save_checkpoint"]
