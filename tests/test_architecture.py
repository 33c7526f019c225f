"""The floor plan holds: no import circle (lazy imports included), no import from a lower layer into a higher one,
`modeling/` self-contained, and every loss default written once (the argument defaults equal the losses' own)."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from babelclip.trainers.losses import LOSS_REGISTRY
from babelclip.trainers.training.settings import DistillationSettings
from tests.import_graph import cycles, import_graph, module_files

# Lowest first. A module may import its own layer (without a circle) and the layers below, never one above.
LAYERS = (
    ("babelclip.modeling",),
    ("babelclip.trainers.common",),
    ("babelclip.trainers.data", "babelclip.trainers.tokenization", "babelclip.trainers.pretrained"),
    ("babelclip.trainers.losses",),
    ("babelclip.trainers.evaluation", "babelclip.trainers.checkpoints"),
    ("babelclip.model_cards",),
    ("babelclip.trainers.training",),
    ("babelclip.trainers.search", "babelclip.trainers.adaptation"),
    ("babelclip.trainers.recipes",),
    ("babelclip.trainers.cli",),
    ("babelclip.trainers",),  # the package facade: its lazy exports may name anything
)


def layer_of(module: str) -> int:
    matches = [
        (len(prefix), rank)
        for rank, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer: add its subpackage to LAYERS"
    return max(matches)[1]


def test_the_import_graph_has_no_circle():
    assert cycles(import_graph()) == []


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_graph_sees_lazy_and_function_level_imports():
    # Guards for the two tests above: edges that only a lazy-export table or an import inside a function makes.
    graph = import_graph()
    assert "babelclip.trainers.training.trainer" in graph["babelclip.trainers"]  # the facade's lazy table
    assert "babelclip.trainers.data.bitext" in graph["babelclip.trainers.adaptation"]


def test_modeling_imports_only_torch_transformers_the_standard_library_and_siblings():
    allowed_roots = {"torch", "transformers", "__future__"} | set(__import__("sys").stdlib_module_names)
    for module, path in module_files().items():
        if not module.startswith("babelclip.modeling"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{path.name}: only single-dot sibling imports ship in a checkpoint"
            elif isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] in allowed_roots, f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed_roots, f"{path.name} imports {alias.name}"


def _settings_defaults() -> dict[str, object]:
    defaults = {}
    for field in dataclasses.fields(DistillationSettings):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
    return defaults


@pytest.mark.parametrize("name", list(LOSS_REGISTRY))
def test_every_argument_default_equals_the_loss_default(name):
    loss_class = LOSS_REGISTRY[name]
    signature = inspect.signature(loss_class.__init__).parameters
    defaults = _settings_defaults()
    for keyword, field in loss_class.argument_fields.items():
        assert keyword in signature, f"{name}.argument_fields names {keyword!r}, not a constructor keyword"
        assert field in defaults, f"{name}.argument_fields names {field!r}, not a DistillationSettings field"
        assert defaults[field] == signature[keyword].default, (name, keyword, field)


def test_the_pure_ot_function_has_the_loss_class_defaults():
    from babelclip.trainers.losses import OptimalTransportLoss, token_ot_distances

    function = inspect.signature(token_ot_distances).parameters
    for keyword, parameter in inspect.signature(OptimalTransportLoss.__init__).parameters.items():
        if keyword != "self":
            assert function[keyword].default == parameter.default, keyword
