#!/usr/bin/env python
"""The outputs shown in README.md, produced by running the code that prints them.

Usage::

    python tools/readme_samples.py --check            # list what differs; exit 1 if anything does
    python tools/readme_samples.py --write            # rewrite the samples that differ
    python tools/readme_samples.py --write --refresh  # rewrite every sample (new times too)
    python tools/readme_samples.py --check --only train,sweep

Two kinds of sample:

- **blocks**: the output of a command, between markers that render as nothing on GitHub and
  in Sphinx/MyST::

      <!-- refset-sample: train -->
      ```text
      ...what `refset train` prints (stdout and stderr, as a terminal shows them)...
      ```
      *a note: which script made it, on which machine*
      <!-- /refset-sample -->

  A long output keeps its first and last lines with a ``...`` line between them, as the
  README always showed it (``head`` and ``tail`` below).
- **inline**: a fragment of README text that is an output of the code, found by a regular
  expression whose named groups are the output (the repr in the comment after
  ``print(model.layers_[0])``, the counts of golden oracle cases, a config error message).

Times differ between runs and machines, so the comparison masks them (``0.13s``, ``(4.0s)``,
``ETA 0:00:07``, a sweep summary's ``s/run`` column and its time gain) and collapses runs of
spaces (a table's columns are as wide as its widest time); every other character — losses,
accuracies, counts, intervals — must match exactly. ``--write`` rewrites a block only when it
differs beyond the times, or with ``--refresh``, so the times in README.md are those of the
run that last changed the block, on the machine its note names.

Standard library and refset only.  The commands run with this interpreter (``python -m
refset``) in a temporary directory, with the environment's kernel backend
(``REFSET_BACKEND``): the outputs are the same on both backends, the numpy one is just slower.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SCRIPT = "tools/readme_samples.py"
TIMEOUT = 900            # seconds per command; `refset train` takes ~100 s on the numpy backend

BEGIN = "<!-- refset-sample: {name} -->"
END = "<!-- /refset-sample -->"
BLOCK_RE = re.compile(r"^<!-- refset-sample: (?P<name>[\w-]+) -->\n(?P<body>.*?)"
                      r"^<!-- /refset-sample -->$", re.S | re.M)

# What varies between runs: replaced by a placeholder before comparing.
_NUM = r"\d+\.\d+"
TIME_MASKS = [
    # a sweep summary row: "0.029 (0.026/0.002/0.002)  0.4386" -- s/run (train/eval/topo), gain
    (re.compile(rf"{_NUM} \({_NUM}/{_NUM}/{_NUM}\)\s+(?:-?{_NUM}|-)\s*$"), "<s/run> <gain>"),
    (re.compile(r"\bETA \d+:\d\d:\d\d\b"), "ETA <h:mm:ss>"),
    (re.compile(r"\b\d+(?:\.\d+)?s\b"), "<t>s"),              # 0.13s, (4.0s), 0.029s
]


@dataclass
class Block:
    """A command whose output README.md shows in a fenced block."""
    name: str
    args: list                       # arguments of `refset`; {root} and {tmp} are expanded
    head: int                        # lines kept before the "..." line
    tail: int                        # lines kept after it
    prompt: str = ""                 # a first line "$ command" as the README shows it
    display_paths: dict = field(default_factory=dict)   # real path -> path shown in README

    def run(self, tmp):
        args = [a.format(root=ROOT, tmp=tmp) for a in self.args]
        text = _run_refset(args, cwd=tmp)
        for real, shown in self.display_paths.items():
            text = text.replace(real.format(root=ROOT, tmp=tmp), shown)
        lines = text.rstrip("\n").split("\n")
        if len(lines) > self.head + self.tail + 1:
            lines = lines[:self.head] + ["..."] + lines[len(lines) - self.tail:]
        return ([self.prompt] if self.prompt else []) + lines


@dataclass
class Inline:
    """A fragment of README text that is an output: ``pattern``'s named groups."""
    name: str
    pattern: str                     # a regular expression with named groups
    produce: object                  # tmp -> {group: text}

    def regex(self):
        return re.compile(self.pattern, re.M)


def _run_refset(args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1")     # stdout and stderr interleaved as on a tty
    proc = subprocess.run([sys.executable, "-m", "refset", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"`refset {' '.join(args)}` exited with {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}")
    # progress lines of a long epoch (every 10 s in a log) depend on the machine's speed
    return "".join(line for line in proc.stdout.splitlines(keepends=True)
                   if not PROGRESS.match(line))


PROGRESS = re.compile(r"^epoch \d+: [\d,.]+k?/[\d,.]+k? samples")


def _layer_repr(tmp):
    """The comment after ``print(model.layers_[0])`` in "## In Python".

    The README's model, trained for one epoch instead of twenty: SET conserves every layer's
    link count and neither the shape nor the dtype changes, so the repr is the same.
    """
    import warnings

    import refset

    data = refset.load_dataset("synthetic", seed=0)
    model = refset.SparseMLP(hidden_layer_sizes=(1000, 1000, 1000), epsilon=20, zeta=0.3,
                             epochs=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # the dense output layer's warning
        model.fit(data.X_train, data.y_train)
    return {"out": repr(model.layers_[0])}


def _oracle_counts(tmp):
    """The number of stored golden cases, in all and per level."""
    from refset import oracle

    return {"total": str(len(oracle.list_cases())),
            **{f"l{k}": str(len(oracle.list_cases(level=k))) for k in (0, 1, 2)}}


def _config_error(tmp):
    """The error a sweep config with ``runs = 0`` gets (experiments/zeta_quick.toml, edited)."""
    text = (ROOT / "experiments" / "zeta_quick.toml").read_text(encoding="utf-8")
    bad = re.sub(r"(?m)^runs = \d+$", "runs = 0", text)
    assert bad != text, "experiments/zeta_quick.toml has no 'runs = N' line"
    path = Path(tmp) / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "refset", "sweep", str(path), "--out",
                           str(Path(tmp) / "bad")], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("refset: error:")]
    if proc.returncode == 0 or not lines:
        raise RuntimeError(f"a config with runs = 0 was not refused:\n{proc.stdout}{proc.stderr}")
    return {"out": lines[-1]}


SAMPLES = [
    Block("train", ["train"], head=3, tail=2),
    Block("sweep", ["sweep", "{root}/experiments/zeta_quick.toml", "--out", "{tmp}/zq"],
          head=2, tail=6, prompt="$ refset sweep experiments/zeta_quick.toml --out /tmp/zq",
          display_paths={"{tmp}/zq": "/tmp/zq"}),
    Inline("layer-repr", r"^print\(model\.layers_\[0\]\)\s+# (?P<out>.+)$", _layer_repr),
    Inline("oracle-counts",
           r"(?P<total>\d+)\s+golden\s+cases\s+—\s+L0\s[^()]*\((?P<l0>\d+)\),\s+L1\s[^()]*"
           r"\((?P<l1>\d+)\),\s+L2\s[^()]*\((?P<l2>\d+)\)", _oracle_counts),
    Inline("config-error", r"`(?P<out>refset: error: experiment\.runs: [^`\n]*)`", _config_error),
]
NAMES = [s.name for s in SAMPLES]


@dataclass
class Report:
    differences: list                # lines describing samples that differ from the code
    structural: list                 # problems --write cannot fix

    @property
    def lines(self):
        return self.structural + self.differences

    def __bool__(self):
        return bool(self.lines)


def mask(line):
    """The line with its times replaced by placeholders and runs of spaces collapsed."""
    for pattern, placeholder in TIME_MASKS:
        line = pattern.sub(placeholder, line)
    return " ".join(line.split())


def machine():
    """'AMD EPYC (2 cores, compiled kernels)': where the times of a written block come from."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), None)
    except OSError:
        pass
    import platform

    import refset

    backend = refset.get_backend()
    kernels = "compiled kernels" if backend == "cython" else f"{backend} kernels"
    cpu = model or platform.processor() or platform.machine()
    return f"{cpu} ({os.cpu_count()} cores, {kernels})"


def _parse_block(body):
    """(lines in the fence, the text after it) of a marked region."""
    lines = body.split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith("```")]
    if len(starts) < 2 or starts[0] != 0:
        raise ValueError("a refset-sample region must start with a fenced block")
    return lines[1:starts[1]], "\n".join(lines[starts[1] + 1:])


def _render_block(lines):
    import textwrap

    note = textwrap.fill(f"*Printed by the code (`python {SCRIPT} --write`). The times are "
                         f"those of one run on {machine()}; they vary from run to run.*",
                         width=96, break_on_hyphens=False)
    return "```text\n" + "\n".join(lines) + "\n```\n\n" + note + "\n"


def compare(name, shown, printed):
    """The differences between the README's lines and the printed ones, times masked."""
    a, b = [mask(x) for x in shown], [mask(x) for x in printed]
    if a == b:
        return []
    import difflib

    out = [f"README.md sample '{name}' differs from what the code prints "
           f"(- README, + code; times are masked in the comparison):"]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            out += [f"  - {x}" for x in shown[i1:i2]] + [f"  + {x}" for x in printed[j1:j2]]
    return out


def run(names=None, write=False, refresh=False, readme=README, log=None):
    """Check (or rewrite) the samples: a Report of the differences (which --write fixes) and
    of the structural problems (missing or unmatched markers, an inline pattern that does not
    match exactly once), empty when the README agrees with the code."""
    names = names or NAMES
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown sample(s) {sorted(unknown)}; known: {NAMES}")
    text = readme.read_text(encoding="utf-8")
    problems, structural = [], []
    regions = {m["name"]: m for m in BLOCK_RE.finditer(text)}
    stray = set(regions) - {s.name for s in SAMPLES if isinstance(s, Block)}
    structural += [f"README.md marks a sample '{n}' that {SCRIPT} does not know" for n in stray]
    if text.count("<!-- refset-sample:") != len(regions) or text.count(END) != len(regions):
        structural.append("README.md has an unmatched <!-- refset-sample: ... --> or "
                        f"{END} marker")
    new_text = text
    with tempfile.TemporaryDirectory(prefix="refset-readme-") as tmp:
        for sample in SAMPLES:
            if sample.name not in names:
                continue
            if log:
                log(f"{sample.name} ...")
            sub = Path(tmp) / sample.name
            sub.mkdir()
            if isinstance(sample, Block):
                region = regions.get(sample.name)
                if region is None:
                    structural.append(f"README.md has no {BEGIN.format(name=sample.name)} ... "
                                    f"{END} region")
                    continue
                shown, _ = _parse_block(region["body"])
                printed = sample.run(str(sub))
                diff = compare(sample.name, shown, printed)
                problems += diff
                if write and (diff or refresh):
                    new_text = new_text.replace(region["body"], _render_block(printed), 1)
            else:
                matches = list(sample.regex().finditer(text))
                if len(matches) != 1:
                    structural.append(f"README.md: inline sample '{sample.name}' matches "
                                    f"{len(matches)} places (pattern {sample.pattern!r}); "
                                    f"update the text or the pattern in {SCRIPT}")
                    continue
                m = matches[0]
                produced = sample.produce(str(sub))
                wrong = {g: (m[g], v) for g, v in produced.items() if m[g] != v}
                if not wrong:
                    continue
                problems.append(f"README.md inline sample '{sample.name}' differs from what "
                                f"the code prints: " + "; ".join(
                                    f"{g}: README {old!r}, code {new!r}"
                                    for g, (old, new) in wrong.items()))
                if write:
                    fixed = m[0]
                    for g in sorted(wrong, key=lambda g: -m.start(g)):      # right to left
                        s, e = m.start(g) - m.start(), m.end(g) - m.start()
                        fixed = fixed[:s] + wrong[g][1] + fixed[e:]
                    new_text = new_text.replace(m[0], fixed, 1)
    if write and new_text != text:
        current = readme.read_text(encoding="utf-8")
        if current != text:
            raise RuntimeError("README.md changed while the samples ran; run --write again")
        readme.write_text(new_text, encoding="utf-8")
    return Report(problems, structural)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true",
                      help="report the samples that differ from what the code prints; exit 1 "
                           "if any does")
    mode.add_argument("--write", action="store_true",
                      help="rewrite the samples that differ beyond their times")
    p.add_argument("--refresh", action="store_true",
                   help="with --write: rewrite every block, times included")
    p.add_argument("--only", default=",".join(NAMES),
                   help=f"comma-separated samples (default all: {','.join(NAMES)})")
    p.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.refresh and not args.write:
        p.error("--refresh needs --write")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    try:
        problems = run(names, write=args.write, refresh=args.refresh, readme=args.readme,
                       log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except ValueError as exc:
        p.error(str(exc))
    for line in problems.lines:
        print(line)
    if args.write:
        done = ("rewrote every sample, times included" if args.refresh else
                "rewrote the samples listed above" if problems.differences else "up to date")
        print(f"{args.readme}: {done}")
        return 1 if problems.structural else 0
    print(f"{len(names)} sample(s) checked: " + ("all agree with the code" if not problems else
                                                  f"{len(problems.lines)} problem line(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
