"""A pytest entry point: check an adapter against every golden case from your own test suite.

Examples
--------
In a port's test suite (``test_refset_oracle.py``)::

    from refset.oracle.testing import oracle_tests

    test_refset_oracle = oracle_tests("my_port.refset_adapter",
                                      expected_failures="refset_xfail.txt")

Each case becomes one test, named after it; a case the adapter has no function for is
skipped, an expected failure is an ``xfail``, an unexpected pass fails (strict).  A case whose
function raises, calls ``sys.exit``/``os._exit`` or exceeds ``timeout`` fails with the reason;
an adapter that cannot be imported fails every test with ``ValueError: cannot import adapter``.
"""
import pytest

from .harness import (DEFAULT_TIMEOUT, _check_timeout, list_cases, load_adapter,
                      read_expected_failures, run_case)

__all__ = ["oracle_tests"]


def oracle_tests(adapter, *, expected_failures=None, level=None, pattern=None,
                 timeout=DEFAULT_TIMEOUT):
    """A test function parametrized over the stored cases (assign it to a ``test_*`` name).

    Parameters
    ----------
    adapter : str or module
        Module name, path to a ``.py`` file, or the module itself; loaded when the test runs.
    expected_failures : str or iterable of str, optional
        A file of case names (one per line, ``#`` comments) or the names themselves.
    level, pattern : optional
        Restrict to one level (0, 1, 2) or to case names containing ``pattern``.
    timeout : float, optional
        Seconds one case's function may take (default 600; 0 or None: no limit; needs SIGALRM
        and the main thread, see ``refset.oracle.harness``).
    """
    _check_timeout(timeout)
    names = list_cases(level=level, pattern=pattern)
    if isinstance(expected_failures, str):
        xfail = read_expected_failures(expected_failures)
    else:
        xfail = set(expected_failures or ())
    params = [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="expected failure"))
              if n in xfail else n for n in names]

    @pytest.mark.parametrize("case", params)
    def test_case(case):
        result = run_case(load_adapter(adapter), case, timeout=timeout)
        if result.status == "n/a":
            pytest.skip(f"the adapter has no {result.function}")
        assert result.status == "pass", "\n".join(result.problems)

    return test_case
