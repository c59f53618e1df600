"""Progress inside long epochs (refset._progress): log lines, tqdm bars, nothing at verbose=0.

The clock of the log lines is replaced by one that advances one second per reading, so an
epoch of 100 mini-batches "lasts" 100 s and its lines are known exactly.
"""
import io
import re
import sys

import numpy as np
import pytest

import refset
from refset import _progress

SUMMARY = re.compile(r"^epoch +\d+/\d+  loss \d+\.\d{4}  train acc \d\.\d{4}  test acc \d\.\d{4}  "
                     r"\(\d+\.\d\ds train, \d+\.\d\ds eval, \d+\.\d\ds topology\)$")


class Stream(io.StringIO):
    """A stderr that is (or is not) a terminal."""

    def __init__(self, tty=False):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class Clock:
    """Advances ``step`` seconds at every reading."""

    def __init__(self, step=1.0):
        self.t, self.step = 1000.0, step

    def __call__(self):
        self.t += self.step
        return self.t


@pytest.fixture
def data():
    X, y = refset.make_synthetic(n_samples=1200, seed=3)
    return X[:1000], y[:1000], X[1000:], y[1000:]


@pytest.fixture
def fake(monkeypatch):
    """Outside Jupyter, the clock of the log lines faked; ``fake(tty)`` sets a new stderr.

    Called in the test itself: pytest's capture sets ``sys.stderr`` again after the fixtures.
    """
    monkeypatch.setattr(_progress, "_in_notebook", lambda: False)
    monkeypatch.setattr(_progress, "_clock", Clock())

    def stderr(tty=False):
        stream = Stream(tty=tty)
        monkeypatch.setattr(sys, "stderr", stream)
        return stream

    return stderr


def _fit(data, verbose, epochs=2):
    X, y, Xt, yt = data
    model = refset.SparseMLP((32,), epsilon=4, epochs=epochs, batch_size=10, seed=0,
                             verbose=verbose)
    return model.fit(X, y, validation_data=(Xt, yt))


def _expected_lines(epoch, total=1000, batch=10, delay=5, interval=10):
    """Lines after 5 s, then every 10 s, none at the last mini-batch (t = mini-batches)."""
    out = []
    for t in range(delay, total // batch, interval):
        done = t * batch
        rate = done / t
        eta = round((total - done) / rate)
        out.append(f"epoch {epoch}: {done:,}/{total:,} samples, {rate:,.0f} samples/s, "
                   f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}")
    return out


def test_long_epoch_in_a_log_writes_periodic_lines_with_rate_and_eta(data, fake, capsys):
    stderr = fake()
    _fit(data, verbose=1)
    lines = stderr.getvalue().splitlines()
    assert lines == _expected_lines(1) + _expected_lines(2)
    assert lines[0] == "epoch 1: 50/1,000 samples, 10 samples/s, ETA 0:01:35"
    # the per-epoch summary lines are unchanged, on stdout
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(SUMMARY.match(line) for line in out), out


def test_short_epochs_in_a_log_print_no_progress(data, fake, monkeypatch):
    monkeypatch.setattr(_progress, "_clock", Clock(step=0.04))      # 4 s epochs
    stderr = fake()
    _fit(data, verbose=1)
    assert stderr.getvalue() == ""


def test_verbose_0_prints_nothing(data, monkeypatch, capsys):
    monkeypatch.setattr(_progress, "DELAY", {1: 0.0, 2: 0.0})
    monkeypatch.setattr(_progress, "LOG_INTERVAL", 0.0)
    for tty in (False, True):
        monkeypatch.setattr(sys, "stderr", Stream(tty=tty))
        _fit(data, verbose=0)
        assert sys.stderr.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_verbose_2_to_a_stream_that_is_not_a_terminal(data, fake):
    stderr = fake()
    _fit(data, verbose=2)
    lines = stderr.getvalue().splitlines()
    # after 1 s instead of 5 s, then every 10 s
    assert lines[:2] == ["epoch 1: 10/1,000 samples, 10 samples/s, ETA 0:01:39",
                         "epoch 1: 110/1,000 samples, 10 samples/s, ETA 0:01:29"]
    assert len(lines) == 2 * 10


def test_verbose_2_on_a_terminal_draws_a_tqdm_bar(data, fake, monkeypatch):
    stream = fake(tty=True)            # no fileno: the bar takes 80 columns
    monkeypatch.setattr(_progress, "DELAY", {1: 0.0, 2: 0.0})
    _fit(data, verbose=2, epochs=1)
    text = stream.getvalue()
    assert "\r" in text and "epoch 1:" in text and "samples/s" in text
    assert re.search(r"\[\d\d:\d\d<(\d\d:\d\d|\?)", text)          # elapsed < ETA
    assert text.endswith("\r")                                      # removed when it ends


def test_progress_in_jupyter_is_a_widget_or_text_without_ipywidgets(monkeypatch):
    tqdm_notebook = pytest.importorskip("tqdm.notebook")
    from tqdm.std import tqdm as text_bar

    monkeypatch.setattr(_progress, "_in_notebook", lambda: True)
    monkeypatch.setattr(sys, "stderr", Stream(tty=False))
    if tqdm_notebook.IProgress is not None:
        bar = _progress.epoch_progress(1, 1, 100)   # delay 5 s: never displayed here
        assert isinstance(bar, tqdm_notebook.tqdm) and bar.delay == _progress.DELAY[1]
        bar.close()
    monkeypatch.setattr(tqdm_notebook, "IProgress", None)
    bar = _progress.epoch_progress(1, 1, 100)
    assert type(bar) is text_bar and bar.delay == _progress.DELAY[1]
    bar.close()


def test_training_is_identical_with_and_without_progress(data, fake, monkeypatch):
    monkeypatch.setattr(_progress, "DELAY", {1: 0.0, 2: 0.0})
    monkeypatch.setattr(_progress, "LOG_INTERVAL", 0.0)
    quiet = _fit(data, verbose=0)
    log = fake()
    logged = _fit(data, verbose=1)
    terminal = fake(tty=True)
    barred = _fit(data, verbose=2)
    assert log.getvalue().count("\n") > 100 and "samples/s" in terminal.getvalue()
    for model in (logged, barred):
        assert model.fingerprint() == quiet.fingerprint()
        for a, b in zip(model.history_, quiet.history_):
            assert (a["train_loss"], a["test_loss"], a["nnz"]) == \
                (b["train_loss"], b["test_loss"], b["nnz"])
        assert np.array_equal(model.predict_proba(data[2]), quiet.predict_proba(data[2]))


def test_log_lines_format_eta_and_unknown_rate(monkeypatch):
    monkeypatch.setattr(_progress, "_clock", lambda: 50.0)
    log = _progress.LogLines("epoch 7", 10_000_000, Stream(), delay=0.0, interval=0.0)
    log.start = 0.0
    log.update(1000)                             # 20 samples/s: 138 h 52 min 30 s left
    log.start = 50.0
    log.update(1000)                             # no time elapsed: no rate, no ETA
    assert log.stream.getvalue().splitlines() == [
        "epoch 7: 1,000/10,000,000 samples, 20 samples/s, ETA 138:52:30",
        "epoch 7: 2,000/10,000,000 samples, 0 samples/s, ETA ?",
    ]
