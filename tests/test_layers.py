"""The layers run one way: the API and the pipeline share `reports_pipeline.contract`; the
pipeline never imports the API, and the API process never loads Dagster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # needs no service: make test-fast

REPO = Path(__file__).resolve().parents[1]


def test_the_api_process_does_not_load_dagster() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "import sys, api.main; print(sorted(sys.modules))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = {name.strip("'") for name in shown.strip("[]\n").split(", ")}
    assert "api.main" in loaded
    assert not {n for n in loaded if n.split(".")[0] in {"dagster", "dagster_graphql"}}
    assert "reports_pipeline.export" not in loaded


def test_the_pipeline_never_imports_the_api() -> None:
    importing = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in (REPO / "reports_pipeline").rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("from api", "import api"))
    ]
    assert importing == []
