"""The package layout: one module per algorithm, no import cycle, no module hidden by a name.

The layout is part of what refset teaches (a student looks for "the CSTI module" in
``refset.algorithms.csti``), so it is tested like behaviour:

- every algorithm of the papers is a module of :mod:`refset.algorithms`;
- the numpy twins sit beside the backend in :mod:`refset.kernels`;
- the estimator's parts are in :mod:`refset.estimator`;
- no two modules of refset import each other, directly or through others (imports inside
  functions count: they are cycles too, only deferred);
- no package attribute hides a submodule of the same name (``help(refset.algorithms.sensitivity)``
  must show the module, not a function).
"""
import ast
import importlib
import pkgutil
import sys
import types
from pathlib import Path

import pytest

import refset

PACKAGE_DIR = Path(refset.__file__).resolve().parent

ALGORITHM_MODULES = ("erdos_renyi", "sparse_evolutionary", "paths", "path_weight", "sensitivity",
                     "csti", "swi", "ch3_l3", "cht")


def _module_name(path):
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_modules():
    """{module name: (path, is_package)} for every .py file of the installed package."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        found[_module_name(path)] = (path, path.name == "__init__.py")
    return found


def import_graph(modules):
    """Edges module -> module for every ``import`` / ``from ... import`` inside refset.

    ``from package import name`` is an edge to ``package.name`` when that is a module, else to
    ``package`` (its ``__init__``).
    """
    graph = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in modules else source)
            for target in targets:
                # `import refset.a.b` imports refset.a.b (the longest known prefix)
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack = []

    def visit(node):
        colour[node] = GREY
        stack.append(node)
        for succ in sorted(graph[node]):
            if colour[succ] == GREY:
                return stack[stack.index(succ):] + [succ]
            if colour[succ] == WHITE:
                cycle = visit(succ)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle():
    graph = import_graph(_all_modules())
    assert graph["refset.estimator.mlp"], "the import parser found no imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_import_graph_sees_deferred_imports(tmp_path):
    """An import inside a function is an edge too (it would hide a cycle otherwise)."""
    pkg = tmp_path / "refset"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "sub" / "b.py").write_text("from .a import f\n")
    modules = {"refset": (pkg / "__init__.py", True), "refset.sub": (pkg / "sub/__init__.py", True),
               "refset.sub.a": (pkg / "sub/a.py", False), "refset.sub.b": (pkg / "sub/b.py", False)}
    assert find_cycle(import_graph(modules)) in (["refset.sub.a", "refset.sub.b", "refset.sub.a"],
                                                 ["refset.sub.b", "refset.sub.a", "refset.sub.b"])


def _packages():
    return sorted(name for name, (_, is_pkg) in _all_modules().items() if is_pkg)


@pytest.mark.parametrize("package_name", _packages())
def test_no_submodule_is_shadowed(package_name):
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "__main__":        # runs the command line when imported
            continue
        full = f"{package_name}.{info.name}"
        try:
            module = importlib.import_module(full)
        except ImportError:            # a compiled kernel that was not built
            assert info.name.endswith("_cy"), full
            continue
        attribute = getattr(package, info.name, module)
        assert attribute is module, (f"{package_name}.{info.name} is {attribute!r}, which hides "
                                     f"the module {full}")
        assert sys.modules[full] is module


def test_algorithm_modules_are_where_a_student_looks():
    for name in ALGORITHM_MODULES:
        module = importlib.import_module(f"refset.algorithms.{name}")
        assert isinstance(module, types.ModuleType)
        assert module.__doc__ and len(module.__doc__) > 200, f"{name} has no real docstring"


def test_sensitivity_module_docstring_is_reachable():
    import refset.algorithms.sensitivity as m

    assert isinstance(m, types.ModuleType)
    assert "Eqs. 10-11" in m.__doc__ and "Deviations" in m.__doc__


def test_twins_sit_beside_the_backend():
    from refset.kernels import backend

    for compiled, twin, names in backend.KERNEL_MODULES:
        module = importlib.import_module(f"refset.kernels.{twin}")
        for kernel in names:
            assert callable(getattr(module, kernel)), f"refset.kernels.{twin}.{kernel}"


@pytest.mark.parametrize("package_name", ["refset", "refset.algorithms", "refset.kernels",
                                          "refset.estimator"])
def test_public_names_resolve(package_name):
    package = importlib.import_module(package_name)
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert not missing, f"{package_name}.__all__ names what it does not define: {missing}"
