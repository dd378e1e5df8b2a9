"""The local stack's own process handling (devstack): a stop ends a process's whole group
even after its leader died, and a start refuses a port something else answers on, so a
restart never reports an orphan's health as its own."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from devstack import Ports, Stack


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stop_ends_the_group_when_its_leader_has_died(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path, replica=tmp_path)
    child = tmp_path / "child.pid"
    stack._start("probe", ["sh", "-c", f"sleep 300 & echo $! > {child}"])
    stack.processes["probe"].wait(timeout=10)  # the leader has exited...
    orphan = int(child.read_text())
    assert alive(orphan)  # ...and left its child running in the group
    stack.stop_process("probe")
    assert not alive(orphan)


def test_a_killed_api_master_leaves_workers_that_stop_and_restart_clear(
    tmp_path: Path, replica: Path
) -> None:
    stack = Stack(home=tmp_path, replica=replica, ports=Ports.free())
    stack.start_api()
    try:
        master = stack.processes["api"]
        master.send_signal(signal.SIGKILL)
        master.wait(timeout=10)
        # The orphaned workers still answer on the port:
        assert httpx.get(f"{stack.api_url}/healthz", timeout=5).status_code == 200
        with pytest.raises(RuntimeError, match=f"port {stack.ports.api} already answers"):
            Stack(home=tmp_path / "second", replica=replica, ports=stack.ports).start_api()
        stack.processes["api"] = master  # as a restart does: stop what was started, then start
        stack.stop_process("api")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{stack.api_url}/healthz", timeout=5)
        stack.start_api()
        assert httpx.get(f"{stack.api_url}/healthz", timeout=5).status_code == 200
    finally:
        stack.stop()


def test_a_start_refuses_a_port_another_process_listens_on(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        stack = Stack(home=tmp_path, replica=tmp_path, ports=Ports(s3=taken, dagster=1, api=1))
        with pytest.raises(RuntimeError, match=f"S3 server: port {taken} already answers"):
            stack.start_s3()
        assert stack.processes == {}
