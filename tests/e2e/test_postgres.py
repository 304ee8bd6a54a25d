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


def test_two_replicas_on_one_database_push_work_to_each_others_agents(request, fleetrun_bin, pg_database):
    """A command sent to replica A reaches an agent long-polling replica B at once (LISTEN/NOTIFY), not at
    B's next poll: the poll wait is 25 s, and the results are asserted well before that."""
    import time

    h, a, b = _two_replicas(request, fleetrun_bin, pg_database, "replicas", poll_wait_seconds=25)
    on_a = a.start_agent("on-a")
    on_b = b.start_agent("on-b")
    time.sleep(1)  # both agents are now inside a 25 s long poll

    for sender, agent in ((a, on_b), (b, on_a)):
        started = time.monotonic()
        sent = sender.send_shell("echo pushed", instance_ids=[agent.instance_id])
        inv = sender.wait_invocation(sent["CommandId"], agent.instance_id, timeout=10)
        assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", "pushed\n"), inv
        assert time.monotonic() - started < 10
        # The other replica sees the same command and output.
        other = b if sender is a else a
        assert other.get_invocation(sent["CommandId"], agent.instance_id)["StandardOutputContent"] == "pushed\n"


def _two_replicas(request, fleetrun_bin, pg_database, label, poll_wait_seconds=20, extra_config="", a_config=""):
    """Replicas A and B on one database and one object store; B uses A's admin key and activation. `a_config` is
    added to A's configuration only."""
    import shutil

    from e2e_support import ServerCluster

    h = _harness(request, fleetrun_bin, label)
    config = h.path("fleetrun.toml")
    config.write_text(f"poll_wait_seconds = {poll_wait_seconds}\n{extra_config}")
    shared = ["--database-url", pg_database, "--object-store-url", f"file://{h.path('objects')}", "--config",
              str(config)]
    a = ServerCluster(h)
    a.extra_args = shared
    if a_config:
        own = h.path("fleetrun-a.toml")
        own.write_text(config.read_text() + a_config)
        a.extra_args = [*shared[:-1], str(own)]
    a.start()
    b = ServerCluster(h)
    b.data_dir = h.path("server-b")
    b.data_dir.mkdir()
    shutil.copy(a.data_dir / "admin-credentials", b.data_dir / "admin-credentials")
    # Every replica needs the same master keys (docs/DEPLOYMENT.md); a replica with other keys refuses to start.
    shutil.copy(a.data_dir / "master-keys.json", b.data_dir / "master-keys.json")
    b.extra_args = shared
    b.activation_id, b.activation_code = a.activation_id, a.activation_code
    b.start()
    return h, a, b


def test_replica_killed_mid_fanout_loses_nothing_and_runs_nothing_twice(request, fleetrun_bin, pg_database):
    """Ten agents spread over replicas A and B (each given both URLs); five commands to all ten with
    MaxConcurrency 2, sent to A; A is killed with SIGKILL mid-rollout. Every one of the 50 invocations ends in
    a final status that is true (Success and ran once, or Failed because its delivery died with A and it never
    ran), none runs twice, and rate control held across replicas."""
    import signal
    import time

    from e2e_support import INVOCATION_TERMINAL

    h, a, b = _two_replicas(request, fleetrun_bin, pg_database, "failover")
    runs = h.path("runs")
    runs.mkdir()
    specs = []
    for i in range(10):
        order = f"{a.url},{b.url}" if i % 2 == 0 else f"{b.url},{a.url}"
        specs.append(dict(name=f"n{i}", server=order))
    agents = a.start_agents(specs)
    ids = [agent.instance_id for agent in agents]
    script = [f'echo "$(date +%s.%N) start" >> {runs}/$SSM_COMMAND_ID.$AWS_SSM_INSTANCE_ID', "sleep 0.4",
              f'echo "$(date +%s.%N) end" >> {runs}/$SSM_COMMAND_ID.$AWS_SSM_INSTANCE_ID']
    commands = [a.send_shell(script, instance_ids=ids, MaxConcurrency="2", MaxErrors="100%")["CommandId"]
                for _ in range(5)]
    time.sleep(1.0)
    a.stop(signal.SIGKILL)

    for command_id in commands:
        b.wait_command(command_id, timeout=60)
        for inv in b.invocations(command_id):
            assert inv["Status"] in INVOCATION_TERMINAL, inv
            ran = runs / f"{command_id}.{inv['InstanceId']}"
            lines = ran.read_text().splitlines() if ran.exists() else []
            if inv["Status"] == "Success":
                assert [l.split()[1] for l in lines] == ["start", "end"], f"ran {len(lines) // 2} times: {inv}"
            else:
                detail = b.get_invocation(command_id, inv["InstanceId"])
                assert lines == [], f"a run that happened is reported {inv['Status']}: {detail}"
                assert "does not have this invocation" in detail["StandardErrorContent"], detail
        # Rate control held across the replicas: never more than 2 of this command's scripts at once.
        spans = []
        for f in runs.glob(f"{command_id}.*"):
            stamps = [float(l.split()[0]) for l in f.read_text().splitlines()]
            if len(stamps) == 2:
                spans.append((stamps[0], stamps[1]))
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
        running = peak = 0
        for _, delta in events:
            running += delta
            peak = max(peak, running)
        assert peak <= 2, f"{peak} scripts of {command_id} ran at once"


def _lease_holder_pid(pg_database: str, name: str) -> int:
    cp = subprocess.run(["psql", pg_database, "-At", "-c", f"SELECT holder FROM leases WHERE name = '{name}'"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return int(cp.stdout.strip().split(":")[1])


def test_timers_move_to_a_surviving_replica_when_the_lease_holder_dies(request, fleetrun_bin, pg_database):
    """One replica at a time runs the deadline timer, under a lease (3 s here). A command whose node never
    polls is sent to the lease holder, which is then killed with SIGKILL: the survivor takes the lease over
    and the invocation still ends Delivery Timed Out at its deadline."""
    import signal
    import time

    from e2e_support import wait_for

    h, a, b = _two_replicas(request, fleetrun_bin, pg_database, "lease", extra_config="lease_seconds = 3\n")
    silent = a.start_agent("silent")
    silent.kill()
    holder_pid = wait_for(lambda: _lease_holder_pid(pg_database, "timers"), timeout=10, what="a timers lease")
    holder, survivor = (a, b) if holder_pid == a.server_proc.popen.pid else (b, a)
    assert holder_pid == holder.server_proc.popen.pid, "the lease is held by one of the two replicas"

    sent = holder.send_shell("echo never", instance_ids=[silent.instance_id], TimeoutSeconds=30)
    started = time.monotonic()
    holder.stop(signal.SIGKILL)
    wait_for(lambda: _lease_holder_pid(pg_database, "timers") == survivor.server_proc.popen.pid, timeout=10,
             what="the survivor to take the timers lease")
    inv = survivor.wait_invocation(sent["CommandId"], silent.instance_id, timeout=60)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Delivery Timed Out"), inv
    assert time.monotonic() - started < 50, "the deadline was enforced soon after it passed"


RUNBOOK = """\
schemaVersion: '0.3'
mainSteps:
  - name: where
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        import os
        def handler(events, context):
            return {"pid": os.getppid()}
    outputs:
      - {Name: Pid, Selector: $.Payload.pid, Type: Integer}
"""


def test_runbooks_run_on_the_replicas_that_drive_them(request, fleetrun_bin, pg_database):
    """Replica A serves the API with `automation_runners = 0`; replica B drives the runbook started on A."""
    import time

    h, a, b = _two_replicas(request, fleetrun_bin, pg_database, "runners", a_config="automation_runners = 0\n")
    a.ssm.create_document(Name="Where", Content=RUNBOOK, DocumentType="Automation", DocumentFormat="YAML")
    execution_id = a.ssm.start_automation_execution(DocumentName="Where")["AutomationExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        execution = a.ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if execution["AutomationExecutionStatus"] not in ("Pending", "InProgress"):
            break
        assert time.monotonic() < deadline, execution
        time.sleep(0.2)
    assert execution["AutomationExecutionStatus"] == "Success", execution
    assert execution["StepExecutions"][0]["Outputs"]["Pid"] == [str(b.server_proc.pid)], "B ran the script"
    assert "automation_runners is 0" in a.server_proc.log_text()
