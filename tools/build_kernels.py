"""Build refset's compiled kernels into a directory, with setup.py's flags, without installing.

    python tools/build_kernels.py OUT_DIR

builds every extension of ``setup.py`` (or those named in ``REFSET_EXT_ONLY``) into
``OUT_DIR/refset/kernels/``, honouring the same environment switches as ``pip install``
(``REFSET_PORTABLE=1``, ``REFSET_CFLAGS``, ``REFSET_NO_OPENMP=1``, ...).  Only ``build_ext``
runs: the project's ``setup()`` is captured, not executed, so no metadata is built and
nothing is installed.  ``tests/test_reproducible_build.py`` and
``benchmarks/bench_fp_contract.py`` use it to compare builds.  Needs Cython and a C compiler.
"""
import os
import sys

import setuptools
from setuptools import Distribution
from setuptools.command.build_ext import build_ext

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python tools/build_kernels.py OUT_DIR\n")
        return 2
    out = os.path.abspath(argv[0])
    captured = {}
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    setup_py = os.path.join(REPO, "setup.py")
    os.chdir(REPO)
    with open(setup_py, encoding="utf-8") as f:
        exec(compile(f.read(), setup_py, "exec"), {"__file__": setup_py, "__name__": "__main__"})
    if not captured.get("ext_modules"):
        sys.stderr.write("setup.py defines no extension (REFSET_NO_EXT=1?)\n")
        return 1
    cmd = build_ext(Distribution({"ext_modules": captured["ext_modules"]}))
    cmd.build_lib, cmd.build_temp = out, os.path.join(out, "tmp")
    cmd.ensure_finalized()
    cmd.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
