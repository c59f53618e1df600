r"""The numerics of :class:`refset.SparseMLP`: forward pass, loss, backpropagation and SGD.

Activations are feature-major ``(n_features, batch)`` (see :mod:`refset.estimator.mlp`); every pass runs
the backend's kernels (compiled twins in ``_ext/``): training reads each layer through its
row-compressed index (:mod:`refset.kernels.csr`, PERFORMANCE §2.7), the column-ordered forward
pass through :mod:`refset.kernels.coo`; bias, ReLU and bias gradients through
:mod:`refset.kernels.rows`.  The order in which the forward pass reads a layer's
links is :func:`refset.estimator.layout.forward_order`.  Evaluation
(prediction, test metrics, Path-Weight's probe) runs in chunks of ``_EVAL_BATCH`` samples, fewer
when a chunk's activations would exceed ``_EVAL_BYTES`` per layer.

Deviations
----------
- ``loss="mse"`` is :math:`\frac{1}{2B}\sum_b \lVert \sigma(z_b) - y_b \rVert^2` with its exact
  gradient :math:`(\hat y - y)\,\sigma'(z) / B`.  The original SET code's σ' applied to the
  output activation and its loss printed as the mean over batch × classes are the quirks
  ``mse_delta_on_output`` and ``loss_mean_over_outputs`` (:mod:`refset.fidelity`); a later
  fork's 1/B² scaling and non-inverted dropout are not reproduced.
- Weight decay applies to weights, not biases (the quirk ``decay_biases`` decays the biases
  too, as both published codes do).  ``"coupled"``: ``v ← μv − η(g + λw)``,
  ``w ← w + v``; ``"original"`` (SET code): ``v ← μv − ηg``, ``w ← w + v − λw``.
- ``loss_and_gradients`` returns the data loss (no weight-decay term) without dropout.
"""
import numpy as np

from ..kernels import backend as _backend
from ..kernels.csr import csr_index
from .layout import forward_tile_rows, tiled_order
from .._validation import check_finite_2d, check_labels
from .methods import linear_decay

_EVAL_BATCH = 256        # measured: larger eval batches push activations out of L2
#: At most this many bytes of activations per layer and evaluation chunk: 256 samples of a
#: million-neuron network (3 x 333,334, float32) would hold 1 GiB of activations at once.
_EVAL_BYTES = 128 << 20


def _tiled(W, tile_rows):
    """``W``'s links by (tile, column, row): the permutation and the permuted rows, cols."""
    perm = tiled_order(W, tile_rows)
    return perm, W.rows[perm], W.cols[perm]


class _Numerics:
    """Forward, loss, backward and SGD step: a part of :class:`refset.SparseMLP`, not a model.

    Reads the fitted state ``layers_``, ``biases_``, ``classes_``, ``n_features_in_`` and
    ``epoch_`` and the parameters ``threads``, ``dropout``, ``loss``, ``learning_rate``,
    ``momentum``, ``weight_decay``, ``weight_decay_style``, ``epochs`` and ``backend``; the SGD
    steps update ``layers_[l].values``, ``biases_`` and ``velocities_`` in place.  Owns the
    cache ``_fwd`` of the link orders.  Uses the estimator's ``_check_fitted``, ``_encode`` and
    ``_setting``.
    """

    def _refresh_caches(self, index=None):
        """Forget the per-layer link orders (rebuilt on demand by :meth:`_layer_cache`)."""
        if index is None:
            self._fwd = [{} for _ in self.layers_]
        else:
            self._fwd[index] = {}

    def _layer_cache(self, l, key, build):
        """``build(W)`` for layer ``l``, cached under ``key`` until the topology changes.

        Each entry also remembers the ``rows`` and ``cols`` arrays it was built from and is
        rebuilt when they are not the layer's any more, so a layer replaced from outside is
        never read through a stale order."""
        W = self.layers_[l]
        hit = self._fwd[l].get(key)
        if hit is None or hit[0] is not W.rows or hit[1] is not W.cols:
            hit = self._fwd[l][key] = (W.rows, W.cols, build(W))
        return hit[2]

    def _csr_links(self, l):
        """Layer ``l``'s row pointer and int32 column indices (:func:`~refset.kernels.csr.csr_index`).
        (A layer wider than 2**31 - 1 columns, which the memory check refuses long before,
        would raise here.)"""
        return self._layer_cache(l, "csr", lambda W: csr_index(W.rows, W.cols, *W.shape))

    def _forward_plan(self, l, batch, itemsize):
        """How layer ``l``'s forward pass reads a batch ``batch`` wide: ``(csr, None)`` with the
        row-compressed index when :func:`~refset.estimator.layout.forward_order` keeps the
        canonical order, else ``(None, (perm, rows, cols))``, the links by (tile, column, row).

        Each tiled order is sorted once per topology and shared by the widths that use it
        (training, the last batch, evaluation); the plan itself is cached per width, since a
        training step asks for it once per layer and at batch size 2 Python's share counts."""
        def plan(W):
            tile_rows = forward_tile_rows(W, batch, itemsize, threads=self.threads)
            if tile_rows is None:
                return self._csr_links(l), None
            return None, self._layer_cache(l, ("tiles", tile_rows), lambda W: _tiled(W, tile_rows))
        return self._layer_cache(l, ("plan", batch, itemsize, self.threads), plan)

    def _forward(self, A, kernels, *, train=False, rng=None, Z0=None, keep=True):
        """Feature-major forward pass; returns the activations of every layer and masks.

        ``Z0``: the first layer's product ``Wᵀ A`` when already computed (by
        :meth:`_backward_update` of the previous batch).  ``keep=False`` returns only the
        output (``acts == [P]``) and lets each layer's activations go as soon as the next
        layer has them (evaluation)."""
        acts, masks = [A], []
        last = len(self.layers_) - 1
        for l, (W, b) in enumerate(zip(self.layers_, self.biases_)):
            if l == 0 and Z0 is not None:
                Z = Z0
            else:
                Z = np.empty((W.shape[1], A.shape[1]), dtype=A.dtype)
                csr, coo = self._forward_plan(l, A.shape[1], A.itemsize)
                if csr is not None:
                    kernels.csr_forward(A, *csr, W.values, Z, self.threads)
                else:
                    perm, rows_f, cols_f = coo
                    kernels.coo_forward(A, rows_f, cols_f, W.values, Z, self.threads, perm)
            kernels.add_bias(Z, b, l < last)          # and the ReLU of hidden layers
            if l < last:
                if train and self.dropout > 0:
                    keep = 1.0 - float(self.dropout)
                    mask = (rng.random(Z.shape) < keep).astype(A.dtype) / A.dtype.type(keep)
                    Z *= mask
                    masks.append(mask)
                else:
                    masks.append(None)
            elif self.loss == "cross_entropy":
                Z -= Z.max(axis=0, keepdims=True)
                np.exp(Z, out=Z)
                Z /= Z.sum(axis=0, keepdims=True)
            else:
                Z = 1.0 / (1.0 + np.exp(-Z))
            A = Z
            if keep:
                acts.append(A)
            else:
                acts = [A]
        return acts, masks

    def _loss_delta(self, P, Y):
        """Mean loss over the batch and the output delta dL/dz, both feature-major."""
        B = P.shape[1]
        quirks = self._run_quirks()
        if self.loss == "cross_entropy":
            tiny = np.finfo(P.dtype).tiny
            loss = -np.sum(np.log(np.maximum(np.sum(P * Y, axis=0), tiny))) / B
            return float(loss), (P - Y) / P.dtype.type(B)
        diff = P - Y
        if "loss_mean_over_outputs" in quirks:      # the original SET code's printed loss
            loss = np.mean(diff * diff)
        else:
            loss = 0.5 * np.sum(diff * diff) / B
        if "mse_delta_on_output" in quirks:         # sigma' applied to the output activation
            S = 1.0 / (1.0 + np.exp(-P))
            return float(loss), diff * S * (1 - S) / P.dtype.type(B)
        return float(loss), diff * P * (1 - P) / P.dtype.type(B)

    def _run_quirks(self):
        """The quirks in force (cached by ``fit``; see :mod:`refset.fidelity`)."""
        quirks = getattr(self, "_quirks_cache", None)
        if quirks is None:
            quirks = self._quirks_cache = self._quirks()
        return quirks

    def _sgd_settings(self):
        """``(momentum, weight_decay, the biases' weight decay, coupled)`` as the SGD step
        uses them; training looks them up once an epoch (at batch size 2 a look-up per layer
        showed in the profile).  The biases decay only under the ``decay_biases`` quirk."""
        mu, lam = float(self.momentum), float(self.weight_decay)
        lam_bias = lam if lam > 0 and "decay_biases" in self._run_quirks() else 0.0
        return mu, lam, lam_bias, self._p("weight_decay_style") == "coupled"

    def _update_bias(self, l, gb, eta, kernels, settings):
        """Momentum step of layer ``l``'s biases (``sgd_update``, the weights' step), with
        weight decay only under the ``decay_biases`` quirk (in the style of the weights);
        ``settings``: :meth:`_sgd_settings`."""
        mu, _, lam_bias, coupled = settings
        kernels.sgd_update(self.biases_[l], self.velocities_[l][1], gb, eta, mu, lam_bias,
                           coupled, 1)

    def _backward(self, acts, masks, delta, kernels):
        """Gradients (per layer: values-aligned weight gradient, bias gradient)."""
        grads = [None] * len(self.layers_)
        for l in range(len(self.layers_) - 1, -1, -1):
            W = self.layers_[l]
            gw = np.empty_like(W.values)
            kernels.coo_gradient(acts[l], delta, W.rows, W.cols, gw, self.threads)
            grads[l] = (gw, kernels.row_sums(delta, np.empty(delta.shape[0], delta.dtype)))
            if l > 0:
                prev = np.empty_like(acts[l])
                kernels.coo_backward(delta, W.rows, W.cols, W.values, prev, self.threads)
                delta = self._through_activation(prev, acts[l], masks[l - 1])
        return grads

    @staticmethod
    def _through_activation(D, A, mask):
        """Delta ``D = W δ`` of a hidden layer through ReLU' and its dropout mask (in place)."""
        D *= A > 0                           # ReLU'; dropped units are 0 in A
        if mask is not None:
            D *= mask
        return D

    def _backward_update(self, acts, masks, delta, kernels, eta, A_next=None, settings=None):
        """Backpropagation fused with the SGD step: the same result as :meth:`_backward`
        followed by :meth:`_sgd_update` (each layer's propagation uses its weights before
        the update), in one pass over each layer's links (``csr_backward_update``).

        ``A_next``: the next batch's input; when the first layer's forward pass on it reads
        the links in canonical order on one thread, the last pass computes that product too
        and it is returned (pass it to :meth:`_forward` as ``Z0``); otherwise None.
        ``settings``: :meth:`_sgd_settings` when the caller has them (an epoch looks them up
        once)."""
        if settings is None:
            settings = self._sgd_settings()
        mu, lam, _, coupled = settings
        Z0 = None
        for l in range(len(self.layers_) - 1, -1, -1):
            W = self.layers_[l]
            vw = self.velocities_[l][0]
            prev = np.empty_like(acts[l]) if l > 0 else None
            gb = kernels.row_sums(delta, np.empty(delta.shape[0], delta.dtype))
            nxt = {}
            if (l == 0 and A_next is not None and self.threads == 1
                    and self._forward_plan(0, A_next.shape[1], A_next.itemsize)[0] is not None):
                Z0 = np.empty((W.shape[1], A_next.shape[1]), dtype=A_next.dtype)
                nxt = {"X_next": A_next, "out_next": Z0}
            # prev comes back through ReLU' already (csr_backward_update); dropout remains
            kernels.csr_backward_update(acts[l], delta, *self._csr_links(l), W.values, vw, prev,
                                        eta, mu, lam, coupled, self.threads, **nxt)
            self._update_bias(l, gb, eta, kernels, settings)
            if l > 0:
                if masks[l - 1] is not None:
                    prev *= masks[l - 1]
                delta = prev
        return Z0

    def _one_hot(self, y_idx, dtype):
        Y = np.zeros((len(self.classes_), y_idx.size), dtype=dtype)
        Y[y_idx, np.arange(y_idx.size)] = 1
        return Y

    def _kernels(self):
        return _backend.get_kernels(self.backend)

    def loss_and_gradients(self, X, y):
        """Loss of the current model on ``(X, y)`` and its exact gradient.

        No dropout, no weight-decay term: this is the hook for gradient checks and for
        checking other implementations against refset.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_in_)
        y : ndarray of shape (n_samples,), labels in ``classes_``

        Returns
        -------
        loss : float
            Mean loss over the samples.
        gradients : list of (ndarray, ndarray)
            Per layer, the gradient aligned with that layer's ``values`` and the bias gradient.
        """
        self._check_fitted()
        X = check_finite_2d("X", X, self.n_features_in_, self.layers_[0].values.dtype)
        y_idx = self._encode(check_labels("y", y, X.shape[0]))
        kernels = self._kernels()
        acts, masks = self._forward(np.ascontiguousarray(X.T), kernels)
        loss, delta = self._loss_delta(acts[-1], self._one_hot(y_idx, X.dtype))
        return loss, self._backward(acts, masks, delta, kernels)

    def _learning_rate(self, epoch=None):
        """Learning rate of ``epoch`` (0-based; default the current one) under the schedule."""
        epoch = self.epoch_ if epoch is None else epoch
        if self._setting("lr_schedule") == "linear":
            return linear_decay(float(self.learning_rate), epoch, int(self.epochs))
        return float(self.learning_rate)

    def _sgd_update(self, grads, kernels, eta):
        settings = self._sgd_settings()
        mu, lam, _, coupled = settings
        for l, ((gw, gb), W) in enumerate(zip(grads, self.layers_)):
            vw = self.velocities_[l][0]
            kernels.sgd_update(W.values, vw, gw, eta, mu, lam, coupled, self.threads)
            self._update_bias(l, gb, eta, kernels, settings)

    def _eval_batch(self):
        """Samples per evaluation chunk: ``_EVAL_BATCH``, fewer for very wide layers."""
        widest = max(W.shape[1] for W in self.layers_)
        per_sample = widest * self.layers_[0].values.itemsize
        return max(1, min(_EVAL_BATCH, _EVAL_BYTES // per_sample))

    def _outputs(self, X, kernels):
        """Network outputs for ``X`` in chunks of :meth:`_eval_batch` samples (no dropout).

        Yields ``(slice, P)`` with ``P`` feature-major, shape (n_classes, chunk).
        """
        chunk = self._eval_batch()
        for start in range(0, X.shape[0], chunk):
            sl = slice(start, start + chunk)
            acts, _ = self._forward(np.ascontiguousarray(X[sl].T), kernels, keep=False)
            yield sl, acts[-1]

    def _evaluate(self, X, y_idx, kernels):
        loss_sum, correct = 0.0, 0
        for sl, P in self._outputs(X, kernels):
            loss, _ = self._loss_delta(P, self._one_hot(y_idx[sl], X.dtype))
            loss_sum += loss * P.shape[1]
            correct += int(np.count_nonzero(np.argmax(P, axis=0) == y_idx[sl]))
        return loss_sum / X.shape[0], correct / X.shape[0]
