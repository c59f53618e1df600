"""Shared fixtures: the kernel backends, a global seed, and the hypothesis profiles.

``REFSET_TEST_SEED`` sets ``global_seed`` (default 42); seeded tests must pass for any seed
0-99 (``REFSET_TEST_SEED=any`` draws one and prints it).
"""
import os
import random

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=40)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def global_seed():
    value = os.environ.get("REFSET_TEST_SEED", "42")
    if value == "any":
        seed = random.randrange(100)
        print(f"REFSET_TEST_SEED={seed}")
        return seed
    return int(value)


def _backends():
    import refset.kernels.backend as backend

    names = ["numpy", "cython"]
    return [pytest.param(n, marks=pytest.mark.skipif(
        n == "cython" and not backend.compiled_available()
        and os.environ.get("REFSET_REQUIRE_EXT") != "1",
        reason="compiled extension not built")) for n in names]


@pytest.fixture(params=_backends())
def kernels(request):
    """The kernel namespace of each backend (numpy twin and compiled)."""
    from refset import get_kernels

    return get_kernels(request.param)


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return request.param
