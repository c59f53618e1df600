r"""A truly sparse multilayer perceptron trained with SGD and SET topology evolution.

Every layer is a canonical COO matrix from the first step to the last; no dense weight matrix
or mask is ever formed.  The training loop follows ALGORITHMS §3 and the topology update §2.

Notation: layer ``l`` maps ``h^{l-1}`` (``n_{l-1}`` features) to
:math:`h^l = f_l(h^{l-1} W^l + b^l)`, ReLU on hidden layers, softmax (cross-entropy) or
sigmoid (squared error) at the output.  Internally activations are feature-major
``(n_features, batch)`` so the kernels stream contiguous batch vectors (PERFORMANCE §2).

This module holds the estimator :class:`SparseMLP`: parameters, initialisation, the training
loop, prediction and persistence.  Its other parts are the sibling modules of
:mod:`refset.estimator`, each listing its own deviations: :mod:`~refset.estimator.numerics`
(forward pass, loss, backpropagation, SGD, evaluation; the mixin ``_Numerics``),
:mod:`~refset.estimator.evolution` (topology updates; ``_TopologyEvolution``) and
:mod:`~refset.estimator.layout` (the order in which the forward pass reads the links;
re-exported here: :func:`forward_order`, ``COLUMN_ORDER_MIN_BATCH``, ``TILE_BYTES``,
``TILE_MIN_LINKS``).

Deviations
----------
- The loss (``loss="mse"``), weight decay and ``loss_and_gradients``:
  :mod:`refset.estimator.numerics`; Path-Weight's layer norms, Sensitivity's gradients, ANP and
  AAE: :mod:`refset.estimator.evolution`.
- Train loss and accuracy are by default running averages over the epoch's mini-batches
  (before each update, with dropout); ``train_metrics="full"`` evaluates the whole training
  set after the epoch instead.  The test metrics are always evaluated after the epoch's
  updates, before the topology update.
- ``predict_proba`` with ``loss="mse"`` returns the sigmoid outputs normalised to sum 1.
- Methods (:mod:`refset.estimator.methods`): Path-Weight refuses ``dense_output=True`` (its paths run
  through every layer); CSTI needs the dense output layer and hidden widths M or 2M.
- ``update_interval``: the topology evolves after epochs whose number is a multiple of it,
  never after the last.
- ``fidelity`` (:mod:`refset.fidelity`): quirks of the published code that act in the training
  loop — ``drop_last_batch`` (n // B batches; the train metrics average over the samples
  trained on), the CHT authors' initialisation (masked CSTI weights, N(0, σ_SWI²) sparse biases,
  PyTorch's output layer) and the per-layer regrowth budget kept in ``method_state_``.
- A non-finite training loss stops ``fit`` with ``FloatingPointError`` (finished epochs and the
  last checkpoint are kept) instead of training on NaN.
- ``fit`` refuses, before allocating, a network whose :meth:`SparseMLP.estimate_memory` (a
  lower bound) exceeds the memory available (``MemAvailable``), and CSTI widths that cannot be
  built; it warns when ``threads`` exceeds the CPUs.
- Numeric parameters are used as Python numbers in training (``float(lr)``, ``int(batch)``):
  a numpy scalar (``np.float64`` with float32 layers, NEP 50) would otherwise change the
  arithmetic, and a checkpoint, which stores Python numbers, would resume differently.

Notes
-----
The order in which the forward pass reads the links, and why one and two threads give
identical runs: :mod:`refset.estimator.layout`.
"""
import hashlib
import math
import os
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import validate_data

from .checkpoint import load_checkpoint, save_checkpoint
from .evolution import _TopologyEvolution
# re-exported: benchmarks and tests import the forward pass's link order from refset.estimator.mlp
from .layout import COLUMN_ORDER_MIN_BATCH, TILE_BYTES, TILE_MIN_LINKS, forward_order  # noqa: F401
from .numerics import _Numerics
from .._lock import size_text
from .._progress import epoch_progress
from ..kernels.backend import warn_if_fallback
from ..draws import draws_from_seed
from .._validation import (NotFittedError, check_choice, check_class_labels, check_finite_2d,
                           check_float, check_int, check_labels)
from ..algorithms.sparse_evolutionary import set_step
from ..algorithms.erdos_renyi import erdos_renyi_count, erdos_renyi_layer
from .. import fidelity as _fidelity
from ..algorithms.initializers import TorchLinear, get_initializer
from ..algorithms.swi import SWI
from .methods import DEFAULTS as METHOD_DEFAULTS, METHODS, make_method
from ..sparse import CooMatrix

__all__ = ["SparseMLP"]


def _resolve_dtype(dtype):
    """numpy dtype for ``"float32"``/``"float64"`` (or those numpy types); else ValueError."""
    if dtype in ("float32", "float64", np.float32, np.float64, np.dtype("float32"), np.dtype("float64")):
        return np.dtype(dtype)
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


class SparseMLP(ClassifierMixin, BaseEstimator, _Numerics, _TopologyEvolution):
    r"""Truly sparse MLP with Erdős–Rényi initialisation and SET evolution.

    A scikit-learn classifier (``clone``, ``Pipeline``, ``cross_val_score``, ``GridSearchCV``
    work; ``get_params``/``set_params`` come from ``BaseEstimator``).  ``X`` may be a
    ``scipy.sparse`` matrix: it is converted with ``toarray()`` (the network is sparse, not its
    input), which is fine for the data sizes refset trains on.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (1000, 1000, 1000)
        Widths of the hidden layers (any depth, at least one).
    epsilon : float, default 20
        Erdős–Rényi sparsity parameter ε > 0 of every layer.
    zeta : float, default 0.3
        SET revise fraction in [0, 1]; 0 is static sparse training.
    prune : {"sign", "magnitude", "original"}, default "sign"
        SET removal rule: the papers' sign split (⌊ζ n⌋ per sign), the smallest :math:`|w|`,
        or the original code's thresholds (ALGORITHMS §7).
    allow_regrow_removed : bool, default True
        Whether just-removed positions may be regrown.
    epochs : int, default 100
        Training epochs; the topology evolves after every epoch but the last.
    batch_size : int, default 32
    learning_rate : float, default 0.01
    momentum : float, default 0.9
    weight_decay : float, default 2e-4
    weight_decay_style : {"coupled", "original"}, default "coupled"
    loss : {"cross_entropy", "mse"}, default "cross_entropy"
        Softmax + cross-entropy, or sigmoid + squared error (the original SET setup).
    dropout : float in [0, 1), default 0
        Inverted dropout on hidden activations during training.
    weight_init : {"normal", "he_uniform", "xavier_uniform", "swi"}, callable or None
        Initialiser of the weights, also used for regrown links (``normal`` is N(0, 0.1²),
        ``swi`` the sparse weight initialisation of CHT, bound to each layer's density).
        None (default) is the method's choice: ``"swi"`` for CHT, ``"normal"`` otherwise.
    init_mode : {"exact", "bernoulli", "replacement"}, default "exact"
        Erdős–Rényi variant (see :mod:`refset.algorithms.erdos_renyi`); ``"replacement"`` is the
        original SET code's.
    dtype : {"float64", "float32"}, default "float64"
    threads : int, default 1
        Compute threads of the compiled kernels.
    backend : {None, "cython", "numpy"}, default None
        Kernel backend; None uses the active one (:func:`refset.get_backend`).
    seed : None, int, numpy.random.Generator or refset.draws.Draws
        Source of all randomness (initialisation, shuffling, dropout, topology updates),
        drawn through a :class:`refset.draws.Draws` stream; a ``Draws.replay`` of recorded
        uniforms replays a run whatever generator recorded it (not checkpointable).  Draw
        order: the initialisation (each layer's topology, then its weights, layer by layer;
        CSTI topologies draw only weights), then per epoch ``permutation(n)`` (batch order),
        per batch and hidden layer the dropout uniforms ``random((n_units, batch))`` in
        unit-major order (kept where ``u < 1 - dropout``), and after the epoch the method's
        topology update (Path-Weight first draws its probe samples, ``subset(n, probe_size)``).
    verbose : int, default 0
        1 prints one line per epoch and, on stderr, the progress of epochs longer than 5 s:
        a tqdm bar with rate and ETA on a terminal, a widget in Jupyter, a line every 10 s in
        a log (``refset._progress``); 2 shows that progress after 1 s.
    train_metrics : {"running", "full"}, default "running"
        ``"running"``: train loss and accuracy averaged over the epoch's mini-batches as they
        are trained (free, as in Keras); ``"full"``: the whole training set evaluated after
        the epoch's updates (exact, costs one forward pass over it, counted as evaluation).
    method : {"set", "path-weight", "sensitivity", "cht"}, default "set"
        Topology-evolution method (see :mod:`refset.estimator.methods`).
    method_options : dict or None
        The method's options, e.g. ``{"lam": 0.1}`` for Path-Weight; missing ones take their
        defaults (:data:`refset.estimator.methods.DEFAULTS`).
    dense_output : bool or None
        Make the output layer dense and static (CHT's setup); None is the method's choice
        (True for CHT, False otherwise).  Not available with Path-Weight, whose paths run
        through every layer.
    lr_schedule : {"constant", "linear"} or None
        ``"linear"`` decays the learning rate linearly to 1 % over 90 % of the epochs (CHT);
        None is the method's choice (``"linear"`` for CHT, ``"constant"`` otherwise).
    update_interval : int, default 1
        The topology evolves after every ``update_interval``-th epoch (never after the last).
    fidelity : "paper", "authors" or list of str, default "paper"
        ``"paper"``: the algorithm as the papers describe it (ALGORITHMS §1–§5).
        ``"authors"``: every quirk of the method's published code (SET and CHT only;
        ALGORITHMS §7); a list of quirk names switches on those only.  A quirk overrides the
        setting it concerns (e.g. ``"prune_thresholds"`` means ``prune="original"``); see
        :mod:`refset.fidelity` and :meth:`effective_params`.

    Attributes
    ----------
    layers_ : list of CooMatrix
        Sparse weights, layer ``l`` of shape ``(n_{l-1}, n_l)``.
    biases_ : list of ndarray
    velocities_ : list of (ndarray, ndarray)
        Momentum of each layer's weights (aligned with ``values``) and biases.
    classes_ : ndarray
        Class labels; column ``k`` of ``predict_proba`` is ``classes_[k]``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of ``X`` in ``fit``, when it had string column names (a pandas frame);
        absent otherwise.
    epoch_ : int
        Epochs completed.
    history_ : list of dict
        One record per epoch (see :meth:`fit`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 8)); y = (X[:, 0] > 0).astype(int)
    >>> model = SparseMLP((16,), epsilon=4, epochs=3, seed=0).fit(X, y)
    >>> [layer.nnz for layer in model.layers_]
    [96, 32]
    >>> model.predict(X[:3]).shape
    (3,)
    """

    def __init__(self, hidden_layer_sizes=(1000, 1000, 1000), *, epsilon=20.0, zeta=0.3,
                 prune="sign", allow_regrow_removed=True, epochs=100, batch_size=32,
                 learning_rate=0.01, momentum=0.9, weight_decay=2e-4,
                 weight_decay_style="coupled", loss="cross_entropy", dropout=0.0,
                 weight_init=None, init_mode="exact", dtype="float64", threads=1,
                 backend=None, seed=None, verbose=0, train_metrics="running", method="set",
                 method_options=None, dense_output=None, lr_schedule=None, update_interval=1,
                 fidelity="paper"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epsilon = epsilon
        self.zeta = zeta
        self.prune = prune
        self.allow_regrow_removed = allow_regrow_removed
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.weight_decay_style = weight_decay_style
        self.loss = loss
        self.dropout = dropout
        self.weight_init = weight_init
        self.init_mode = init_mode
        self.dtype = dtype
        self.threads = threads
        self.backend = backend
        self.seed = seed
        self.verbose = verbose
        self.train_metrics = train_metrics
        self.method = method
        self.method_options = method_options
        self.dense_output = dense_output
        self.lr_schedule = lr_schedule
        self.update_interval = update_interval
        self.fidelity = fidelity

    # -- scikit-learn conventions -----------------------------------------------------
    # get_params(), clone() and the repr come from BaseEstimator.  The parameters in the
    # signature's order: scikit-learn sorts them, get_params() keeps the order that
    # checkpoints, run configs and the CLI show.
    _PARAMS = ("hidden_layer_sizes", "epsilon", "zeta", "prune", "allow_regrow_removed",
               "epochs", "batch_size", "learning_rate", "momentum", "weight_decay",
               "weight_decay_style", "loss", "dropout", "weight_init", "init_mode", "dtype",
               "threads", "backend", "seed", "verbose", "train_metrics", "method",
               "method_options", "dense_output", "lr_schedule", "update_interval", "fidelity")

    @classmethod
    def _get_param_names(cls):
        return list(cls._PARAMS)

    def set_params(self, **params):
        """Set parameters (``BaseEstimator.set_params``); an unknown name is refused first."""
        for name in params:
            if name not in self._PARAMS:         # no nested estimators, so no "a__b" names
                raise ValueError(f"unknown parameter {name!r}; valid: {', '.join(self._PARAMS)}")
        self._quirks_cache = None
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True        # scipy.sparse X is converted with toarray()
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "layers_")

    def _validate_params(self):
        # replaces BaseEstimator's (which checks _parameter_constraints, which refset has none
        # of): refset's own checks, their messages naming the parameter and its allowed range
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive integers, "
                             f"got {self.hidden_layer_sizes!r}") from None
        if not sizes:
            raise ValueError("hidden_layer_sizes must contain at least one layer")
        for n in sizes:
            check_int("hidden_layer_sizes", n, 1)
        check_float("epsilon", self.epsilon, 0, None, low_open=True)
        check_float("zeta", self.zeta, 0.0, 1.0)
        check_choice("prune", self.prune, ("sign", "magnitude", "original"))
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_float("learning_rate", self.learning_rate, 0, None, low_open=True)
        check_float("momentum", self.momentum, 0.0, 1.0, high_open=True)
        check_float("weight_decay", self.weight_decay, 0.0, None)
        check_choice("weight_decay_style", self.weight_decay_style, ("coupled", "original"))
        check_choice("loss", self.loss, ("cross_entropy", "mse"))
        check_float("dropout", self.dropout, 0.0, 1.0, high_open=True)
        check_choice("init_mode", self.init_mode, ("exact", "bernoulli", "replacement"))
        _resolve_dtype(self.dtype)
        check_int("threads", self.threads, 1)
        check_choice("backend", self.backend, (None, "cython", "numpy"))
        check_choice("train_metrics", self.train_metrics, ("running", "full"))
        method = self._method()
        if self.weight_init is not None:
            get_initializer(self.weight_init)
        check_choice("dense_output", self.dense_output, (None, True, False))
        check_choice("lr_schedule", self.lr_schedule, (None, "constant", "linear"))
        check_int("update_interval", self.update_interval, 1)
        if method.name == "path-weight" and self._setting("dense_output"):
            raise ValueError("dense_output=True is not available with method='path-weight' "
                             "(its paths run through every layer); use 'set', 'sensitivity' "
                             "or 'cht'")
        return tuple(int(n) for n in sizes)

    def _quirks(self):
        """The quirks of the published code switched on by ``fidelity`` (a frozenset)."""
        return _fidelity.resolve(self.fidelity, check_choice("method", self.method, METHODS))

    def _p(self, name):
        """A parameter as used: a quirk that concerns it overrides it (:mod:`refset.fidelity`)."""
        return _fidelity.effective_settings(self._run_quirks()).get(name, getattr(self, name))

    def effective_params(self):
        """The parameters as training uses them: :meth:`get_params` with the quirks of
        ``fidelity`` applied and the method's defaults (None) filled in.

        Examples
        --------
        >>> p = SparseMLP(fidelity="authors").effective_params()
        >>> p["prune"], p["init_mode"], p["weight_decay_style"]
        ('original', 'replacement', 'original')
        """
        params = self.get_params()
        overrides = _fidelity.effective_settings(self._quirks())
        params.update({k: v for k, v in overrides.items() if k in params})
        for key in ("weight_init", "dense_output", "lr_schedule"):
            params[key] = self._setting(key)
        params["method_options"] = dict(self._method().options)
        params["quirks"] = sorted(self._quirks())
        return params

    def _method(self):
        options = self.method_options
        if options is None or isinstance(options, dict):
            options = dict(options or {})
        if isinstance(options, dict):     # a quirk overrides the method option it concerns
            overrides = _fidelity.effective_settings(self._quirks())
            options.update({k: v for k, v in overrides.items()
                            if k in METHOD_DEFAULTS.get(self.method, {})})
        return make_method(self.method, options)

    def _setting(self, key):
        """A model setting whose None means "the method's default"."""
        value = getattr(self, key)
        return self._method().model_default(key) if value is None else value

    def _n_sparse(self):
        """Number of evolving (sparse) layers: all, or all but a dense output layer."""
        return len(self.layers_) - (1 if self._setting("dense_output") else 0)

    def _layer_init(self, n_in, n_out, nnz):
        """The initialiser of one layer (SWI is bound to the layer's density)."""
        init = get_initializer(self._setting("weight_init"))
        return init.for_layer(n_in, n_out, nnz) if hasattr(init, "for_layer") else init

    # -- construction -----------------------------------------------------------------
    def estimate_memory(self, n_features, n_classes):
        """Bytes that training this configuration needs, roughly (a lower bound).

        Counts, per link, its indices (2 × int64), value, velocity and gradient, the forward
        order and gathered values, and the topology update's sorted linear indices; per
        neuron, a batch of activations and deltas.  The data are not counted (they are loaded
        already).  Python integers throughout, so an absurd width gives an absurd number,
        not an overflow.

        Examples
        --------
        >>> n = SparseMLP((1000, 1000, 1000), epsilon=20).estimate_memory(200, 4)
        >>> 1 < n / 2**20 < 100           # MiB
        True
        """
        sizes = self._validate_params()
        itemsize = _resolve_dtype(self._p("dtype")).itemsize
        widths = (int(n_features),) + sizes + (int(n_classes),)
        method = self._method()
        csti = method.name == "cht" and method.options.get("topology_init", "csti") == "csti"
        links = 0
        for l, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            if l == len(widths) - 2 and self._setting("dense_output"):
                links += n_in * n_out
            elif csti:
                links += math.ceil((1 - method.options["sparsity"]) * n_in * n_out)
            else:
                links += min(math.ceil(self.epsilon * (n_in + n_out)), n_in * n_out)
        per_link = 2 * 8 + 3 * itemsize + 8 + itemsize + 16
        per_neuron = 3 * int(self.batch_size) * itemsize
        return links * per_link + sum(widths) * per_neuron

    def _check_before_init(self, n_features, n_classes):
        """Refuse, before allocating anything, a configuration the data rule out: widths CSTI
        cannot build, or a network that cannot fit in memory."""
        method = self._method()
        sizes = self._validate_params()
        if method.name == "cht" and method.options.get("topology_init", "csti") == "csti":
            _check_csti_widths((int(n_features),) + sizes)
        needed = self.estimate_memory(n_features, n_classes)
        available = _available_memory()
        if available is not None and needed > available:
            raise ValueError(
                f"hidden_layer_sizes={tuple(self._validate_params())}, epsilon={self.epsilon}: "
                f"training needs at least {size_text(needed)} of memory, but "
                f"{size_text(available)} is available; use narrower layers, a smaller "
                "epsilon or float32")

    def _initialize(self, n_features, n_classes, rng, X=None):
        """Fresh layers, biases and optimizer state (``X``: training data, for CSTI)."""
        sizes = (n_features, *self._validate_params(), n_classes)
        dtype = _resolve_dtype(self._p("dtype"))
        method = self._method()
        quirks = self._quirks()
        budget = None                     # the CHT authors' per-layer link budget
        n_sparse = len(sizes) - 1 - (1 if self._setting("dense_output") else 0)
        if method.name == "cht" and method.options["topology_init"] == "csti":
            if n_sparse == len(sizes) - 1:
                raise ValueError("CSTI correlates input features, so it builds the hidden "
                                 "layers only: use dense_output=True (the default for CHT) or "
                                 "method_options={'topology_init': 'erdos_renyi'}")
            self.layers_, budget = self._csti_layers(X, sizes[:n_sparse + 1], method, rng, dtype)
        else:
            self.layers_ = []
            for n_in, n_out in zip(sizes[:n_sparse], sizes[1:n_sparse + 1]):
                count = erdos_renyi_count(n_in, n_out, self.epsilon)
                init = self._layer_init(n_in, n_out, min(count, n_in * n_out))
                self.layers_.append(erdos_renyi_layer(
                    n_in, n_out, self.epsilon, rng, mode=self._p("init_mode"), init=init,
                    dtype=dtype, repair="no_isolation_guard" not in quirks))
        if n_sparse < len(sizes) - 1:                 # dense, static output layer
            n_in, n_out = sizes[-2], sizes[-1]
            init = (TorchLinear() if "torch_default_output" in quirks
                    else self._layer_init(n_in, n_out, n_in * n_out))
            self.layers_.append(CooMatrix.from_linear(
                np.arange(n_in * n_out, dtype=np.int64),
                init(rng, n_in * n_out, n_in, n_out, dtype), (n_in, n_out)))
        self.biases_ = [np.zeros(n, dtype=dtype) for n in sizes[1:]]
        if "random_sparse_biases" in quirks:          # N(0, sigma^2), the layer's SWI sigma
            for l, W in enumerate(self.layers_[:n_sparse]):
                sigma = SWI().for_layer(*W.shape, max(W.nnz, 1)).std(W.shape[0])
                self.biases_[l] = (sigma * rng.standard_normal(W.shape[1])).astype(dtype)
        if "torch_default_output" in quirks and n_sparse < len(sizes) - 1:
            self.biases_[-1] = TorchLinear()(rng, sizes[-1], sizes[-2], sizes[-1], dtype)
        self.velocities_ = [(np.zeros_like(W.values), np.zeros_like(b))
                            for W, b in zip(self.layers_, self.biases_)]
        self.n_features_in_ = n_features
        self.epoch_ = 0
        self.history_ = []
        self._rng = rng
        self.method_state_ = method.initial_state(self)
        if method.name == "cht" and "regrow_to_budget" in quirks:
            self.method_state_["budget"] = (budget if budget is not None
                                            else [W.nnz for W in self.layers_[:n_sparse]])
        self._mean_grads = None
        self._refresh_caches()

    def _csti_layers(self, X, sizes, method, rng, dtype):
        """CSTI topology (ALGORITHMS §5.1) for the sparse layers ``sizes``: (layers, budget).

        ``budget`` is None, or with the quirk ``tie_inclusive`` the authors' per-layer link
        count (that of a random Bernoulli(1 - S) mask, drawn first)."""
        from ..algorithms.csti import csti_layers

        if X is None:
            raise ValueError("CSTI builds the topology from the training data: fit() the model "
                             "or use method_options={'topology_init': 'erdos_renyi'}")
        _check_csti_widths(sizes)
        sparsity = method.options["sparsity"]
        inits = [self._layer_init(n_in, n_out, max(1, round((1 - sparsity) * n_in * n_out)))
                 for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        quirks = self._quirks()
        tie_inclusive = "tie_inclusive" in quirks
        budget = None
        if tie_inclusive:       # the count of each layer's random mask (the authors' n_params)
            budget = [int(rng.binomial(a * b, 1 - sparsity))
                      for a, b in zip(sizes[:-1], sizes[1:])]
        layers = csti_layers(X, sizes, sparsity=sparsity, rng=rng, init=inits, dtype=dtype,
                             budget="exact" if budget is None else budget, ties=tie_inclusive,
                             repair="no_isolation_guard" not in quirks,
                             masked_weights="masked_csti_weights" in quirks)
        return layers, budget

    # -- training ---------------------------------------------------------------------
    def _encode(self, y):
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not np.array_equal(self.classes_[idx], y):
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            raise ValueError(f"y contains labels not seen in training: {unknown[:5].tolist()}")
        return idx

    def fit(self, X, y, *, validation_data=None, resume=False, checkpoint=None, callback=None):
        """Train the network.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Converted to a dense C-contiguous array of the model's ``dtype`` (a sparse matrix
            with ``toarray()``); must be finite.
        y : array-like of shape (n_samples,)
            Class labels (any sortable values); a continuous target is refused (SparseMLP is a
            classifier), a column vector ``(n_samples, 1)`` ravelled with a
            ``DataConversionWarning``.
        validation_data : (X_test, y_test) or None
            Evaluated after every epoch (test loss and accuracy in the history).
        resume : bool, default False
            Continue a fitted or loaded model from ``epoch_`` up to ``epochs`` instead of
            starting afresh.  A model saved after epoch e and resumed ends bit for bit as an
            uninterrupted run with the same seed.  A finished run can be extended by raising
            ``epochs``: the topology update its final epoch skipped is applied first, so the
            result equals a run that had the larger ``epochs`` from the start (with
            ``lr_schedule="linear"`` the decay follows the new total, so it cannot).
        checkpoint : path or None
            Written atomically (:meth:`save`) after every epoch, so an interrupted run loses
            at most the current epoch.
        callback : callable or None
            ``callback(model, record)`` after every epoch.

        Returns
        -------
        self

        Notes
        -----
        Each epoch record of ``history_`` holds: ``epoch``, ``train_loss``,
        ``train_accuracy``, ``test_loss``, ``test_accuracy`` (None without validation data),
        ``seconds_train``, ``seconds_eval``, ``seconds_topology``, and per layer ``nnz``,
        ``removed``, ``regrown``, ``overlap`` (None where nothing was regrown),
        ``active_neurons`` (per neuron layer, inputs to outputs, after the update) and
        ``topology_updated`` (False for the final epoch, whose update is skipped, and for
        epochs between two ``update_interval`` updates), ``learning_rate``, ``anp`` and, with
        validation data, ``aae`` / ``aae_mean`` (the running area across the epochs of the test
        accuracy).  Each method adds its own fields: Path-Weight ``lam``, ``zeta``, ``delta``,
        ``c_prim``, ``c_sec``, ``tau``, ``candidate_fraction`` (and per layer),
        ``candidate_mode``, ``n_paths``; Sensitivity ``form``, ``mean_sensitivity``; CHT
        ``pruned``, ``percolated``, ``shortfall``, ``removed_neurons``, ``guarded``,
        ``dropped``, ``frozen`` — present in the records of epochs that reached the method,
        absent from epochs whose update was skipped (the last one, or between intervals) (see
        :func:`refset.algorithms.path_weight_step`, :func:`~refset.algorithms.sensitivity_step`,
        :func:`~refset.algorithms.esml_step`).
        """
        warn_if_fallback(self.backend)       # once per process: the numpy twins are slow
        self._quirks_cache = None            # fidelity may have changed since the last fit
        dtype = _resolve_dtype(self._p("dtype"))
        X_given, X = X, check_finite_2d("X", X, dtype=dtype)
        if y is None:
            raise ValueError("SparseMLP requires y to be passed, but the target y is None: give "
                             "one class label per sample")
        y = check_class_labels("y", check_labels("y", y, X.shape[0]))
        if resume:
            self._check_fitted()
            self._validate_params()
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but SparseMLP is expecting "
                                 f"{self.n_features_in_} features as input")
            if self.layers_[0].values.dtype != dtype:
                raise ValueError(f"dtype {dtype} differs from the model's "
                                 f"{self.layers_[0].values.dtype}")
            validate_data(self, X_given, reset=False, skip_check_array=True)  # feature names
        else:
            classes = np.unique(y)
            if classes.size < 2:
                raise ValueError(f"y must contain at least two classes, got 1 class "
                                 f"({classes.tolist()[0]!r})")
            self.classes_ = classes
            self._check_before_init(X.shape[1], self.classes_.size)
            self._initialize(X.shape[1], self.classes_.size, draws_from_seed(self.seed), X)
            # feature_names_in_ (pandas column names) and n_features_in_, scikit-learn's way
            validate_data(self, X_given, reset=True, skip_check_array=True)
        _check_threads(self.threads)
        y_idx = self._encode(y)
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_test, y_test)")
            X_val = check_finite_2d("X_test", validation_data[0], self.n_features_in_, dtype)
            y_val = self._encode(check_labels("y_test", validation_data[1], X_val.shape[0]))
        kernels = self._kernels()
        if resume:
            self._run_pending_update(X)
        while self.epoch_ < self.epochs:
            record = self._epoch(X, y_idx, validation_data and (X_val, y_val), kernels)
            if checkpoint is not None:
                self.save(checkpoint)
            if callback is not None:
                callback(self, record)
        return self

    def _epoch(self, X, y_idx, val, kernels):
        rng, B, n = self._rng, int(self.batch_size), X.shape[0]
        t0 = time.perf_counter()
        order = rng.permutation(n)
        n_batches = -(-n // B)
        if "drop_last_batch" in self._run_quirks() and n >= B:
            n_batches = n // B          # the original SET code skips the last partial batch
        loss_sum, correct = 0.0, 0
        eta = self._learning_rate()
        settings = self._sgd_settings()          # fixed for the epoch
        method = self._method()
        grad_sums = [np.zeros_like(W.values) for W in self.layers_] if method.needs_gradients else None
        bar = epoch_progress(self.verbose, self.epoch_ + 1, min(n, n_batches * B))
        A_next, Z0 = None, None
        for i in range(n_batches):
            idx = order[i * B:(i + 1) * B]
            A = A_next if A_next is not None else np.ascontiguousarray(X[idx].T)
            acts, masks = self._forward(A, kernels, train=True, rng=rng, Z0=Z0)
            loss, delta = self._loss_delta(acts[-1], self._one_hot(y_idx[idx], X.dtype))
            loss_sum += loss * idx.size
            correct += int(np.count_nonzero(np.argmax(acts[-1], axis=0) == y_idx[idx]))
            if grad_sums is None:          # one fused pass per layer
                # the first layer's last pass also runs the next batch's first product
                A_next = (np.ascontiguousarray(X[order[(i + 1) * B:(i + 2) * B]].T)
                          if i + 1 < n_batches else None)
                Z0 = self._backward_update(acts, masks, delta, kernels, eta, A_next=A_next,
                                           settings=settings)
            else:                          # Sensitivity also needs the gradients themselves
                grads = self._backward(acts, masks, delta, kernels)
                for acc, (gw, _) in zip(grad_sums, grads):
                    acc += gw
                self._sgd_update(grads, kernels, eta)
            if bar is not None:
                bar.update(idx.size)
        if bar is not None:
            bar.close()
        if not np.isfinite(loss_sum):
            raise FloatingPointError(
                f"training diverged in epoch {self.epoch_ + 1}: the loss is {loss_sum / n} "
                f"(the model stays at epoch {self.epoch_}; its last checkpoint is intact); "
                "lower learning_rate or choose another weight_init")
        if grad_sums is not None:           # Sensitivity: the epoch's mean gradient
            self._mean_grads = [acc / acc.dtype.type(n_batches) for acc in grad_sums]
        t1 = time.perf_counter()
        if self.train_metrics == "full":
            train_loss, train_acc = self._evaluate(X, y_idx, kernels)
        else:
            seen = min(n, n_batches * B)
            train_loss, train_acc = loss_sum / seen, correct / seen
        test_loss, test_acc = self._evaluate(*val, kernels) if val else (None, None)
        t2 = time.perf_counter()
        self.epoch_ += 1
        due = self.epoch_ % self._p("update_interval") == 0
        final = self.epoch_ >= self.epochs       # evolve after due epochs except the last
        update = self._evolve(X, skip=final or not due)
        t3 = time.perf_counter()
        record = {
            "epoch": self.epoch_, "train_loss": train_loss, "train_accuracy": train_acc,
            "test_loss": test_loss, "test_accuracy": test_acc, "learning_rate": eta,
            "seconds_train": t1 - t0, "seconds_eval": t2 - t1, "seconds_topology": t3 - t2,
            **update, "active_neurons": self.active_neurons(),
            "topology_updated": due and not final,
        }
        record["nnz"] = [W.nnz for W in self.layers_]
        record.update(self._network_metrics(test_acc))
        self.history_.append(record)
        if self.verbose:
            test = "" if test_acc is None else f"  test acc {test_acc:.4f}"
            print(f"epoch {self.epoch_:>4}/{self.epochs}  loss {train_loss:.4f}  "
                  f"train acc {train_acc:.4f}{test}  "
                  f"({t1 - t0:.2f}s train, {t2 - t1:.2f}s eval, {t3 - t2:.2f}s topology)",
                  flush=True)
        return record

    # SET's update stays here, beside the estimator: refset.oracle.adapters.mutants swaps
    # refset.estimator.mlp.set_step to inject a bug into training.  The other methods and the
    # bookkeeping of every update are in refset.estimator.evolution.
    def _evolve_set(self, method):
        removed, regrown, overlap = [], [], []
        n_sparse = self._n_sparse()
        guard = "no_isolation_guard" not in self._quirks()
        for l, (W, init) in enumerate(zip(self.layers_, self._inits(n_sparse))):
            step = set_step(W, self.zeta, self._rng, prune=self._p("prune"),
                            allow_regrow_removed=self.allow_regrow_removed, init=init,
                            guard=guard)
            self._replace_layer(l, step.layer, step.source)
            removed.append(int(step.removed.size))
            regrown.append(int(step.regrown.size))
            overlap.append(None if np.isnan(step.overlap) else float(step.overlap))
        return self._pad({"removed": removed, "regrown": regrown, "overlap": overlap})

    # -- inference --------------------------------------------------------------------
    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("this SparseMLP is not fitted yet: call fit() or load() first")

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order.

        ``X`` as in :meth:`fit` (a ``scipy.sparse`` matrix is converted with ``toarray()``)."""
        self._check_fitted()
        X_given = X
        X = check_finite_2d("X", X, self.n_features_in_, self.layers_[0].values.dtype)
        validate_data(self, X_given, reset=False, skip_check_array=True)  # feature names
        out = np.empty((X.shape[0], self.classes_.size), dtype=X.dtype)
        for sl, P in self._outputs(X, self._kernels()):
            out[sl] = P.T
        if self.loss == "mse":
            out /= out.sum(axis=1, keepdims=True)
        return out

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on ``(X, y)``, optionally weighted (scikit-learn's ``accuracy_score``)."""
        from sklearn.metrics import accuracy_score     # imported when needed, as sklearn does

        predicted = self.predict(X)
        y = check_labels("y", y, predicted.shape[0])
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))

    def fingerprint(self):
        """SHA-256 of the network: every layer's links and weights and every bias, in order.

        Two runs with the same fingerprint have the same topology and the same weights, bit
        for bit; compare fingerprints to check that a run on another machine or build is the
        same run (``refset fingerprint RUN_DIR`` prints it for a saved run).

        Examples
        --------
        >>> import refset
        >>> X, y = refset.make_synthetic(n_samples=60, seed=0)
        >>> a = SparseMLP((8,), epochs=1, seed=0).fit(X, y).fingerprint()
        >>> a == SparseMLP((8,), epochs=1, seed=0).fit(X, y).fingerprint(), len(a)
        (True, 64)
        """
        self._check_fitted()
        digest = hashlib.sha256()
        for W, b in zip(self.layers_, self.biases_):
            digest.update(np.asarray(W.shape, dtype="<i8").tobytes())
            for a in (W.rows, W.cols):
                digest.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
            for a in (W.values, b):
                digest.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
        return digest.hexdigest()

    def active_neurons(self):
        """Neurons with at least one link, per neuron layer (inputs, hidden..., outputs)."""
        self._check_fitted()
        counts = [int(np.count_nonzero(np.bincount(self.layers_[0].rows,
                                                   minlength=self.layers_[0].shape[0])))]
        for l, W in enumerate(self.layers_):
            into = np.bincount(W.cols, minlength=W.shape[1]) > 0
            if l + 1 < len(self.layers_):
                into &= np.bincount(self.layers_[l + 1].rows, minlength=W.shape[1]) > 0
            counts.append(int(np.count_nonzero(into)))
        return counts

    # -- persistence ------------------------------------------------------------------
    def save(self, path):
        """Write model, optimizer and generator state to ``path`` (.npz, atomic)."""
        save_checkpoint(self, path)

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save` (raises ``CheckpointError`` if invalid)."""
        return load_checkpoint(path, cls)


def _available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_csti_widths(widths):
    """CSTI's width rule (:func:`refset.algorithms.csti.check_widths`), with the way out."""
    from ..algorithms.csti import check_widths

    try:
        check_widths(list(widths), widths[0])
    except ValueError as exc:
        raise ValueError(f"{exc}; use those widths or method_options={{'topology_init': "
                         "'erdos_renyi'}") from None


def _check_threads(threads):
    cpus = os.cpu_count()
    if cpus and threads > cpus:
        warnings.warn(f"threads={threads} exceeds the {cpus} CPUs of this machine: the kernels "
                      f"will run slower than with threads={cpus}", UserWarning, stacklevel=3)
