"""Locating, checksumming and downloading data files.

The data directory is resolved as: the ``data_dir`` argument, else the environment variable
``REFSET_DATA``, else ``$XDG_CACHE_HOME/refset`` (``~/.cache/refset`` when XDG_CACHE_HOME is
unset, empty or relative).  Nothing is created until a download needs it.

Notes
-----
- Downloads stream into a temporary file in the destination directory, are verified, and
  are then moved into place with ``os.replace`` (atomic on one file system); on any failure
  the temporary file is removed and no partial file is left behind.
- A checksum mismatch raises :class:`ChecksumError` (a ``ValueError``); a failed transfer
  raises ``OSError`` naming the URL.
- Requests send ``User-Agent: refset`` (some mirrors refuse urllib's default).
  yann.lecun.com has at times required a login for the MNIST files; if that download fails,
  fetch the four files from any mirror by hand: their decompressed MD5 is verified, not the
  gzip bytes.
"""
import gzip
import hashlib
import logging
import os
import pathlib
import shutil
import tempfile
import urllib.request

from ._registry import CHECKSUM_KINDS

__all__ = ["DatasetNotFoundError", "ChecksumError", "data_home", "verify_checksum",
           "compute_checksum", "fetch_file", "ensure_file"]

_log = logging.getLogger("refset.datasets")
_CHUNK = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is missing from the data directory.

    The message names the missing path, the canonical URL and the expected checksum, and
    says how to provide the file. Attributes ``path``, ``url``, ``checksum_kind`` and
    ``checksum`` hold the same facts.

    Examples
    --------
    >>> issubclass(DatasetNotFoundError, FileNotFoundError)
    True
    """

    def __init__(self, message, *, path=None, url=None, checksum_kind=None, checksum=None):
        super().__init__(message)
        self.path, self.url = path, url
        self.checksum_kind, self.checksum = checksum_kind, checksum


class ChecksumError(ValueError):
    """A file's checksum differs from the registered one.

    Examples
    --------
    >>> issubclass(ChecksumError, ValueError)
    True
    """


def data_home(data_dir=None):
    """The directory holding dataset files.

    Parameters
    ----------
    data_dir : str, os.PathLike or None
        Used as given (``~`` expanded) when not None.

    Returns
    -------
    path : pathlib.Path
        ``data_dir``, else ``$REFSET_DATA``, else ``$XDG_CACHE_HOME/refset``, else
        ``~/.cache/refset``. The directory may not exist.

    Examples
    --------
    >>> data_home("/srv/data").as_posix()
    '/srv/data'
    """
    if data_dir is not None:
        return pathlib.Path(os.fspath(data_dir)).expanduser()
    env = os.environ.get("REFSET_DATA")
    if env:
        return pathlib.Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache or not os.path.isabs(cache):  # the XDG spec says to ignore relative paths
        cache = pathlib.Path.home() / ".cache"
    return pathlib.Path(cache) / "refset"


def compute_checksum(path, kind):
    """Hex digest of ``path`` of the given kind (see :func:`verify_checksum`)."""
    if kind not in CHECKSUM_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, CHECKSUM_KINDS))}, "
                         f"got {kind!r}")
    path = pathlib.Path(path)
    if kind == "sha256":
        digest = hashlib.sha256()
    elif kind == "git-blob":
        digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    else:
        digest = hashlib.md5()
    try:
        with (gzip.open(path, "rb") if kind == "md5-gunzip" else open(path, "rb")) as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ChecksumError(f"{path} is not a valid gzip file ({exc}), so its "
                            f"{kind} checksum cannot be computed") from None
    return digest.hexdigest()


def verify_checksum(path, kind, expected):
    """Whether the file at ``path`` has the expected checksum.

    Parameters
    ----------
    path : str or os.PathLike
        An existing file.
    kind : {"sha256", "git-blob", "md5-gunzip"}
        ``"sha256"`` hashes the file; ``"git-blob"`` is SHA-1 of ``b"blob <size>\\0"`` followed
        by the content, i.e. ``git hash-object``; ``"md5-gunzip"`` is MD5 of the gzip-
        decompressed content.
    expected : str
        Hex digest (case-insensitive).

    Returns
    -------
    ok : bool
        False on a mismatch, and for ``"md5-gunzip"`` also when the file is not valid gzip.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "hello.txt")
    ...     _ = open(p, "wb").write(b"hello\\n")
    ...     verify_checksum(p, "git-blob", "ce013625030ba8dba906f756967f9e9ca394464a")
    True
    """
    try:
        return compute_checksum(path, kind) == expected.strip().lower()
    except ChecksumError:
        return False


def fetch_file(url, dest, kind, expected, *, timeout=60):
    """Download ``url`` to ``dest`` atomically and verify its checksum.

    Parameters
    ----------
    url : str
        Any URL urllib can open (``https://``, ``http://``, ``file://``).
    dest : str or os.PathLike
        Final path; its parent directories are created.
    kind, expected : str
        Checksum kind and expected hex digest, as in :func:`verify_checksum`.
    timeout : float, default 60
        Seconds for the connection (not the whole transfer).

    Returns
    -------
    dest : pathlib.Path

    Raises
    ------
    ChecksumError
        The downloaded content has another checksum; nothing is left at ``dest``.
    OSError
        The transfer failed; nothing is left at ``dest``.
    """
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        _log.info("downloading %s to %s", url, dest)
        try:
            with os.fdopen(fd, "wb") as out:
                request = urllib.request.Request(url, headers={"User-Agent": "refset"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    shutil.copyfileobj(response, out, _CHUNK)
        except (OSError, ValueError) as exc:  # URLError is an OSError; bad URLs a ValueError
            raise OSError(f"downloading {url} to {dest} failed: {exc}") from exc
        actual = compute_checksum(tmp, kind)
        if actual != expected.lower():
            raise ChecksumError(
                f"the file downloaded from {url} has {kind} checksum {actual}, expected "
                f"{expected}; it was deleted. The upstream file may have changed or the "
                f"transfer was corrupted: retry, or fetch it by hand and check it.")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data files are meant to be shared
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def ensure_file(file_spec, root, *, dataset, download=False, verify=False):
    """Path of ``file_spec`` under ``root``, downloading or verifying it as asked.

    A present file is never re-downloaded; it is verified when ``download`` or ``verify`` is
    true. A missing file raises :class:`DatasetNotFoundError` unless ``download`` is true.
    """
    path = pathlib.Path(root, *file_spec.relpath.split("/"))
    kind, expected = file_spec.checksum_kind, file_spec.checksum
    if path.is_file():
        if (download or verify) and not verify_checksum(path, kind, expected):
            raise ChecksumError(
                f"{path} (dataset {dataset!r}) has {kind} checksum "
                f"{_safe_checksum(path, kind)}, expected {expected}. It is corrupt or another "
                f"version of the file; replace it with the file from {file_spec.url}.")
        return path
    if download:
        return fetch_file(file_spec.url, path, kind, expected)
    raise DatasetNotFoundError(
        f"Dataset {dataset!r} needs the file {path}, which does not exist. Its canonical "
        f"source is {file_spec.url} ({kind} checksum {expected}). Put the file there, point "
        f"the REFSET_DATA environment variable (or --data-dir / data_dir=) at a directory "
        f"that holds {file_spec.relpath}, or pass download=True to fetch and verify it.",
        path=path, url=file_spec.url, checksum_kind=kind, checksum=expected)


def _safe_checksum(path, kind):
    try:
        return compute_checksum(path, kind)
    except ChecksumError:
        return "(not computable: invalid gzip)"
