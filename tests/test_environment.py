"""The Remote Access environment: environment.yml, requirements-ra.txt and pyproject.toml agree."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from the PyPI names
CONDA_TO_PYPI = {"snakemake-minimal": "snakemake"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" in dep:
            name, version = dep.split("=", 1)
            pins[_norm(CONDA_TO_PYPI.get(name, name))] = version
    return pins


def pip_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-ra.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


def pyproject_deps() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    return {_norm(re.match(r'\s*"([A-Za-z0-9_.\-]+)', line).group(1))
            for line in block.splitlines() if line.strip().startswith('"')}


def test_every_pin_is_exact_and_the_same_in_conda_and_pip():
    conda, pip = conda_pins(), pip_pins()
    assert conda["python"].startswith("3.11")
    for name, version in pip.items():
        assert conda.get(name) == version, (name, version, conda.get(name))
    assert conda["pandas"] == "2.2.3" and conda["pyreadstat"] == "1.2.8"


def test_every_dependency_is_pinned_for_remote_access():
    conda = conda_pins()
    missing = sorted(d for d in pyproject_deps() if d not in conda)
    assert not missing, f"pyproject dependencies without a pin in environment.yml: {missing}"


def test_package_installs_without_fetching_dependencies():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "--no-deps" in pip_section and any(p.startswith("-e") for p in pip_section)
