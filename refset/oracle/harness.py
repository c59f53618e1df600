"""Running the golden cases against an adapter, and regenerating them.

The adapter runs in this process.  Whatever it raises while a case runs — any exception,
``SystemExit`` (``sys.exit``), a call of ``os._exit`` from the calling thread, or the private
time-limit exception — ends that case as an ``error`` and the check goes on; only
``KeyboardInterrupt`` propagates, so Ctrl-C still stops the check.  (``GeneratorExit`` is
caught too: the harness calls the adapter outside any generator, so one that reaches it was
raised by the adapter.)

Deviations (decided, see docs/oracle.md, *Running it*):

- No child process per case: adapters may be objects (not only importable modules), hold
  state between cases (a GPU context), and their inputs and outputs would have to be pickled.
  The price is what cannot be caught in-process: ``os._exit`` called from another thread or
  from C code, a crash of the interpreter, and a hang inside C code that never returns to
  Python (the time limit fires only when Python code runs again).
- ``os._exit`` is replaced, while an adapter function runs, by a function that raises a
  private ``BaseException`` when called from the thread running the case in this process
  (calls from a forked child or another thread still exit).
- The per-case time limit (``timeout``, seconds; 0 or None: none) uses ``SIGALRM`` and
  ``setitimer``: it applies only in the main thread of a platform that has them (not on
  Windows), and only to the call of the adapter's function, not to importing the adapter.  An
  outer ``ITIMER_REAL`` timer (pytest-timeout's signal method) is honoured: if it would fire
  first, no limit is set; otherwise it is re-armed with its remaining time afterwards.  An
  adapter that swallows ``BaseException`` (a bare ``except:``) can defeat it.
"""
import contextlib
import importlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from ._format import case_files, compare, pack, read_npz, unpack, write_json, write_npz

__all__ = ["DATA_DIR", "VERSION", "DEFAULT_TIMEOUT", "CaseResult", "load_adapter", "list_cases",
           "load_case", "run_case", "check", "regenerate", "read_expected_failures",
           "format_table"]

VERSION = "v1"
DATA_DIR = os.path.join(os.path.dirname(__file__), "data", VERSION)
FORMAT = 1
DEFAULT_TIMEOUT = 600.0
"""Seconds one case's adapter call may take (``check``, ``oracle_tests``, the CLI's --timeout)."""


class _TimedOut(BaseException):
    """Raised by the SIGALRM handler; a BaseException so ``except Exception`` cannot eat it."""


class _OsExit(BaseException):
    """Raised instead of exiting when the adapter calls ``os._exit`` from the case's thread."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


@contextlib.contextmanager
def _guard(timeout=None):
    """Run the body with ``os._exit`` intercepted and, if possible, a time limit."""
    real_exit, pid, thread = os._exit, os.getpid(), threading.get_ident()

    def _exit(code):
        if os.getpid() == pid and threading.get_ident() == thread:
            raise _OsExit(code)
        real_exit(code)

    os._exit = _exit
    try:
        with _time_limit(timeout):
            yield
    finally:
        os._exit = real_exit


@contextlib.contextmanager
def _time_limit(seconds):
    if (not seconds or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_delay <= seconds:      # an outer timer fires first: let it
        yield
        return

    def _alarm(signum, frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, _alarm)
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            if previous is not None:        # None: a handler not set from Python
                signal.signal(signal.SIGALRM, previous)
            if outer_delay > 0:
                left = max(outer_delay - (time.monotonic() - t0), 1e-3)
                signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def _check_timeout(timeout):
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be a number of seconds >= 0 (0: none), got {timeout!r}")
    return timeout


def _describe(exc, timeout=None):
    """One line saying what an adapter did instead of returning."""
    if isinstance(exc, _TimedOut):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, SystemExit):
        return "adapter called sys.exit(" + ("" if exc.code is None else repr(exc.code)) + ")"
    if isinstance(exc, _OsExit):
        return f"adapter called os._exit({exc.code!r})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _where(exc):
    """``at FILE:LINE in FUNCTION``: the innermost frame of ``exc`` outside this module."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) != os.path.abspath(__file__)]
    if not frames:
        return ""
    f = frames[-1]
    return f"at {f.filename}:{f.lineno} in {f.name}"


@dataclass
class CaseResult:
    """Outcome of one case: ``status`` is pass, fail, error, n/a (the adapter lacks the
    function), xfail (failed as expected) or xpass (passed although expected to fail)."""

    name: str
    level: int
    function: str
    status: str
    max_error: float = 0.0
    problems: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unexpected(self):
        return self.status in ("fail", "error", "xpass")


def load_adapter(spec):
    """An adapter from a module name (``package.module``), a ``.py`` path, or a module object.

    Raises ``ValueError`` (one line naming ``spec``) if the module or file does not exist, is
    not a ``.py`` file, or raises anything but ``KeyboardInterrupt`` while it is imported.
    """
    if not isinstance(spec, str):
        return spec
    is_path = spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec)
    if is_path:
        if not os.path.exists(spec):
            raise ValueError(f"--adapter: {spec} does not exist")
        if not os.path.isfile(spec) or not spec.endswith(".py"):
            raise ValueError(f"--adapter: {spec} is not a .py file (give an importable module "
                             "name or a path to a .py file)")
    try:
        with _guard():
            if not is_path:
                return importlib.import_module(spec)
            name = os.path.splitext(os.path.basename(spec))[0]
            loader = importlib.machinery.SourceFileLoader(f"refset_oracle_adapter_{name}", spec)
            module = importlib.util.module_from_spec(
                importlib.util.spec_from_loader(loader.name, loader))
            loader.exec_module(module)
            return module
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything the adapter's import does
        if (not is_path and isinstance(exc, ModuleNotFoundError) and exc.name
                and (spec == exc.name or spec.startswith(exc.name + "."))):
            raise ValueError(f"--adapter: no module named {spec!r} (give an importable module "
                             "name or a path to a .py file)") from None
        raise ValueError(f"cannot import adapter {spec}: {_describe(exc)}") from exc


def list_cases(data_dir=None, level=None, pattern=None):
    """Names of the stored cases (sorted), optionally of one level or containing ``pattern``."""
    data_dir = data_dir or DATA_DIR
    names = sorted(d for d in os.listdir(data_dir)
                   if os.path.exists(os.path.join(data_dir, d, "case.json")))
    out = []
    for name in names:
        if pattern and pattern not in name:
            continue
        if level is not None and not name.startswith(f"L{level}-"):
            continue
        out.append(name)
    return out


def load_case(name, data_dir=None):
    """``(doc, inputs, expected)`` of a stored case."""
    directory = os.path.join(data_dir or DATA_DIR, name)
    doc_path, in_path, exp_path = case_files(directory)
    try:
        with open(doc_path, encoding="utf-8") as f:
            doc = json.load(f)
        inputs = unpack(doc["inputs"], read_npz(in_path))
        expected = unpack(doc["expected"], read_npz(exp_path))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"oracle case {name!r} in {directory} is unreadable: {exc}") from None
    return doc, inputs, expected


def run_case(adapter, name, data_dir=None, expected_failures=(), timeout=DEFAULT_TIMEOUT):
    """Run one case; the adapter's exceptions, exits and time-outs become an ``error`` result.

    ``timeout``: seconds the adapter's function may take (0 or None: no limit; see the module
    docstring for where the limit applies).  ``KeyboardInterrupt`` propagates.
    """
    _check_timeout(timeout)
    doc, inputs, expected = load_case(name, data_dir)
    fn = getattr(adapter, doc["function"], None)
    result = CaseResult(name, doc["level"], doc["function"], "n/a")
    if fn is None:
        return result
    t0 = time.perf_counter()
    try:
        with _guard(timeout):
            got = fn(**inputs)
        problems, err = compare(got, expected, doc["tolerance"])
        result.status = "fail" if problems else "pass"
        result.problems, result.max_error = problems, err
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the adapter's crash or exit is a result
        from ..draws import DrawsExhausted

        result.status = "error"
        hint = (" (the adapter used more uniforms than were recorded: a count or the draw "
                "order differs before this point)" if isinstance(exc, DrawsExhausted) else "")
        result.problems = [_describe(exc, timeout) + hint, _where(exc)]
    result.seconds = time.perf_counter() - t0
    if name in expected_failures:
        result.status = {"fail": "xfail", "error": "xfail", "pass": "xpass"}.get(result.status,
                                                                                 result.status)
    return result


def read_expected_failures(path):
    """Case names listed in a text file (one per line; ``#`` starts a comment)."""
    if path is None:
        return set()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ValueError(f"--expected-failures: cannot read {path} ({exc.strerror})") from None
    names = {line.split("#", 1)[0].strip() for line in lines} - {""}
    unknown = names - set(list_cases())
    if unknown:
        raise ValueError(f"--expected-failures: unknown cases {sorted(unknown)} in {path}")
    return names


def check(adapter, *, level=None, pattern=None, expected_failures=(), data_dir=None,
          timeout=DEFAULT_TIMEOUT):
    """Run every applicable stored case against ``adapter``; a list of :class:`CaseResult`.

    A case whose function raises, calls ``sys.exit``/``os._exit`` or runs longer than
    ``timeout`` seconds (0 or None: no limit) is an ``error``; the other cases still run.
    """
    _check_timeout(timeout)
    adapter = load_adapter(adapter)
    return [run_case(adapter, name, data_dir, expected_failures, timeout)
            for name in list_cases(data_dir, level, pattern)]


def format_table(results, adapter_name=""):
    lines = [f"{'case':38} {'function':18} {'result':7} {'max rel. error':>14}  note"]
    for r in results:
        # a failure without a value comparison (topology, shape) has no error to show
        shown = r.status in ("pass", "xpass") or (r.status in ("fail", "xfail") and r.max_error)
        err = f"{r.max_error:14.2e}" if shown else f"{'—':>14}"
        note = r.problems[0] if r.problems else ""
        lines.append(f"{r.name:38} {r.function:18} {r.status:7} {err}  {note[:90]}")
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    lines.append(f"{adapter_name}: {summary}")
    return "\n".join(lines)


def _reference():
    from .adapters.reference import make

    return make("numpy")


def regenerate(out_dir=None, *, names=None, check_only=False, data_dir=None, progress=None):
    """Build the cases from the current code.

    With ``check_only`` nothing is written: returns the names whose stored files differ from
    what the code produces now (an empty list proves the stored cases are current).
    Otherwise writes every case to ``out_dir`` (default: the package's data directory),
    each case directory replaced atomically, and returns the names written.
    """
    from .cases import CASES, build

    data_dir = data_dir or DATA_DIR
    out_dir = out_dir or data_dir
    reference = _reference()
    names = list(CASES) if names is None else list(names)
    differ = []
    for name in names:
        doc, inputs, expected = build(name, reference)
        in_arrays, exp_arrays = {}, {}
        doc["inputs"] = pack(inputs, in_arrays)
        doc["expected"] = pack(expected, exp_arrays)
        doc = {"format": FORMAT, "version": VERSION, **doc}
        if check_only:
            if not _same_as_stored(name, doc, in_arrays, exp_arrays, data_dir):
                differ.append(name)
        else:
            _write_case(os.path.join(out_dir, name), doc, in_arrays, exp_arrays)
        if progress:
            progress(name)
    if check_only:
        stored = set(list_cases(data_dir)) if os.path.isdir(data_dir) else set()
        differ += sorted(stored - set(CASES)) if names == list(CASES) else []
        return differ
    return names


def _same_as_stored(name, doc, in_arrays, exp_arrays, data_dir):
    doc_path, in_path, exp_path = case_files(os.path.join(data_dir, name))
    try:
        with open(doc_path, encoding="utf-8") as f:
            stored = json.load(f)
        stored_in, stored_exp = read_npz(in_path), read_npz(exp_path)
    except (OSError, ValueError):
        return False
    if json.loads(json.dumps(doc)) != stored:
        return False
    for mine, theirs in ((in_arrays, stored_in), (exp_arrays, stored_exp)):
        if mine.keys() != theirs.keys():
            return False
        for k in mine:
            a, b = np.asarray(mine[k]), theirs[k]
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                return False
    return True


def _write_case(directory, doc, in_arrays, exp_arrays):
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        write_json(os.path.join(tmp, "case.json"), doc)
        write_npz(os.path.join(tmp, "inputs.npz"), in_arrays)
        write_npz(os.path.join(tmp, "expected.npz"), exp_arrays)
        if os.path.exists(directory):
            old = directory + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
