"""The two PyTorch peers of the torch section (:mod:`bench_torch`) and their SGD loop.

Both train the SET-MLP that refset builds, from its topology, weights and biases (copied by
the caller), with refset's update rules (``refset.kernels.sgd_update``):

- :class:`DensePeer`: dense weight matrices; after every backward pass the gradient is
  multiplied by the 0/1 mask, so momentum and weight decay keep the zeros at zero
  (:meth:`DensePeer.zeros_kept` checks it).
- :class:`SparsePeer`: the links of each layer are the learnable values of a
  ``torch.sparse_csr_tensor``; activations are feature-major.  Its layer is a small
  ``torch.autograd.Function``: forward ``Wᵀ A`` and the input gradient ``W G`` are CSR × dense
  products (MKL), the gradient of the values is ``torch.sparse.sampled_addmm`` (an SDDMM on
  the links).  PyTorch's own autograd through a sparse tensor forms the dense weight gradient
  and then masks it (8–30× slower per layer, see :mod:`bench_torch`).

:func:`train_torch` runs the epochs and times each.  Nothing here imports torch, so the module
loads without PyTorch: the worker passes the torch module in, imported after it pinned the
threads (:func:`bench_torch.worker_main`).
"""
import time

__all__ = ["TorchData", "DensePeer", "SparsePeer", "train_torch"]


class TorchData:
    """The training set as tensors: rows (dense peer) or feature-major columns (sparse peer)."""

    def __init__(self, torch, X, y_idx, n_classes, sparse):
        X = torch.from_numpy(X)
        self.X = X.T.contiguous() if sparse else X
        self.y = torch.from_numpy(y_idx.astype("int64"))
        self.Y = torch.nn.functional.one_hot(self.y, n_classes).to(X.dtype)
        self.n = X.shape[0]


def _loss(F, out, y, Y, kind):
    """Mean loss of a batch from the output pre-activations ``out`` (batch, classes)."""
    if kind == "cross_entropy":
        return F.cross_entropy(out, y)
    diff = out.sigmoid() - Y
    return 0.5 * diff.pow(2).sum() / out.shape[0]


class DensePeer:
    """Dense weight matrices; the gradient is multiplied by the 0/1 mask after backward."""

    def __init__(self, torch, init, biases, data, loss):
        self.torch, self.data, self.kind = torch, data, loss
        self.W, self.masks, self.b = [], [], []
        for (rows, cols, values, shape), b in zip(init, biases):
            r, c = torch.from_numpy(rows), torch.from_numpy(cols)
            W = torch.zeros(shape, dtype=data.X.dtype)
            W[r, c] = torch.from_numpy(values)
            M = torch.zeros(shape, dtype=data.X.dtype)
            M[r, c] = 1
            self.W.append(W.requires_grad_())
            self.masks.append(M)
            self.b.append(torch.from_numpy(b.copy()).requires_grad_())
        self.params = [(p, torch.zeros_like(p), decay) for W, b in zip(self.W, self.b)
                       for p, decay in ((W, True), (b, False))]

    def forward_loss(self, idx):
        torch = self.torch
        A = self.data.X.index_select(0, idx)
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            A = torch.addmm(b, A, W)
            if l < len(self.W) - 1:
                A = torch.relu(A)
        return _loss(torch.nn.functional, A, self.data.y[idx], self.data.Y[idx], self.kind), A

    def after_backward(self):
        for W, M in zip(self.W, self.masks):
            W.grad.mul_(M)

    def zeros_kept(self):
        """Whether every weight outside the mask is still exactly zero."""
        with self.torch.no_grad():
            return all(not bool(W.masked_fill(M.bool(), 0).any())
                       for W, M in zip(self.W, self.masks))


_SPARSE_FUNCTION = None


def _sparse_function(torch):
    """The autograd Function of one sparse layer, feature-major: ``Z = Wᵀ A``, shape
    (n_out, batch), differentiable in the link values and in ``A``."""
    global _SPARSE_FUNCTION
    if _SPARSE_FUNCTION is not None:
        return _SPARSE_FUNCTION

    class SparseLinear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, values, A, layer):
            ctx.save_for_backward(values, A)
            ctx.layer = layer
            return layer.transposed(values) @ A

        @staticmethod
        def backward(ctx, G):
            values, A = ctx.saved_tensors
            layer = ctx.layer
            # dL/dw_k = sum_b A[row_k, b] G[col_k, b] on the links only (SDDMM)
            grad_values = torch.sparse.sampled_addmm(layer.transposed(values), G, A.T,
                                                     beta=0.0).values()
            grad_A = layer.matrix(values) @ G if ctx.needs_input_grad[1] else None
            return grad_values, grad_A, None

    _SPARSE_FUNCTION = SparseLinear
    return SparseLinear


class _CsrLayer:
    """The index structure of one layer's links: CSR of Wᵀ, whose link order is that of the
    learnable values, and CSR of W (canonical order, reached by a gather)."""

    def __init__(self, torch, rows, cols, shape):
        import numpy as np

        self.torch = torch
        n_in, n_out = shape
        order = np.lexsort((rows, cols))                  # by (col, row): the rows of Wᵀ
        self.order = order
        self.crow_t = torch.from_numpy(np.concatenate(
            [[0], np.cumsum(np.bincount(cols, minlength=n_out))]))
        self.col_t = torch.from_numpy(rows[order])
        self.shape_t = (n_out, n_in)
        self.crow = torch.from_numpy(np.concatenate(
            [[0], np.cumsum(np.bincount(rows, minlength=n_in))]))
        self.col = torch.from_numpy(cols)                   # canonical links: by (row, col)
        self.to_canonical = torch.from_numpy(np.argsort(order))
        self.shape = tuple(shape)

    def transposed(self, values):
        """Wᵀ, shape (n_out, n_in), as CSR over ``values`` (in this order: the parameter's)."""
        return self.torch.sparse_csr_tensor(self.crow_t, self.col_t, values, self.shape_t,
                                            check_invariants=False)

    def matrix(self, values):
        """W, shape (n_in, n_out), as CSR: ``values`` gathered into canonical (row, col) order."""
        return self.torch.sparse_csr_tensor(self.crow, self.col, values[self.to_canonical],
                                            self.shape, check_invariants=False)


class SparsePeer:
    """torch.sparse CSR layers whose values are the parameters; activations feature-major."""

    def __init__(self, torch, init, biases, data, loss):
        self.torch, self.data, self.kind = torch, data, loss
        self.fn = _sparse_function(torch)
        self.layers, self.values, self.b = [], [], []
        for (rows, cols, values, shape), b in zip(init, biases):
            layer = _CsrLayer(torch, rows, cols, shape)
            self.layers.append(layer)
            self.values.append(torch.from_numpy(values[layer.order]).requires_grad_())
            self.b.append(torch.from_numpy(b.copy()).requires_grad_())
        self.params = [(p, torch.zeros_like(p), decay) for v, b in zip(self.values, self.b)
                       for p, decay in ((v, True), (b, False))]

    def forward_loss(self, idx):
        A = self.data.X.index_select(1, idx)
        last = len(self.layers) - 1
        for l, (layer, v, b) in enumerate(zip(self.layers, self.values, self.b)):
            A = self.fn.apply(v, A, layer) + b[:, None]
            if l < last:
                A = self.torch.relu(A)
        out = A.T
        return _loss(self.torch.nn.functional, out, self.data.y[idx], self.data.Y[idx],
                     self.kind), out

    def after_backward(self):
        pass


def train_torch(torch, peer, data, orders, cfg):
    """Train ``peer`` one epoch per batch order; per epoch seconds and running metrics."""
    lr, mu, lam = cfg["learning_rate"], cfg["momentum"], cfg["weight_decay"]
    coupled = cfg["weight_decay_style"] == "coupled"
    B = cfg["batch_size"]
    history = []
    for epoch, order in enumerate(orders, 1):
        order = torch.from_numpy(order)
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for start in range(0, data.n, B):
            idx = order[start:start + B]
            loss, out = peer.forward_loss(idx)
            loss_sum += loss.item() * idx.numel()
            correct += int((out.argmax(dim=1) == data.y[idx]).sum())
            loss.backward()
            peer.after_backward()
            with torch.no_grad():           # refset's update rules (refset.kernels.sgd_update)
                for p, v, decay in peer.params:
                    g = p.grad
                    if decay and coupled:                 # v <- mu v - lr (g + lam w)
                        g.add_(p, alpha=lam)
                    v.mul_(mu).add_(g, alpha=-lr)
                    if decay and not coupled:             # w <- w + v - lam w
                        p.mul_(1 - lam)
                    p.add_(v)
                    p.grad = None
        history.append({"epoch": epoch, "seconds_train": time.perf_counter() - t0,
                        "train_loss": loss_sum / data.n, "train_accuracy": correct / data.n})
    return history
