"""Progress inside a long epoch, where the run is watched: a terminal, Jupyter or a log.

:func:`epoch_progress` picks one of three displays, all on ``sys.stderr`` (the per-epoch
summary lines stay on stdout):

- in Jupyter, a tqdm notebook widget (tqdm's text bar when ipywidgets is missing);
- on a terminal, a tqdm bar with the rate and the ETA, redrawn in place;
- elsewhere (a log file, nohup, a pipe), a plain line every :data:`LOG_INTERVAL` seconds:
  ``epoch 3: 4,096/60,000 samples, 1,234 samples/s, ETA 0:00:45``.

Nothing is shown before the epoch has run :data:`DELAY` seconds (5 s with ``verbose=1``, 1 s
with ``verbose=2``), and the display is removed when the epoch ends, so short epochs print
only their summary line.  Progress reads the clock and writes; it never touches the model or
its random stream, so training is the same, bit for bit, with or without it.
"""
import os
import sys
import time

__all__ = ["epoch_progress", "LogLines", "DELAY", "LOG_INTERVAL"]

#: seconds an epoch runs before its progress shows, by verbosity
DELAY = {1: 5.0, 2: 1.0}
#: seconds between two progress lines in a log
LOG_INTERVAL = 10.0
#: the clock of :class:`LogLines` (a module attribute, so tests can replace it)
_clock = time.perf_counter


def epoch_progress(verbose, epoch, total):
    """The progress display of one epoch, or None (``verbose`` 0, or no stderr).

    Parameters
    ----------
    verbose : int
        The estimator's verbosity: 0 nothing, 1 progress after :data:`DELAY` ``[1]`` seconds,
        2 (or more) after ``DELAY[2]`` seconds.
    epoch : int
        Number of the epoch (from 1), the label of the display.
    total : int
        Samples the epoch trains on.

    Returns
    -------
    object with ``update(n_samples)`` and ``close()``, or None
    """
    stream = sys.stderr
    if not verbose or stream is None:
        return None
    delay = DELAY[2 if verbose >= 2 else 1]
    label = f"epoch {epoch}"
    if _in_notebook():
        bar, kwargs = _notebook_bar(), {}
    elif _isatty(stream):
        from tqdm.std import tqdm as bar
        kwargs = {"file": stream, **_width(stream)}
    else:
        return LogLines(label, total, stream, delay, LOG_INTERVAL)
    return bar(total=total, desc=label, unit=" samples", unit_scale=True, delay=delay,
               leave=False, **kwargs)


class LogLines:
    """Progress for a stream that is not a terminal: one line every ``interval`` seconds.

    The first line comes after ``delay`` seconds; none comes for the epoch's last mini-batch
    (its summary line follows at once).  The rate is the mean since the epoch began, and the
    ETA the time the remaining samples take at that rate.

    Examples
    --------
    >>> import io
    >>> log = LogLines("epoch 3", 60000, io.StringIO(), delay=0.0, interval=0.0)
    >>> log.start -= 4.0                   # as if the epoch had begun 4 s ago
    >>> log.update(4096)
    >>> print(log.stream.getvalue(), end="")  # doctest: +ELLIPSIS
    epoch 3: 4,096/60,000 samples, 1,02... samples/s, ETA 0:00:5...
    """

    def __init__(self, label, total, stream, delay, interval):
        self.label, self.total, self.stream = label, total, stream
        self.interval = interval
        self.start = _clock()
        self.due = self.start + delay
        self.done = 0

    def update(self, n):
        """Count ``n`` more samples trained on; write a line if one is due."""
        self.done += n
        now = _clock()
        if now < self.due or self.done >= self.total:
            return
        self.due = now + self.interval
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = _hms((self.total - self.done) / rate) if rate > 0 else "?"
        self.stream.write(f"{self.label}: {self.done:,}/{self.total:,} samples, "
                          f"{rate:,.0f} samples/s, ETA {eta}\n")
        self.stream.flush()

    def close(self):
        """Nothing to remove: the lines stay in the log."""


def _hms(seconds):
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False


def _width(stream):
    """Follow the terminal's width; 80 x 24 when it reports no size (a pty never sized, as
    ``docker run -t`` or ``script`` give: tqdm would draw nothing)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if min(size) > 0 else {"ncols": 80, "nrows": 24}


def _in_notebook():
    """True inside a Jupyter kernel (notebook, JupyterLab, VS Code), not in IPython's terminal."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an unusual IPython: no widget
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


def _notebook_bar():
    """tqdm's notebook widget, or its text bar (to stderr) when ipywidgets is missing."""
    try:
        from tqdm.notebook import IProgress, tqdm as widget
    except ImportError:
        IProgress = None
    if IProgress is not None:
        return widget
    from tqdm.std import tqdm as text
    return text
