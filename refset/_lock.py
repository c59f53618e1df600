"""Output directories: checking one up front, locking it, removing what a killed writer left.

Reusable by every command that writes into a directory (``refset sweep``, ``refset plot``,
``refset train``):

- :func:`check_output_dir` refuses, before any work, a path that cannot become a directory this
  process writes in (an existing file, a path under a file, a read-only place), with a
  ``ValueError`` naming the path.
- :func:`lock_directory` holds an exclusive ``fcntl.flock`` on ``DIR/.lock`` (non-blocking): a
  second writer fails at once naming the pid of the first.  The kernel releases the lock when
  its process dies, so a lock file left by a killed process blocks nothing.
- :func:`remove_stale_temporaries` deletes the ``.tmp-XXXXXXXX-<name>`` files
  :func:`refset._io.atomic_write` leaves beside their target when its process is killed; call
  it only while holding the directory's lock (a live writer's temporary looks the same).
"""
import contextlib
import errno
import os
import re
import stat

__all__ = ["check_output_dir", "lock_directory", "remove_stale_temporaries", "size_text",
           "LOCK_NAME", "is_bookkeeping"]

LOCK_NAME = ".lock"
# atomic_write: tempfile.mkstemp(prefix=".tmp-", suffix="-" + basename): 8 random characters of
# [a-z0-9_] in between.  Anything else starting with ".tmp-" is not ours and is left alone.
_TEMPORARY = re.compile(r"\.tmp-[a-z0-9_]{8}-.+\Z", re.DOTALL)


def is_bookkeeping(name):
    """True for the lock file and atomic_write temporaries (not content of a directory)."""
    return name == LOCK_NAME or bool(_TEMPORARY.match(name))


def check_output_dir(path, name="out_dir", writable=True):
    """Refuse a path that cannot be (made) a writable directory; no side effect.

    Raises ``ValueError`` (``"<name>: <path> ..."``) when ``path`` exists and is not a
    directory, lies under something that is not a directory, or (with ``writable``) when the
    directory that holds it (or would hold it) is not writable by this process.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp(), "file"); _ = f.write_text("")
    >>> check_output_dir(f / "plots")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: out_dir: cannot create .../file/plots: .../file is a file, not a directory
    """
    path = os.path.abspath(os.fspath(path))
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        what = "a file, not a directory" if os.path.isfile(probe) else "not a directory"
        if probe == path:
            raise ValueError(f"{name}: {path} is {what}; give a directory")
        raise ValueError(f"{name}: cannot create {path}: {probe} is {what}")
    if writable and not os.access(probe, os.W_OK | os.X_OK):
        where = f"{path} is" if probe == path else f"cannot create {path}: {probe} is"
        raise ValueError(f"{name}: {where} not writable; choose another directory")


def _read_pid(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def lock_directory(directory, what="sweep", name="out_dir"):
    """Hold an exclusive lock on ``directory`` (an existing directory) for the ``with`` block.

    The lock is ``fcntl.flock`` on ``directory/.lock``, which records the holder's pid.  When
    another process holds it, raises ``ValueError("<name>: DIR is in use by another <what> (pid
    N)...")`` at once.  The file is left in place (removing it would let two processes lock two
    different files); the kernel releases the lock when the holder exits or is killed.  Without
    ``fcntl`` (Windows), or on a filesystem that cannot lock, nothing is locked.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with lock_directory(d):  # doctest: +ELLIPSIS
    ...     with lock_directory(d):
    ...         pass
    Traceback (most recent call last):
    ...
    ValueError: out_dir: ... is in use by another sweep (pid ...); wait for it to end or use another directory
    """
    try:
        import fcntl
    except ImportError:                   # Windows: no advisory locks here
        yield
        return
    directory = os.fspath(directory)
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                locked = False            # e.g. ENOLCK: this filesystem cannot lock
            else:
                raise ValueError(f"{name}: {directory} is in use by another {what} (pid "
                                 f"{_read_pid(fd)}); wait for it to end or use another "
                                 "directory") from None
        if locked:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)                      # releases the lock


def remove_stale_temporaries(directory, recursive=True):
    """Delete the temporaries a killed :func:`refset._io.atomic_write` left in ``directory``.

    Only regular files named like atomic_write's temporaries (``.tmp-XXXXXXXX-<name>``) are
    removed; symbolic links are not followed.  Call it while holding the directory's lock
    (:func:`lock_directory`): a running writer's temporary has the same name.

    Parameters
    ----------
    directory : str or path-like
        A missing directory removes nothing.
    recursive : bool, default True
        Also look in every subdirectory.

    Returns
    -------
    count, nbytes : int, int
        The number of files removed and their total size.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".tmp-abcd1234-model.npz").write_bytes(b"x" * 10)
    >>> _ = (d / ".tmp-notes").write_text("kept")
    >>> remove_stale_temporaries(d), sorted(p.name for p in d.iterdir())
    ((1, 10), ['.tmp-notes'])
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return 0, 0
    if recursive:
        walk = os.walk(directory, followlinks=False)
    else:
        walk = [(directory, None, os.listdir(directory))]
    count = nbytes = 0
    for root, _, names in walk:
        for name in names:
            if not _TEMPORARY.match(name):
                continue
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                os.remove(path)
            except FileNotFoundError:
                continue
            count += 1
            nbytes += info.st_size
    return count, nbytes


def size_text(nbytes):
    """``"3.6 GB"``-style size (decimal units).

    Examples
    --------
    >>> size_text(999), size_text(3_600_000_000), size_text(2.5e15)
    ('999 B', '3.6 GB', '2.5 PB')
    """
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"
