"""File writing shared by every writer of refset: atomic files and the JSON encoding hook.

:func:`atomic_write`: a file is either the old version or the complete new one.
:func:`json_default`: the ``default=`` of every ``json.dump`` of refset, so numpy scalars and
arrays (e.g. ``epochs=np.int64(3)`` from an ``np.arange`` grid) are written as the Python
values they stand for instead of aborting the write.
"""
import contextlib
import os
import tempfile

import numpy as np

__all__ = ["atomic_write", "json_default"]


def json_default(value):
    """``default=`` hook of ``json.dump``: numpy bool/integer/floating scalars and arrays.

    A numpy integer becomes an ``int``, a numpy floating a ``float`` (its exact value, e.g.
    ``np.float32(0.3)`` is 0.30000001192092896), a numpy bool a ``bool``, an array the nested
    list of those (``tolist``); tuples stay lists as ``json`` writes them.  Anything else raises
    the ``TypeError`` of ``json``.

    Examples
    --------
    >>> import json
    >>> json.dumps({"epochs": np.int64(3), "sizes": np.array([4, 2]), "b": np.bool_(True)},
    ...            default=json_default)
    '{"epochs": 3, "sizes": [4, 2], "b": true}'
    """
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.  The new
    file gets the permissions a plain ``open`` would give it (``0o666`` minus the umask), not
    the owner-only mode of the temporary file.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
