"""Binder cannot be reached from here, so we test what can be: the files parse, agree with
pyproject.toml, and the install they describe works in a fresh virtual environment."""

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirement_lines(path):
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def _name(requirement):
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()


def _project_dependencies():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_binder_requirements_pin_exact_versions_inside_pyproject_ranges():
    """Every library the tutorial needs is pinned exactly, within pyproject.toml's range; JupyterLab and
    ipywidgets come from repo2docker's own environment and are not listed, so pip never replaces them."""
    from packaging.requirements import Requirement

    pins = {}
    for line in _requirement_lines(ROOT / "binder" / "requirements.txt"):
        requirement = Requirement(line)
        [specifier] = requirement.specifier
        assert specifier.operator == "==", f"binder/requirements.txt should pin an exact version: {line}"
        pins[requirement.name.lower().replace("tensorflow-cpu", "tensorflow")] = specifier.version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["lab"]]
    for requirement in needed:
        name = requirement.name.lower()
        if name in ("jupyterlab", "ipywidgets"):
            assert name not in pins, f"{name} is repo2docker's: listing it would fight its JupyterLab"
            continue
        assert name in pins, f"binder/requirements.txt should pin {name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside pyproject's {requirement}"


def test_environment_yml_parses_and_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert "-e ." in pip_section
    assert {_name(r) for r in pip_section if r != "-e ."} >= {_name(r) for r in _project_dependencies()} | {"jupyterlab"}
    text = (ROOT / "environment.yml").read_text()
    for line in text.splitlines():  # every pin carries a comment that explains it
        if line.strip().startswith("- ") and ("=" in line or "-e ." in line) and "python=" not in line and "pip" != line.strip()[2:]:
            assert "#" in line, f"environment.yml pin without a reason: {line.strip()}"


def test_runtime_and_post_build_are_valid():
    assert re.fullmatch(r"python-3\.\d+", (ROOT / "binder" / "runtime.txt").read_text().strip())
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    subprocess.run(["bash", "-n", str(post_build)], check=True)


def test_binder_install_works_in_a_fresh_venv(binder_install):
    """Do what repo2docker does, in a new venv: requirements, then postBuild, then import and launch.

    The install itself runs in the background from the start of the session (`binder_install.py`)."""
    assert binder_install["jupyter_after"] == binder_install["jupyter_before"], \
        "installing binder/requirements.txt changed a package of repo2docker's Jupyter environment"
    versions = binder_install["versions"]
    assert "'tensorflow': '2.21" in versions and "'keras': '3.15" in versions  # the pins above
    assert binder_install["lab_version"].startswith("4.")
    assert binder_install["has_command"]
    overrides = json.loads((Path(binder_install["app_dir"]) / "settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/notebook-extension:tracker"]["kernelShutdown"] is True
