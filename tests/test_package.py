"""A package people can pick up: the version in one place and in the CHANGELOG, a licence, type information."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import cnnlab

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_lives_in_one_place_and_the_changelog_names_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnlab.__version__"}
    assert version("cnnlab") == cnnlab.__version__  # the installed metadata comes from the same line
    first = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert first and first.group(1) == cnnlab.__version__


def test_licence_type_information_and_the_public_api_typed():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "src" / "cnnlab" / "py.typed").is_file()
    assert cnnlab.load.__annotations__["return"] == "Predictor"
    assert cnnlab.open_run.__annotations__["return"] == "Run"
