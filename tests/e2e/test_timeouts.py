"""Delivery timeout (SendCommand TimeoutSeconds, minimum 30 s) and execution timeout (the executionTimeout
document parameter).

Both delivery-timeout scenarios are set up once by a module fixture before the first test, so their 30-second
clocks run together (and while the execution-timeout test runs) instead of one after the other.
"""

from __future__ import annotations

import json
import time

import pytest

from e2e_support import WaitTimeout, pid_alive, read_pid, wait_file, wait_pids_gone


@pytest.fixture(scope="module", autouse=True)
def delivery(dev):
    """Two commands with TimeoutSeconds 30 that cannot start: one to a stopped agent, one queued behind a long
    script on an agent with --max-concurrent 1."""
    sleepy, busy = dev.start_agents([dict(name="sleepy"), dict(name="busy", max_concurrent=1, kill_grace=1)])
    sleepy.kill()  # registered, but nobody picks the work up

    blocker_pid = dev.h.path("busy.pid")
    blocker = dev.send_shell([f"echo $$ > {blocker_pid}", "sleep 300"], instance_ids=[busy.instance_id])
    wait_file(blocker_pid, 20, "the blocking script to start", dev.diag)

    sleepy_marker = dev.h.path("sleepy-ran")
    busy_marker = dev.h.path("busy-second-ran")
    started = time.monotonic()
    to_sleepy = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                        "--instance-ids", sleepy.instance_id, "--timeout-seconds", "30",
                        "--parameters", json.dumps({"commands": [f"touch {sleepy_marker}"]}))["Command"]
    to_busy = dev.send_shell(f"touch {busy_marker}", instance_ids=[busy.instance_id], TimeoutSeconds=30)
    return dict(started=started, sleepy=sleepy, busy=busy, blocker=blocker, to_sleepy=to_sleepy,
                to_busy=to_busy, sleepy_marker=sleepy_marker, busy_marker=busy_marker)


def test_execution_timeout_kills_the_script_and_reports_execution_timed_out(dev):
    pid_file = dev.h.path("exec-timeout.pid")
    child_file = dev.h.path("exec-timeout.child")
    script = [f"echo $$ > {pid_file}", f"sleep 30 & echo $! > {child_file}", "wait"]
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--instance-ids", dev.dev_instance_id,
                   "--parameters", json.dumps({"commands": script, "executionTimeout": ["5"]}))
    command_id = sent["Command"]["CommandId"]
    assert sent["Command"]["Parameters"]["executionTimeout"] == ["5"]
    wait_file(child_file, 15, "the script to start", dev.diag)
    pids = [read_pid(pid_file), read_pid(child_file)]
    assert all(pid_alive(p) for p in pids)

    # Default kill grace of the dev agent is 5 s; `sleep` dies on SIGTERM at once anyway.
    inv = dev.wait_invocation(command_id, dev.dev_instance_id, timeout=25)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Execution Timed Out"), inv
    elapsed = _seconds(inv["ExecutionElapsedTime"])
    assert 4.5 <= elapsed <= 15, f"ran {inv['ExecutionElapsedTime']} with executionTimeout 5"
    wait_pids_gone(pids, 3, "the timed-out script and its child to be gone", dev.diag)
    command = dev.wait_command(command_id, timeout=10)
    assert command["Status"] == "TimedOut", command
    assert command["ErrorCount"] == 1, "an execution timeout counts as an error"
    assert command["DeliveryTimedOutCount"] == 0, command


def test_delivery_timeout_on_a_stopped_agent_times_out_and_never_runs_later(dev, delivery):
    agent = delivery["sleepy"]
    instance_id = agent.instance_id
    command_id = delivery["to_sleepy"]["CommandId"]
    assert delivery["to_sleepy"]["TimeoutSeconds"] == 30

    inv = dev.wait_invocation(command_id, instance_id, timeout=60)
    waited = time.monotonic() - delivery["started"]
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Delivery Timed Out"), inv
    assert inv["ResponseCode"] == -1, inv
    assert waited >= 28, f"timed out after {waited:.1f}s, before the 30 s delivery timeout"
    command = dev.wait_command(command_id, timeout=10)
    assert command["Status"] == "TimedOut", command
    assert command["StatusDetails"] == "Delivery Timed Out", command
    assert command["DeliveryTimedOutCount"] == 1, command
    assert command["ErrorCount"] == 0, command
    assert command["CompletedCount"] == 1, command

    # The agent comes back: it must not run the expired invocation. A fresh command that completes proves the
    # agent has polled (and would have received the old one) before we look for the marker.
    agent.restart()
    probe = dev.send_shell("echo back", instance_ids=[instance_id])
    back = dev.wait_invocation(probe["CommandId"], instance_id, timeout=30)
    assert back["Status"] == "Success", back
    time.sleep(0.5)
    assert not delivery["sleepy_marker"].exists(), "the delivery-timed-out script ran when its agent came back"
    inv = dev.get_invocation(command_id, instance_id)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Delivery Timed Out"), inv


def test_delivery_timeout_applies_to_an_invocation_waiting_for_a_busy_agents_slot(dev, delivery):
    """SendCommand's TimeoutSeconds: "if this time is reached and the command hasn't already started running, it
    won't run". An agent with --max-concurrent 1 busy with a long script has not started the second command."""
    agent = delivery["busy"]
    command_id = delivery["to_busy"]["CommandId"]
    try:
        try:
            inv = dev.wait_invocation(command_id, agent.instance_id, timeout=max(5.0, 45 - _since(delivery)))
        except WaitTimeout:
            inv = dev.get_invocation(command_id, agent.instance_id)
        assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Delivery Timed Out"), (
            f"{_since(delivery):.0f}s after SendCommand(TimeoutSeconds=30) the invocation that never started is "
            f"{inv['Status']}/{inv['StatusDetails']} (ResponseCode {inv['ResponseCode']}, "
            f"ExecutionStartDateTime {inv['ExecutionStartDateTime']!r})"
        )
        assert _since(delivery) >= 28
    finally:
        dev.ssm.cancel_command(CommandId=delivery["blocker"]["CommandId"])
    assert dev.wait_command(delivery["blocker"]["CommandId"], timeout=15)["Status"] == "Cancelled"
    probe = dev.send_shell("echo free", instance_ids=[agent.instance_id])
    assert dev.wait_invocation(probe["CommandId"], agent.instance_id)["Status"] == "Success"
    time.sleep(0.5)
    assert not delivery["busy_marker"].exists(), "the delivery-timed-out command ran once the agent had a free slot"


def _since(delivery) -> float:
    return time.monotonic() - delivery["started"]


def _seconds(iso_duration: str) -> float:
    assert iso_duration.startswith("PT") and iso_duration.endswith("S"), iso_duration
    body = iso_duration[2:-1]
    minutes = 0.0
    if "M" in body:
        m, body = body.split("M")
        minutes = float(m)
    return minutes * 60 + float(body or 0)
