"""The installed package layout: every source folder is shipped under `babelclip.*`, nothing at the top level."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDER_OF = {"babelclip.modeling": "modeling", "babelclip.trainers": "trainers", "babelclip.model_cards": "model_cards"}


def _declared_packages() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def _python_package_folders() -> set[str]:
    """Every folder under the mapped top-level folders that holds Python files, as a dotted babelclip name."""
    names = set()
    for package, folder in FOLDER_OF.items():
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.parent.relative_to(ROOT / folder)
            if "__pycache__" not in relative.parts:
                names.add(".".join([package, *relative.parts]))
    return names


def test_every_source_folder_is_declared_in_pyproject():
    missing = _python_package_folders() - set(_declared_packages())
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


@pytest.mark.parametrize("package", _declared_packages())
def test_declared_packages_import_under_the_babelclip_namespace(package):
    assert importlib.util.find_spec(package) is not None


@pytest.mark.parametrize("top_level", ["modeling", "trainers", "model_cards"])
def test_no_top_level_module_is_installed(top_level, monkeypatch):
    # The repository root is on sys.path when pytest runs from it; look only at installed locations.
    import sys

    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT])
    assert importlib.util.find_spec(top_level) is None


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    test_command = ci_lines[-1].strip()
    assert test_command.startswith("python -m pytest")
    assert f"\n{test_command}\n" in readme
