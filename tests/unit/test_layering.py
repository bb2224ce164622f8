"""The layering of docs/ARCHITECTURE.md, checked on every import of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import seganypet_node

PACKAGE = Path(seganypet_node.__file__).parent

LAYERS = {
    0: {"errors", "hashing", "organs", "settings_values", "settings_callers", "settings_sections",
        "logs", "polling",
        "paths", "__init__"},
    1: {"config", "bootstrap"},
    2: {"imaging"},
    3: {"model"},
    4: {"atlas"},
    5: {"plausibility", "measure", "lesions"},
    6: {"pipeline"},
    7: {"outputs"},
    8: {"db"},
    9: {"dicom"},
    10: {"phantom"},
    11: {"worker", "worker_process", "offline", "app", "review", "training", "evaluation",
         "maintenance"},
    12: {"commands", "cli", "__main__"},
}
LAYER_OF = {part: layer for layer, parts in LAYERS.items() for part in parts}



def _part(module: str) -> str | None:
    """The top-level part of ``seganypet_node`` a dotted module name is in."""
    names = module.split(".")
    if names[0] != "seganypet_node":
        return None
    return names[1] if len(names) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def edges() -> set[tuple[str, str]]:
    """(importer, imported) top-level parts, for every import anywhere in the package."""
    result = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).parts
        importer = relative[0].removesuffix(".py")
        for module in _imports(path):
            imported = _part(module)
            if imported is not None and imported != importer:
                result.add((importer, imported))
    return result


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert parts - set(LAYER_OF) == set()


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = {(a, b) for a, b in edges() if LAYER_OF[a] < LAYER_OF[b]}
    assert upward == set(), "upward imports; see docs/ARCHITECTURE.md"


def test_the_checker_sees_a_lazy_upward_import(tmp_path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from seganypet_node.cli import main\n    return main\n")
    assert "seganypet_node.cli" in _imports(path)


def test_the_network_knows_nothing_of_the_runtime_around_it() -> None:
    """``model/modeling/`` (segment-anything's ``modeling``) imports only itself."""
    outside = {(path.name, module) for path in (PACKAGE / "model" / "modeling").glob("*.py")
               for module in _imports(path)
               if module.startswith("seganypet_node")
               and not module.startswith("seganypet_node.model.modeling")}
    assert outside == set()
