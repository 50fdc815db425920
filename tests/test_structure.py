"""The house by stage (issue 16): bayescale's packages follow the data flow.

    runs table -> law -> model -> posterior -> predictions / decisions / comparisons -> report

Each top-level package or module of ``bayescale`` (a *unit*) belongs to one stage of ``STAGES``
and imports only units of earlier stages, earlier units of its own stage, or itself.  The import
graph is read from the source with ``ast``, every import counted: module level, inside functions
and under ``TYPE_CHECKING``.

Checked here, with two accepted exceptions (``LATE_IMPORTS``, each with its reason):

- every module belongs to a declared stage (a new package must be placed in the flow);
- no import from a later stage into an earlier one (nor from a later unit of a stage into an
  earlier one);
- no import cycle, between units or between modules (package ``__init__`` files included:
  a module that imports its own package's ``__init__`` while the ``__init__`` imports it is a
  cycle);
- no private name crosses a unit boundary: no ``from x import _name``, no import of a private
  module (``bayescale.foo._bar``) from another unit, and no ``obj._name`` attribute access of a
  private function or method that only another unit defines (``fit._prepare``,
  ``ScalingFit._params_for_group`` as it was before this layout).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bayescale"

#: The stages in data-flow order; each lists its units (top-level packages or modules).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    # shared by every stage: exceptions, atomic file writes, numbers for people, the version
    ("foundation", ("bayescale.errors", "bayescale.files", "bayescale.formatting",
                    "bayescale.version")),
    # pure functional forms (numpy / PyTensor): need nothing else of bayescale
    ("laws", ("bayescale.laws",)),
    # the runs table and bundled data (synthetic runs are drawn from a law, so after laws)
    ("data", ("bayescale.data", "bayescale.datasets")),
    # specs -> pm.Model
    ("modeling", ("bayescale.modeling",)),
    # the fit object, diagnostics, hierarchy summaries, prediction grids, the discrepancy
    ("posterior", ("bayescale.posterior",)),
    # NUTS, the compile cache, sweeps of many fits: return posterior objects
    ("sampling", ("bayescale.sampling",)),
    # comparisons: LOO, backtests, learned discrepancy, SBC, the bootstrap anchor
    ("evaluation", ("bayescale.evaluation",)),
    # numpy decisions on draws and their fit-level API
    ("decisions", ("bayescale.decisions",)),
    ("plots", ("bayescale.plots",)),
    ("report", ("bayescale.report",)),
    # the package root: lazy re-exports of the public API
    ("api", ("bayescale",)),
    ("cli", ("bayescale.cli", "bayescale.__main__")),
]

#: Imports against the flow that are accepted, each with the reason.  Keep this short.
LATE_IMPORTS = {
    ("bayescale.posterior.result", "bayescale.plots.fit_plot"):
        "ScalingFit.plot(), the README's one-line figure, is bayescale.plots.plot_fit(fit) "
        "imported when called: a convenience method of the public API kept as it was",
    ("bayescale.posterior.discrepancy", "bayescale.evaluation.discrepancy"):
        "fit.predict's default discrepancy is the empirical prior updated by the fit's own "
        "leave-future-out splits (issue 13), which refits the law on the smaller runs: "
        "evaluation.discrepancy.fit_discrepancy, imported when a fit first predicts beyond its "
        "runs",
}

#: Position in the flow: (stage, place of the unit within its stage); a unit imports only
#: units of a smaller position (``bayescale.datasets`` re-exports ``bayescale.data``, and
#: ``python -m bayescale`` runs the CLI).
RANK = {unit: (i, j) for i, (_, units) in enumerate(STAGES) for j, unit in enumerate(units)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
           if "__pycache__" not in p.parts}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every bayescale import in a module."""
    tree = ast.parse(MODULES[module].read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "bayescale"]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node)
            if target.split(".")[0] != "bayescale":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:  # `from package import submodule`
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target, a.name, node.lineno))
    return found


IMPORTS = {m: imports(m) for m in MODULES}


def late(module: str, target: str) -> bool:
    """Whether ``module`` importing ``target`` is one of the accepted ``LATE_IMPORTS``."""
    return (module, target) in LATE_IMPORTS


def module_edges() -> dict[str, set[str]]:
    """Module -> modules it imports (importing ``a.b.c`` also runs ``a.b``'s ``__init__``)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for m, found in IMPORTS.items():
        for target, _, _ in found:
            if late(m, target):
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                t = ".".join(parts[:i])
                # a package does not "import" its own parents when it imports a submodule of
                # itself, and a module's own package is already being imported
                if t in MODULES and t != m and not m.startswith(t + "."):
                    edges[m].add(t)
            if target == "bayescale" and m != "bayescale":
                edges[m].add("bayescale")
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_module_belongs_to_a_stage():
    missing = sorted(m for m in MODULES if unit_of(m) not in RANK)
    assert not missing, f"modules in no declared stage (add their unit to STAGES): {missing}"
    unused = sorted(u for u in RANK if not any(unit_of(m) == u for m in MODULES))
    assert not unused, f"declared units with no module: {unused}"


def test_imports_go_only_to_earlier_stages():
    bad = []
    for m, found in IMPORTS.items():
        src = unit_of(m)
        for target, name, line in found:
            dst = unit_of(target)
            if dst == src:
                continue
            if RANK[dst] >= RANK[src] and not late(m, target):
                what = f"{target}.{name}" if name else target
                bad.append(f"{m}:{line} imports {what} ({dst} is not before {src})")
    assert not bad, "imports against the data flow:\n" + "\n".join(bad)


def test_no_import_cycle_between_units():
    edges: dict[str, set[str]] = defaultdict(set)
    for m, targets in module_edges().items():
        edges[unit_of(m)] |= {unit_of(t) for t in targets if unit_of(t) != unit_of(m)}
    assert find_cycle(edges) is None, f"import cycle between units: {find_cycle(edges)}"


def test_no_import_cycle_between_modules():
    cycle = find_cycle(module_edges())
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle or [])


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_crosses_a_unit():
    bad = []
    for m, found in IMPORTS.items():
        for target, name, line in found:
            if unit_of(target) == unit_of(m):
                continue
            private_module = any(_private(p) for p in target.split("."))
            if private_module or (name is not None and _private(name)):
                what = f"{target}.{name}" if name else target
                bad.append(f"{m}:{line} imports private {what}")
    assert not bad, "private names imported across units:\n" + "\n".join(bad)


def _private_definitions() -> dict[str, set[str]]:
    """Private function / method name -> units that define one of that name."""
    defined: dict[str, set[str]] = defaultdict(set)
    for m, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _private(node.name):
                defined[node.name].add(unit_of(m))
    return defined


def test_no_private_function_of_another_unit_is_called():
    defined = _private_definitions()
    bad = []
    for m, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)
                    and not node.attr.endswith("_")):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            owners = defined.get(node.attr, set())
            if owners and unit_of(m) not in owners:
                bad.append(f"{m}:{node.lineno} uses .{node.attr} of {sorted(owners)}")
    assert not bad, "private functions reached into across units:\n" + "\n".join(bad)


def test_public_api_resolves():
    """Every name bayescale exports resolves (the lazy table points at the moved modules)."""
    import bayescale as bs

    missing = [name for name in bs.__all__ if getattr(bs, name, None) is None]
    assert not missing
