"""The local stack on embedded defaults: S3 server, Dagster webserver and daemon, the API.

`python -m devstack` (what `make up` runs) starts everything and prints where to look;
the end-to-end tests start the same stack on free ports.

The S3 server is nanio: it keeps objects as files under `home/s3` (they survive a restart)
and refuses any request not signed with the stack's own key, made once per home and kept
in `home/s3-credentials.json`, readable by its owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BACKGROUND_NICENESS = 10
# Exports are background work: Dagster, and every run it spawns (runs inherit the niceness
# of their code server), yield the CPU to the API on a shared machine.
BACKGROUND = ["nice", "-n", str(BACKGROUND_NICENESS)]
API_WORKERS = 2  # one per core: the API stays responsive while exports run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Ports:
    s3: int = 9100
    dagster: int = 3000
    api: int = 8000

    @classmethod
    def free(cls) -> Ports:
        return cls(s3=free_port(), dagster=free_port(), api=free_port())


@dataclass
class Stack:
    """Processes of one local stack, each in its own process group under `home`."""

    home: Path
    replica: Path
    ports: Ports = field(default_factory=Ports)
    database_url: str | None = None
    bucket: str = "crm-reports"
    dagster_config: Path = REPO / "dagster.yaml"  # copied into the stack's DAGSTER_HOME
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def s3_credentials(self) -> tuple[str, str]:
        """The access key and secret of this home's S3 server, made on first use."""
        path = self.home / "s3-credentials.json"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            made = {"access_key_id": f"local-{secrets.token_hex(4)}"}
            made["secret"] = secrets.token_hex(24)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                json.dump(made, file)
        kept = json.loads(path.read_text())
        return kept["access_key_id"], kept["secret"]

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dagster}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "REPORTS_DATABASE_URL": self.database_url or f"sqlite:///{self.home / 'jobs.db'}",
                "REPORTS_REPLICA_ROOT": str(self.replica),
                "REPORTS_S3_ENDPOINT_URL": self.s3_url,
                "REPORTS_S3_BUCKET": self.bucket,
                "REPORTS_DAGSTER_URL": self.dagster_url,
                "REPORTS_PUBLIC_API_URL": self.api_url,
                "AWS_ACCESS_KEY_ID": self.s3_credentials[0],
                "AWS_SECRET_ACCESS_KEY": self.s3_credentials[1],
                "AWS_DEFAULT_REGION": "us-east-1",
                "DAGSTER_HOME": str(self.dagster_home),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _start(self, name: str, argv: list[str]) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own argv
                argv,
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def s3_client(self, **options: Any) -> Any:
        """A client of the stack's S3 server, signing with its key (`options`: those of
        `make_s3_client`, such as attempts and timeout_s)."""
        from reports_pipeline.storage import make_s3_client

        key, secret = self.s3_credentials
        return make_s3_client(
            endpoint_url=self.s3_url,
            region="us-east-1",
            access_key_id=key,
            secret_access_key=secret,
            **options,
        )

    def start_s3(self) -> None:
        refuse_taken_port(self.ports.s3, "S3 server")
        key, secret = self.s3_credentials
        self.extra_env.update({"NANIO_ACCESS_KEY": key, "NANIO_SECRET_KEY": secret})
        self._start(
            "s3",
            [
                str(BIN / "nanio"),
                "serve",
                "--data-dir",
                str(self.home / "s3"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports.s3),
                "--no-access-log",
            ],
        )
        for name in ("NANIO_ACCESS_KEY", "NANIO_SECRET_KEY"):  # the server's only
            self.extra_env.pop(name)
        wait_http(f"{self.s3_url}/", "S3 server", self)
        from reports_pipeline.storage import ReportStore

        ReportStore(self.s3_client(), self.bucket).ensure_bucket()

    def start_dagster(self) -> None:
        refuse_taken_port(self.ports.dagster, "Dagster webserver")
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.dagster_config, self.dagster_home / "dagster.yaml")
        _create_dagster_storage(self.dagster_home, self.env())
        workspace = str(REPO / "workspace.yaml")
        self._start(
            "dagster-webserver",
            [
                *BACKGROUND,
                str(BIN / "dagster-webserver"),
                "-w",
                workspace,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports.dagster),
            ],
        )
        self.start_daemon()
        wait_http(f"{self.dagster_url}/server_info", "Dagster webserver", self, timeout_s=90)

    def start_daemon(self) -> None:
        """The daemon alone (queued runs, sensors); the webserver may keep running."""
        workspace = str(REPO / "workspace.yaml")
        self._start(
            "dagster-daemon",
            [*BACKGROUND, str(BIN / "dagster-daemon"), "run", "-w", workspace],
        )

    def stop_dagster(self) -> None:
        self.stop_process("dagster-daemon")
        self.stop_process("dagster-webserver")

    def start_api(self) -> None:
        refuse_taken_port(self.ports.api, "API")
        self._start(
            "api",
            [
                str(BIN / "uvicorn"),
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports.api),
                "--no-access-log",
                # h11 refuses a request head over 64 KiB (the longest valid token is ~25
                # KiB); httptools has no limit of its own.
                "--http",
                "h11",
                "--h11-max-incomplete-event-size",
                str(64 * 1024),
                "--workers",
                str(API_WORKERS),
            ],
        )
        wait_http(f"{self.api_url}/healthz", "API", self)

    def start(self) -> None:
        self.start_s3()
        self.migrate_job_table()
        self.start_dagster()
        self.start_api()

    def migrate_job_table(self) -> None:
        """The job table exists before Dagster's sensors first read it (the API migrates
        again on start, finding nothing to do)."""
        from reports_pipeline.job_table import migrate_for

        env = self.env()
        migrate_for(env["REPORTS_DATABASE_URL"], env.get("REPORTS_DATABASE_OWNER_URL"))

    def stop_process(self, name: str, timeout_s: float = 15) -> None:
        """Stop the process's whole group, even when its leader has died already: its
        workers (the API's, a daemon's run worker) would otherwise live on, orphaned."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        for signal_number in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal_number)
            if _group_gone(process, timeout_s):
                return

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_process(name)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {self.home / 'logs' / name}.log"
                )


def _create_dagster_storage(home: Path, env: dict[str, str]) -> None:
    """Create the instance's storage once, before the webserver and the daemon start: each
    would otherwise create it on a fresh home, and they race ("table jobs already exists").
    In a process of its own, with the stack's environment (the instance file may read it)."""
    script = (
        "import sys\n"
        "from dagster import DagsterInstance\n"
        "with DagsterInstance.from_config(sys.argv[1]) as instance:\n"
        "    instance.get_runs(limit=1)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(home)], env=env, check=True)  # noqa: S603


def _group_gone(leader: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Whether every process of the leader's group has ended within `timeout_s` (the
    leader reaped; the others, orphans reaped by init, no longer signalable)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leader.poll()
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def refuse_taken_port(port: int, what: str) -> None:
    """A start on a port something already answers on would report that other process's
    health as its own (an orphaned API worker, a stack left running)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(
                f"{what}: port {port} already answers; stop what listens there "
                "(or choose another port) and start again"
            )


def wait_http(url: str, what: str, stack: Stack, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{what} did not answer at {url} within {timeout_s:.0f}s")
