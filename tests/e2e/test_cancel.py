"""CancelCommand: a running script and its children are killed within the agent's kill grace; partial cancel;
unknown command ids."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from e2e_support import error_code, pid_alive, read_pid, wait_file, wait_pids_gone

GRACE = 2  # --kill-grace-seconds of this module's agents


@pytest.fixture(scope="module")
def cancel_agents(dev):
    return dev.start_agents([dict(name="c1", kill_grace=GRACE), dict(name="c2", kill_grace=GRACE)])


def _long_script(dev, tag: str, ignore_term: bool = False) -> tuple[list[str], callable]:
    """A script that writes its pid and starts a `sleep 300` child, then sleeps 300 s itself."""
    base = dev.h.path(f"{tag}-$AWS_SSM_INSTANCE_ID")
    lines = []
    if ignore_term:
        # SIGTERM is ignored by the script and, inherited, by its child: only the SIGKILL after the grace works.
        lines.append("trap '' TERM")
    lines += [f"sleep 300 & echo $! > {base}.child", f"echo $$ > {base}.pid", "sleep 300"]

    def files(instance_id: str):
        b = dev.h.path(f"{tag}-{instance_id}")
        return b.with_name(b.name + ".pid"), b.with_name(b.name + ".child")

    return lines, files


def _wait_running(dev, files, instance_id):
    pid_file, child_file = files(instance_id)
    wait_file(pid_file, 20, f"the long script to start on {instance_id}", dev.diag)
    wait_file(child_file, 5, f"the long script's child on {instance_id}", dev.diag)
    pids = [read_pid(pid_file), read_pid(child_file)]
    assert all(pid_alive(p) for p in pids)
    return pids


def test_cancel_running_command_kills_script_and_child_within_kill_grace(dev, cancel_agents):
    agent = cancel_agents[0]
    script, files = _long_script(dev, "cancel-all", ignore_term=True)
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--instance-ids", agent.instance_id, "--parameters", json.dumps({"commands": script}))
    command_id = sent["Command"]["CommandId"]
    pids = _wait_running(dev, files, agent.instance_id)
    inv = dev.wait_invocation(command_id, agent.instance_id, statuses={"InProgress"}, timeout=10)
    assert inv["StatusDetails"] == "In Progress", inv

    cancelled_at = time.monotonic()
    assert dev.aws("ssm", "cancel-command", "--command-id", command_id) == {}
    took = wait_pids_gone(pids, GRACE + 6, "the cancelled script and its child to be gone", dev.diag)
    assert took <= GRACE + 4, f"processes survived {took:.1f}s after cancel (kill grace {GRACE}s)"
    inv = dev.wait_invocation(command_id, agent.instance_id, timeout=15)
    assert (inv["Status"], inv["StatusDetails"]) == ("Cancelled", "Cancelled"), inv
    command = dev.wait_command(command_id, timeout=10)
    assert (command["Status"], command["StatusDetails"]) == ("Cancelled", "Cancelled"), command
    assert time.monotonic() - cancelled_at < 20


def test_cancel_some_instances_only_leaves_the_others_running(dev, cancel_agents):
    a, b = cancel_agents
    script, files = _long_script(dev, "cancel-some")
    sent = dev.send_shell(script, instance_ids=[a.instance_id, b.instance_id])
    command_id = sent["CommandId"]
    pids_a = _wait_running(dev, files, a.instance_id)
    pids_b = _wait_running(dev, files, b.instance_id)

    dev.aws("ssm", "cancel-command", "--command-id", command_id, "--instance-ids", a.instance_id)
    inv_a = dev.wait_invocation(command_id, a.instance_id, timeout=GRACE + 10)
    assert (inv_a["Status"], inv_a["StatusDetails"]) == ("Cancelled", "Cancelled"), inv_a
    wait_pids_gone(pids_a, GRACE + 4, "the cancelled node's processes to be gone", dev.diag)
    inv_b = dev.get_invocation(command_id, b.instance_id)
    assert inv_b["Status"] == "InProgress", inv_b
    assert all(pid_alive(p) for p in pids_b), "the node that was not cancelled lost its script"
    # Checked at the end so that the rest of the scenario still runs when this fails.
    mid_status = dev.get_command(command_id)

    dev.ssm.cancel_command(CommandId=command_id)
    inv_b = dev.wait_invocation(command_id, b.instance_id, timeout=GRACE + 10)
    assert inv_b["Status"] == "Cancelled", inv_b
    wait_pids_gone(pids_b, GRACE + 4, "the second node's processes to be gone", dev.diag)
    command = dev.wait_command(command_id, timeout=10)
    assert command["Status"] == "Cancelled", command
    assert (mid_status["Status"], mid_status["StatusDetails"]) == ("InProgress", "In Progress"), (
        "after cancelling one of two nodes (its cancel confirmed) while the other still runs, the command should "
        f"be InProgress, not {mid_status['Status']}/{mid_status['StatusDetails']}"
    )


def test_cancel_before_delivery_cancels_at_once_and_the_script_never_runs(dev):
    agent = dev.start_agent("c-offline", kill_grace=GRACE)
    agent.kill()  # registered but stopped: the invocation cannot be delivered yet
    marker = dev.h.path("c-offline-ran")
    sent = dev.send_shell(f"touch {marker}", instance_ids=[agent.instance_id])
    command_id = sent["CommandId"]
    assert dev.get_invocation(command_id, agent.instance_id)["Status"] == "Pending"
    dev.ssm.cancel_command(CommandId=command_id)
    inv = dev.wait_invocation(command_id, agent.instance_id, timeout=5)
    assert (inv["Status"], inv["StatusDetails"]) == ("Cancelled", "Cancelled"), inv
    assert dev.wait_command(command_id, timeout=5)["Status"] == "Cancelled"
    # When the agent returns it must not run the cancelled command; a later command proves it has polled.
    agent.start()
    probe = dev.send_shell("echo back", instance_ids=[agent.instance_id])
    assert dev.wait_invocation(probe["CommandId"], agent.instance_id)["Status"] == "Success"
    time.sleep(0.5)
    assert not marker.exists(), "a command cancelled before delivery ran anyway"


def test_cancel_while_the_agent_is_down_takes_effect_when_it_returns(dev):
    agent = dev.start_agent("c-away", kill_grace=GRACE)
    script, files = _long_script(dev, "cancel-away")
    sent = dev.send_shell(script, instance_ids=[agent.instance_id])
    command_id = sent["CommandId"]
    pids = _wait_running(dev, files, agent.instance_id)
    agent.kill()
    assert all(pid_alive(p) for p in pids), "the script must outlive its agent"
    dev.ssm.cancel_command(CommandId=command_id)
    agent.start()
    wait_pids_gone(pids, GRACE + 15, "the returning agent to kill the cancelled script", dev.diag)
    inv = dev.wait_invocation(command_id, agent.instance_id, timeout=15)
    assert (inv["Status"], inv["StatusDetails"]) == ("Cancelled", "Cancelled"), inv
    assert dev.wait_command(command_id, timeout=10)["Status"] == "Cancelled"


def test_cancel_unknown_command_id_is_invalid_command_id(dev):
    unknown = str(uuid.uuid4())
    r = dev.aws_error("ssm", "cancel-command", "--command-id", unknown)
    assert r.error_code == "InvalidCommandId", r.stderr
    with pytest.raises(ClientError) as e:
        dev.ssm.cancel_command(CommandId=unknown)
    assert error_code(e.value) == "InvalidCommandId"
