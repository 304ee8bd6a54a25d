"""PostgreSQL restarted during a run: the test starts a throw-away cluster of its own with pg_ctl (so it can
stop it), runs `fleetrun server` and an agent on it, and restarts the database while a script runs. The
server recovers without being restarted, and the result is not lost."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import _harness
from e2e_support import ServerCluster, wait_file


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"PostgreSQL's {name} is not installed (apt-get install postgresql)"
    return found[-1]


def _as_postgres(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["su", "postgres", "-c", " ".join(command)]
    cp = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"{command} failed: {cp.stdout}\n{cp.stderr}"


class Cluster:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="fleetrun-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        _as_postgres([_bin("initdb"), "-D", f"{self.root}/data", "-A", "trust", "-U", "postgres", "--no-sync"])

    def start(self) -> None:
        options = f"'-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off'"
        _as_postgres([_bin("pg_ctl"), "-D", f"{self.root}/data", "-l", f"{self.root}/pg.log", "-o", options, "-w", "start"])

    def stop(self) -> None:
        _as_postgres([_bin("pg_ctl"), "-D", f"{self.root}/data", "-m", "fast", "-w", "stop"])

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def own_postgres():
    cluster = Cluster()
    cluster.start()
    yield cluster
    try:
        cluster.stop()
    except AssertionError:
        pass
    shutil.rmtree(cluster.root, ignore_errors=True)


def test_postgres_restarted_mid_run_loses_no_result(request, fleetrun_bin, own_postgres):
    h = _harness(request, fleetrun_bin, "pgrestart")
    c = ServerCluster(h)
    c.extra_args = ["--database-url", own_postgres.url]
    c.start()
    agent = c.start_agent("steady")
    started, finished = h.path("started"), h.path("finished")
    sent = c.send_shell([f"touch {started}", "sleep 2", "echo survived", f"touch {finished}"],
                        instance_ids=[agent.instance_id])
    wait_file(started, 20, "the script to start", c.diag, nonempty=False)

    own_postgres.stop()
    wait_file(finished, 20, "the script to finish while PostgreSQL is down", c.diag, nonempty=False)
    own_postgres.start()

    inv = c.wait_invocation(sent["CommandId"], agent.instance_id, timeout=60)
    assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", "survived\n"), inv
    assert c.server_proc.alive(), "the server must recover without a restart"
    again = c.send_shell("echo after", instance_ids=[agent.instance_id])
    assert c.wait_invocation(again["CommandId"], agent.instance_id, timeout=30)["StandardOutputContent"] == "after\n"
