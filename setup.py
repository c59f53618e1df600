"""Build the Cython kernels in ``_ext/`` into modules inside ``refset/``.

Environment:
- ``REFSET_NO_EXT=1`` skips the extensions (pure numpy install).
- ``REFSET_CYTHON_DEBUG=1`` re-enables bounds and wraparound checks.
- ``REFSET_NO_OPENMP=1`` builds without OpenMP (the ``threads`` setting is then ignored).
- ``REFSET_PORTABLE=1`` builds for the generic CPU instead of ``-march=native``.  refset is
  built from source on the machine that runs it, so by default the kernels use every vector
  instruction of that CPU (AVX2/AVX-512: about 2x faster); set it when building a wheel for
  other machines.

Every build compiles with ``-ffp-contract=off``: the compiler may not fuse a multiply and an
add into one FMA instruction (which rounds once instead of twice).  With contraction allowed,
``-march=native`` on a CPU with FMA gives other last bits than a portable build, and the same
seed gives another run.  Without it, native and portable builds are bit-identical
(``tests/test_reproducible_build.py`` builds both and compares training runs).
- ``REFSET_CFLAGS`` adds compiler flags.
- ``REFSET_EXT_ONLY=refset.kernels._coo_cy,...`` builds only the named extensions (development: rebuild
  one kernel module without touching the others, e.g. with ``build_ext --inplace``).
"""
import platform
import os
import sys

from setuptools import Extension, setup

KERNELS = {"refset.kernels._coo_cy": "_ext/_coo.pyx", "refset.kernels._csr_cy": "_ext/_csr.pyx",
           "refset.kernels._paths_cy": "_ext/_paths.pyx", "refset.kernels._ch3_cy": "_ext/_ch3.pyx",
           "refset.kernels._rows_cy": "_ext/_rows.pyx"}


def _extensions():
    if os.environ.get("REFSET_NO_EXT") == "1":
        return []
    from Cython.Build import cythonize

    debug = os.environ.get("REFSET_CYTHON_DEBUG") == "1"
    openmp = os.environ.get("REFSET_NO_OPENMP") != "1" and sys.platform.startswith("linux")
    native = (os.environ.get("REFSET_PORTABLE") != "1" and sys.platform.startswith("linux")
              and platform.machine() in ("x86_64", "AMD64"))
    compile_args = (["-O3", "-ffp-contract=off"] + (["-fopenmp"] if openmp else [])
                    + (["-march=native"] if native else [])
                    + os.environ.get("REFSET_CFLAGS", "").split())
    link_args = ["-fopenmp"] if openmp else []
    only = [n.strip() for n in os.environ.get("REFSET_EXT_ONLY", "").split(",") if n.strip()]
    exts = [
        Extension(name, [src], extra_compile_args=compile_args, extra_link_args=link_args)
        for name, src in KERNELS.items() if not only or name in only
    ]
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
    }
    exts = cythonize(exts, compiler_directives=directives)
    for ext in exts:  # cythonize() drops Extension(optional=True); set it afterwards
        ext.optional = True
    return exts


setup(ext_modules=_extensions())
