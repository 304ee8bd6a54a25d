"""The PostgreSQL engine end to end: `fleetrun dev --database-url postgres://…` on a database of its own runs
the quickstart flow with the aws CLI, keeps its state across a restart, and `fleetrun keys` works on the same
database. PostgreSQL must be reachable at FLEETRUN_TEST_PG_URL (default: 127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from conftest import _harness
from e2e_support import DevCluster

ADMIN_URL = os.environ.get("FLEETRUN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _psql(sql: str) -> None:
    cp = subprocess.run(["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 0, f"psql failed ({ADMIN_URL}): {cp.stderr}"


@pytest.fixture
def pg_database():
    name = f"fleetrun_e2e_{uuid.uuid4().hex[:12]}"
    _psql(f"CREATE DATABASE {name}")
    yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_dev_on_postgres_runs_commands_and_keeps_state(request, fleetrun_bin, pg_database):
    h = _harness(request, fleetrun_bin, "pg")
    dev = DevCluster(h)
    dev.extra_args = ["--database-url", pg_database]
    dev.start()
    out = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids",
                  dev.dev_instance_id, "--parameters", "commands=echo hello from postgres")
    command_id = out["Command"]["CommandId"]
    inv = dev.wait_invocation(command_id, dev.dev_instance_id)
    assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", "hello from postgres\n"), inv

    # State lives in PostgreSQL: a restarted dev (same data dir for its agent and keys) still knows the command.
    dev.stop()
    dev.start()
    assert dev.get_command(command_id)["Status"] == "Success"

    created = subprocess.run([str(fleetrun_bin), "keys", "create", "--database-url", pg_database,
                              "--data-dir", str(h.path("nowhere"))], capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
    listed = subprocess.run([str(fleetrun_bin), "keys", "list", "--database-url", pg_database],
                            capture_output=True, text=True, timeout=60)
    assert key_id in listed.stdout, listed.stdout
