"""Reader for the IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed).

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the values in big-endian C order. MNIST images have magic
``0x00000803`` (uint8, 3-D), labels ``0x00000801`` (uint8, 1-D).
"""
import gzip
import zlib

import numpy as np

__all__ = ["read_idx"]

_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path, *, expected_ndim=None):
    """Read an IDX file into a native-endian array.

    Parameters
    ----------
    path : str or os.PathLike
        ``.gz`` content is detected by its magic bytes, not its name.
    expected_ndim : int or None
        If given, the magic number must announce this many dimensions (3 for image files,
        1 for label files).

    Returns
    -------
    array : ndarray
        Shape as in the header, dtype from the type byte in native byte order (a new,
        writeable array).

    Raises
    ------
    ValueError
        Naming ``path``: invalid gzip data, a bad magic number, or a size that disagrees
        with the header.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "labels-idx1-ubyte")
    ...     _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    ...     read_idx(p, expected_ndim=1).tolist()
    [7, 2, 1]
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise ValueError(f"{path} is not a valid gzip file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()}")
    ndim = raw[3]
    if ndim == 0 or (expected_ndim is not None and ndim != expected_ndim):
        wanted = "at least 1" if expected_ndim is None else f"{expected_ndim}"
        raise ValueError(f"{path} has magic number 0x{raw[:4].hex()} announcing {ndim} "
                         f"dimensions, expected {wanted}")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{path} is truncated inside its IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[raw[2]]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path} holds {len(raw) - offset} data bytes, but its IDX header "
                         f"{shape} of {dtype.name} needs {expected}: the file is corrupt")
    data = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))
