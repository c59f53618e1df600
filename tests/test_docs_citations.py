"""Citations of the specification point somewhere.

Code, docstrings, tutorials, tests and reports cite the specification as "ALGORITHMS §5.4",
"ALGORITHMS.md §0", "PERFORMANCE §2.5", "ALGORITHMS §4.1-4.4", "ALGORITHMS §2.1 and §7",
"ALGORITHMS §4.2-4.3, §4.5" (and, inside the oracle's JSON files, "ALGORITHMS \\u00a75.4").
The sections are the numbered headings of ``docs/spec/algorithms.md`` and
``docs/spec/performance.md`` ("## 2. SET evolution", "#### 5.3.2 Percolation"), each with a MyST
label right above it (``(algorithms-5-3-2)=``) that other pages link with ``{ref}``.

These tests parse the headings, scan every text file of the repository (``git ls-files``, tracked
and not yet added but not ignored; a fixed list of folders when git is unavailable) and fail with
``file:line: ALGORITHMS §x does not exist`` for every citation that points nowhere; they also
check the ``{ref}`` links to those labels. Standard library and pytest only, no network.
"""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "docs" / "spec"
PAGES = {"ALGORITHMS": SPEC_DIR / "algorithms.md", "PERFORMANCE": SPEC_DIR / "performance.md"}
LABEL_PREFIX = {"ALGORITHMS": "algorithms", "PERFORMANCE": "performance"}

# The sections the code and the reports were written against; the pages may add more.
REQUIRED = {
    "ALGORITHMS": {"0", "1", "2", "2.1", "3", "4", "4.1", "4.2", "4.3", "4.4", "4.5", "5", "5.1",
                   "5.2", "5.3", "5.3.1", "5.3.2", "5.3.3", "5.3.4", "5.4", "5.5", "6", "7"},
    "PERFORMANCE": {"1", "2", "2.5", "3", "4", "5"},
}

SUFFIXES = {".py", ".pyx", ".md", ".toml", ".txt", ".json", ".rst", ".cfg", ".ipynb"}
FALLBACK_DIRS = ("refset", "_ext", "tutorials", "tests", "docs", "experiments", "benchmarks",
                 "examples", "tools")
FALLBACK_FILES = ("README.md", "pyproject.toml", "setup.py")
SKIP_PARTS = {".git", "_build", "build", "dist", "jupyter_execute", ".ipynb_checkpoints",
              "__pycache__", "node_modules"}
MAX_BYTES = 4_000_000

# -- parsing -----------------------------------------------------------------------------------
_NUM = r"\d+(?:\.\d+)*"
_SP = r"[ \u00a0]"
_SECT = rf"(?:§|\\u00a7){_SP}?"                    # "§", "§ ", or JSON's escaped "\u00a7"
_CITE = re.compile(rf"\b(?P<doc>ALGORITHMS|PERFORMANCE)(?:\.md)?`?{_SP}?{_SECT}")
_ITEM = re.compile(rf"(?P<a>{_NUM})(?:{_SP}?[-–—]{_SP}?(?P<sect>{_SECT})?(?P<b>{_NUM}))?")
_MORE = re.compile(rf"(?:,{_SP}?|{_SP}+(?:and|or|to){_SP}+|{_SP}?/{_SP}?){_SECT}")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<num>\d+(?:\.\d+)*)\.?(?=[ \t])")
_LABEL = re.compile(r"^\((?P<label>[^()\s]+)\)=[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_REF = re.compile(r"\{ref\}`(?P<body>[^`]+)`")


def _range_end(a, b, explicit):
    """The end of a range: "4.1-3" abbreviates 4.1-4.3 unless the end carries its own "§"."""
    a_parts, b_parts = a.split("."), b.split(".")
    if explicit or len(b_parts) >= len(a_parts):
        return b
    return ".".join(a_parts[: len(a_parts) - len(b_parts)] + b_parts)


def find_citations(text):
    """Every citation of ALGORITHMS or PERFORMANCE sections in ``text``.

    Returns a list of ``(line, document, section, item)``: one entry per section named (both
    ends of a range, each member of a list), ``line`` 1-based, ``item`` the text of the list
    member that named it ("4.1-4.4" for both ends of that range).
    """
    found = []
    for m in _CITE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        doc, pos = m.group("doc"), m.end()
        while (item := _ITEM.match(text, pos)) is not None:
            a, b = item.group("a"), item.group("b")
            sections = [a] if b is None else [a, _range_end(a, b, bool(item.group("sect")))]
            shown = re.sub(r"\\u00a7", "§", item.group(0))
            found.extend((line, doc, s, shown) for s in sections)
            more = _MORE.match(text, item.end())
            if more is None:
                break
            pos = more.end()
    return found


def _lines(text):
    """``(line number, line, fenced)`` of every line; fence delimiters count as fenced."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker
            elif (marker[0] == fence[0] and len(marker) >= len(fence)
                  and not line.strip()[len(marker):]):
                fence = None
            yield number, line, True
        else:
            yield number, line, fence is not None


def numbered_headings(text):
    """``(line, level, number, label)`` for every numbered heading outside code fences;
    ``label`` is the MyST target on the nearest non-blank line above it, or None."""
    out, previous = [], None
    for number, line, fenced in _lines(text):
        if fenced:
            previous = None
            continue
        m = _HEADING.match(line)
        if m:
            out.append((number, len(m.group("hashes")), m.group("num"), previous))
        if line.strip():
            label = _LABEL.match(line.strip())
            previous = label.group("label") if label else None
    return out


def labels(text):
    """Every MyST target ``(name)=`` defined in ``text`` (outside code fences)."""
    return [m.group("label") for _, line, fenced in _lines(text)
            if not fenced and (m := _LABEL.match(line.strip()))]


def ref_targets(text):
    """``(line, target)`` of every ``{ref}`target``` and ``{ref}`text <target>```."""
    out = []
    for m in _REF.finditer(text):
        body = m.group("body").strip()
        target = re.search(r"<([^<>]+)>$", body)
        out.append((text.count("\n", 0, m.start()) + 1, target.group(1) if target else body))
    return out


def unresolved(text, sections, name):
    """``name:line: DOC §x does not exist`` for each citation in ``text`` that names a section
    missing from ``sections`` (``{document: set of section numbers}``)."""
    problems = []
    for line, doc, section, item in find_citations(text):
        if section not in sections[doc]:
            where = f" (in §{item})" if item != section else ""
            problems.append(f"{name}:{line}: {doc} §{section} does not exist{where}")
    return problems


def label_for(doc, number):
    return f"{LABEL_PREFIX[doc]}-{number.replace('.', '-')}"


# -- the repository ------------------------------------------------------------------------------
def _wanted(path):
    return path.suffix in SUFFIXES and not SKIP_PARTS.intersection(path.relative_to(ROOT).parts)


def repository_files():
    """The text files to scan, sorted: git's list when available, else a fixed set of folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, timeout=30, check=True).stdout
        paths = {ROOT / p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}
    except (OSError, subprocess.SubprocessError):
        paths = {ROOT / f for f in FALLBACK_FILES}
        for folder in FALLBACK_DIRS:
            if (ROOT / folder).is_dir():
                paths.update(p for p in (ROOT / folder).rglob("*"))
    this = Path(__file__).resolve()          # its synthetic texts cite bogus sections on purpose
    return sorted(p for p in paths if _wanted(p) and p.is_file() and p.resolve() != this
                  and p.stat().st_size <= MAX_BYTES)


def _read(path):
    return path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def spec():
    """``{document: (text, headings)}`` of the two pages; skip without the docs folder."""
    missing = [str(p.relative_to(ROOT)) for p in PAGES.values() if not p.is_file()]
    if missing:
        pytest.skip(f"the specification pages are not here ({', '.join(missing)}): run from a "
                    "checkout of the repository, not from an installed package")
    return {doc: (_read(path), numbered_headings(_read(path))) for doc, path in PAGES.items()}


# -- the checks --------------------------------------------------------------------------------
def test_every_citation_points_at_a_section(spec):
    sections = {doc: {h[2] for h in headings} for doc, (_, headings) in spec.items()}
    problems, count = [], 0
    for path in repository_files():
        text = _read(path)
        if "ALGORITHMS" not in text and "PERFORMANCE" not in text:
            continue
        count += len(find_citations(text))
        problems += unresolved(text, sections, path.relative_to(ROOT))
    assert count > 0, "no citation found at all: is the scan looking at the repository?"
    assert not problems, ("citations of sections that docs/spec/ does not have:\n"
                          + "\n".join(problems))


def test_numbered_headings_carry_their_labels(spec):
    problems = []
    for doc, (text, headings) in spec.items():
        seen = {}
        for line, level, number, label in headings:
            want = label_for(doc, number)
            if label != want:
                problems.append(f"{PAGES[doc].relative_to(ROOT)}:{line}: heading §{number} needs "
                                f"the label ({want})= right above it, found {label!r}")
            if number in seen:
                problems.append(f"{PAGES[doc].relative_to(ROOT)}:{line}: §{number} is also the "
                                f"heading of line {seen[number]}")
            seen[number] = line
            depth = number.count(".") + 2            # "## 2.", "### 2.1", "#### 5.3.2"
            if level != depth:
                problems.append(f"{PAGES[doc].relative_to(ROOT)}:{line}: §{number} should be a "
                                f"level-{depth} heading ({'#' * depth}), not {'#' * level}")
        all_labels = labels(text)
        for name in {n for n in all_labels if all_labels.count(n) > 1}:
            problems.append(f"{PAGES[doc].relative_to(ROOT)}: label {name} is defined twice")
    assert not problems, "\n".join(problems)


def test_spec_keeps_the_cited_numbering(spec):
    missing = [f"{doc} §{n}" for doc, (_, headings) in spec.items()
               for n in sorted(REQUIRED[doc] - {h[2] for h in headings})]
    assert not missing, f"sections the code was written against are gone: {', '.join(missing)}"


def test_refs_to_the_spec_resolve(spec):
    known = {lab for text, _ in spec.values() for lab in labels(text)}
    sources = [p for p in (ROOT / "docs").rglob("*.md") if _wanted(p)]
    # pages copied into the site when it is built (docs/conf.py): tutorials, reports, benchmarks
    sources += sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
    sources += sorted((ROOT / "experiments").glob("*.md"))
    sources += [p for p in [ROOT / "benchmarks" / "README.md"] if p.is_file()]
    problems, count = [], 0
    for path in sorted(set(sources)):
        for line, target in ref_targets(_read(path)):
            if target.startswith(("algorithms-", "performance-")):
                count += 1
                if target not in known:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {{ref}} target {target} "
                                    "does not exist")
    assert count > 0, "the spec pages should link each other with {ref}"
    assert not problems, "\n".join(problems)


# -- the parsers themselves --------------------------------------------------------------------
SYNTHETIC = """\
Removal as in ALGORITHMS §2.1; the layout of PERFORMANCE.md §2 and `PERFORMANCE.md` §5.
Ranges: ALGORITHMS §4.1-4.4, ALGORITHMS §5.3–5.4 and ALGORITHMS §1–§5; ALGORITHMS §0, §3
and ALGORITHMS §2.1 and §7; mixed: ALGORITHMS §4.2-4.3, §4.5.
A bogus one: ALGORITHMS §9.9. And one in a range: PERFORMANCE §2.1-2.9.
JSON: "spec": "ALGORITHMS \\u00a75.3-5.4"; spaced: ALGORITHMS § 6.
Prose after a citation is not a section: ALGORITHMS §3 and the method's section; PERFORMANCE §2,
lesson 2; Cavallaro's §5.2 is not ours.
"""


def test_citation_parser_reads_every_form():
    got = [(line, doc, s) for line, doc, s, _ in find_citations(SYNTHETIC)]
    assert got == [
        (1, "ALGORITHMS", "2.1"), (1, "PERFORMANCE", "2"), (1, "PERFORMANCE", "5"),
        (2, "ALGORITHMS", "4.1"), (2, "ALGORITHMS", "4.4"),
        (2, "ALGORITHMS", "5.3"), (2, "ALGORITHMS", "5.4"),
        (2, "ALGORITHMS", "1"), (2, "ALGORITHMS", "5"),
        (2, "ALGORITHMS", "0"), (2, "ALGORITHMS", "3"),
        (3, "ALGORITHMS", "2.1"), (3, "ALGORITHMS", "7"),
        (3, "ALGORITHMS", "4.2"), (3, "ALGORITHMS", "4.3"), (3, "ALGORITHMS", "4.5"),
        (4, "ALGORITHMS", "9.9"), (4, "PERFORMANCE", "2.1"), (4, "PERFORMANCE", "2.9"),
        (5, "ALGORITHMS", "5.3"), (5, "ALGORITHMS", "5.4"), (5, "ALGORITHMS", "6"),
        (6, "ALGORITHMS", "3"), (6, "PERFORMANCE", "2"),
    ]
    assert _range_end("4.1", "3", explicit=False) == "4.3"
    assert _range_end("4.1", "5", explicit=True) == "5"


def test_a_bogus_citation_is_reported():
    page = "(algorithms-2)=\n## 2. SET\n\n(algorithms-2-1)=\n### 2.1 Removal\n"
    sections = {"ALGORITHMS": {h[2] for h in numbered_headings(page)},
                "PERFORMANCE": {"1", "2", "2.1", "3", "4", "5"}}
    assert sections["ALGORITHMS"] == {"2", "2.1"}
    problems = unresolved(SYNTHETIC, sections, "synthetic.md")
    assert "synthetic.md:4: ALGORITHMS §9.9 does not exist" in problems
    assert "synthetic.md:4: PERFORMANCE §2.9 does not exist (in §2.1-2.9)" in problems
    assert "synthetic.md:2: ALGORITHMS §4.4 does not exist (in §4.1-4.4)" in problems
    assert not any(p.startswith("synthetic.md:1:") for p in problems)     # §2.1, §2, §5 exist
    assert unresolved("ALGORITHMS §2 and §2.1", sections, "ok.py") == []


def test_heading_and_label_parsers():
    page = ("# Title\n\n(algorithms-0)=\n## 0. Notation\n\n```python\n## 9. not a heading\n"
            "(algorithms-9)=\n```\n\n#### 5.3.2 Percolation\n"
            "See {ref}`algorithms-0` and {ref}`the step <algorithms-5-3>`.\n")
    assert numbered_headings(page) == [(4, 2, "0", "algorithms-0"), (11, 4, "5.3.2", None)]
    fenced_label = "(algorithms-1)=\n```{note}\nA note.\n```\n## 1. Initialisation\n"
    assert numbered_headings(fenced_label) == [(5, 2, "1", None)]
    assert labels(page) == ["algorithms-0"]
    assert ref_targets(page) == [(12, "algorithms-0"), (12, "algorithms-5-3")]
    assert label_for("PERFORMANCE", "2.5") == "performance-2-5"
