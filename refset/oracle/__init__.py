"""refset as a correctness oracle: golden cases, and a harness that checks other implementations.

Cases live in ``refset/oracle/data/v1/<case>/{case.json, inputs.npz, expected.npz}`` in three
levels — L0 kernels, L1 one topology step of every method, L2 short training runs — and are
generated from refset itself (:func:`regenerate`).  An *adapter* is a module exposing some of
the contract's functions (see ``docs/oracle.md``); :func:`check` runs every case whose
function it has.  Randomness enters every stochastic case as ``uniforms`` (:mod:`refset.draws`),
so a port reproduces the topology exactly whatever its own generator.

Examples
--------
>>> from refset import oracle
>>> results = oracle.check("refset.oracle.adapters.numpy", level=0, pattern="forward")
>>> sorted({r.status for r in results})
['pass']
"""
from ._format import Layer, compare
from .harness import (DATA_DIR, VERSION, CaseResult, check, format_table, list_cases, load_adapter,
                      load_case, read_expected_failures, regenerate)

__all__ = ["Layer", "compare", "DATA_DIR", "VERSION", "CaseResult", "check", "format_table",
           "list_cases", "load_adapter", "load_case", "read_expected_failures", "regenerate"]
