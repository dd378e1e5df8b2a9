"""The product installs as a user installs it: `pip install .` brings every runtime import,
and the versions installed are the lock file's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", re.MULTILINE)

# Every module of the three runtime packages, and the Dagster definitions built.
IMPORT_EVERYTHING = """
import importlib, pkgutil
import api, reports_pipeline, warehouse
for package in (api, reports_pipeline, warehouse):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
from reports_pipeline.definitions import defs
print(sorted(job.name for job in defs.resolve_all_job_defs()), api.__file__)
"""


def run(*command: str | Path, cwd: Path = REPO) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_wheel_alone_installs_and_loads_every_module(tmp_path: Path) -> None:
    source = tmp_path / "source"  # setuptools writes build/ beside the sources it builds
    for package in ("api", "reports_pipeline", "warehouse", "devstack", "bench"):
        shutil.copytree(REPO / package, source / package, ignore=CACHES)
    shutil.copy(REPO / "pyproject.toml", source)
    run(UV, "build", "--wheel", "--quiet", "-o", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    venv = tmp_path / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    # The runtime dependencies only (no extras), at the lock file's versions.
    run(
        UV, "pip", "install", "--quiet", "--python", python, wheel, "-c", REPO / "requirements.lock"
    )
    shown = run(python, "-c", IMPORT_EVERYTHING, cwd=tmp_path)
    assert "'export_report'" in shown
    assert str(venv) in shown  # the installed package, not this checkout


def test_the_lock_file_holds_every_pin_of_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]
    pins = {normal(m[1]): m[2] for m in (PIN.match(w) for w in wanted) if m}
    locked = {
        normal(name): version
        for name, version in PIN.findall((REPO / "requirements.lock").read_text())
    }
    assert {name: locked.get(name) for name in pins} == pins
