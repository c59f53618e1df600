"""What the two optional peer sections share: their names, their settings per mode, one thread.

The peer sections train refset beside another implementation of the same SET-MLP, each run in
its own fresh process on one thread:

- **torch** (``run.py --torch``, :mod:`bench_torch`): PyTorch with masked dense weights and
  with torch.sparse CSR layers;
- **original** (``run.py --original-code PATH``, :mod:`bench_original`): the original SET
  code of a user's checkout.

``run.py`` reads :data:`PEER_SECTIONS` (``--only``) and records :func:`peer_settings` in the
JSON's ``settings.peers``; it sends a worker to :mod:`bench_torch` or :mod:`bench_original` by
the ``section`` of its configuration.
"""
__all__ = ["PEER_SECTIONS", "ONE_THREAD", "peer_settings"]

PEER_SECTIONS = ("torch", "original")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def peer_settings(mode):
    """Repetitions, epochs and limits of the peer sections in a mode ('tiny', 'quick', 'full')."""
    return {"torch": {"repeats": {"tiny": 1, "quick": 3, "full": 5}[mode],
                      "epochs": {"tiny": 2, "quick": 2, "full": 3}[mode],
                      "memory_cap_gib": 8.0},
            "original": {"repeats": {"tiny": 1, "quick": 3, "full": 5}[mode],
                         "epochs": {"tiny": 1, "quick": 2, "full": 4}[mode],
                         "datasets": ["COIL20"] if mode == "tiny" else ["COIL20", "TOX-171"]}}
