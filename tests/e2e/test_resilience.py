"""Restarts in the middle of a run: the agent (kill -9, scripts keep running and are re-adopted) and the server
(restarted on the same port and data directory; the agent's result still arrives)."""

from __future__ import annotations

import re
import signal

from e2e_support import pid_alive, read_pid, wait_file


def test_agent_killed_mid_run_and_restarted_readopts_the_script_and_reports_success_once(dev):
    agent = dev.start_agent("phoenix")
    runs = dev.h.path("phoenix-runs")
    pid_file = dev.h.path("phoenix.pid")
    sent = dev.send_shell([f"echo ran >> {runs}", f"echo $$ > {pid_file}", "sleep 3", "echo done"],
                          instance_ids=[agent.instance_id])
    command_id = sent["CommandId"]
    wait_file(pid_file, 20, "the script to start", dev.diag)
    script_pid = read_pid(pid_file)

    agent.kill(signal.SIGKILL)  # the agent process only: the script lives in its own process group
    assert pid_alive(script_pid), "killing the agent killed its script"
    agent.start()

    inv = dev.wait_invocation(command_id, agent.instance_id, timeout=30)
    assert (inv["Status"], inv["StatusDetails"]) == ("Success", "Success"), inv
    assert inv["StandardOutputContent"] == "done\n", inv
    assert inv["ResponseCode"] == 0
    assert runs.read_text() == "ran\n", "the script must run exactly once (re-adopted, not re-run)"
    command = dev.wait_command(command_id, timeout=10)
    assert (command["TargetCount"], command["CompletedCount"], command["ErrorCount"]) == (1, 1, 0), command
    assert command["Status"] == "Success"
    assert len(dev.invocations(command_id)) == 1
    reported = re.findall(rf"Result reported\..*command_id={command_id}", agent.log_text())
    assert len(reported) == 1, f"the result was reported {len(reported)} times:\n{agent.diag()}"


def test_script_finishing_while_its_agent_is_down_is_reported_when_the_agent_returns(dev):
    agent = dev.start_agent("lazarus")
    started = dev.h.path("lazarus.started")
    finished = dev.h.path("lazarus.finished")
    sent = dev.send_shell([f"touch {started}", "sleep 1", "echo finished-alone", "echo oops >&2",
                           f"touch {finished}", "exit 4"], instance_ids=[agent.instance_id])
    command_id = sent["CommandId"]
    wait_file(started, 20, "the script to start", dev.diag, nonempty=False)
    agent.kill(signal.SIGKILL)
    wait_file(finished, 20, "the script to finish while its agent is down", dev.diag, nonempty=False)
    agent.start()
    inv = dev.wait_invocation(command_id, agent.instance_id, timeout=30)
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"]) == ("Failed", "Failed", 4), inv
    assert inv["StandardOutputContent"] == "finished-alone\n", inv
    assert inv["StandardErrorContent"] == "oops\n", inv


def test_server_restarted_mid_run_still_receives_the_result(server_cluster):
    c = server_cluster
    agent = c.start_agent("steady")
    started = c.h.path("steady.started")
    finished = c.h.path("steady.finished")
    sent = c.send_shell([f"touch {started}", "sleep 3", "echo done", f"touch {finished}"],
                        instance_ids=[agent.instance_id])
    command_id = sent["CommandId"]
    wait_file(started, 20, "the script to start", c.diag, nonempty=False)

    c.stop(signal.SIGTERM)
    # Keep the server down until the script has finished, so the agent has to hold its result and retry.
    wait_file(finished, 20, "the script to finish while the server is down", c.diag, nonempty=False)
    c.start()  # same port, same data directory

    inv = c.wait_invocation(command_id, agent.instance_id, timeout=45)
    assert (inv["Status"], inv["StatusDetails"]) == ("Success", "Success"), inv
    assert inv["StandardOutputContent"] == "done\n", inv
    command = c.wait_command(command_id, timeout=10)
    assert command["Status"] == "Success" and command["CompletedCount"] == 1, command
    # The server kept its state: the node is still known and takes new work.
    again = c.send_shell("echo again", instance_ids=[agent.instance_id])
    inv = c.wait_invocation(again["CommandId"], agent.instance_id, timeout=30)
    assert inv["StandardOutputContent"] == "again\n", inv


def test_server_restarted_mid_rollout_resumes_releasing_the_remaining_nodes(server_cluster):
    c = server_cluster
    agents = c.start_agents([dict(name="r1"), dict(name="r2"), dict(name="r3")])
    ids = [a.instance_id for a in agents]
    first = c.h.path("rollout.first")
    sent = c.send_shell([f"touch {first}", "sleep 2", 'echo "did $AWS_SSM_INSTANCE_ID"'], instance_ids=ids,
                        MaxConcurrency="1")
    command_id = sent["CommandId"]
    wait_file(first, 20, "the first node to start", c.diag, nonempty=False)
    c.stop(signal.SIGKILL)
    c.start()
    command = c.wait_command(command_id, timeout=60)
    assert command["Status"] == "Success", command
    assert command["CompletedCount"] == 3 and command["ErrorCount"] == 0, command
    for iid in ids:
        inv = c.get_invocation(command_id, iid)
        assert inv["StandardOutputContent"] == f"did {iid}\n", inv


def test_execution_timeout_is_still_enforced_after_the_agent_restarts_mid_run(dev):
    agent = dev.start_agent("deadline", kill_grace=1)
    pid_file = dev.h.path("deadline.pid")
    sent = dev.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[agent.instance_id],
                                Parameters={"commands": [f"echo $$ > {pid_file}", "sleep 60"],
                                            "executionTimeout": ["5"]})["Command"]
    wait_file(pid_file, 20, "the script to start", dev.diag)
    pid = read_pid(pid_file)
    agent.kill(signal.SIGKILL)
    agent.start()
    inv = dev.wait_invocation(sent["CommandId"], agent.instance_id, timeout=25)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Execution Timed Out"), inv
    assert not pid_alive(pid), "the re-adopted script outlived its execution timeout"


def test_a_silent_node_past_expires_after_is_abandoned_then_its_late_result_wins(request, fleetrun_bin):
    """The expiry backstop: no invocation stays InProgress forever because its node vanished, and a result
    the node reports later still replaces the Abandoned status (a finished run is never left reported lost)."""
    from conftest import _harness
    from e2e_support import ServerCluster, wait_for, Retry

    h = _harness(request, fleetrun_bin, "expiry")
    config = h.path("fleetrun.toml")
    config.write_text("poll_wait_seconds = 1\nping_timeout_seconds = 3\n")
    c = ServerCluster(h)
    c.extra_args = ["--config", str(config)]
    c.start()
    agent = c.start_agent("vanishing")
    pid_file = h.path("vanishing.pid")
    # ExpiresAfter = 30 s delivery timeout + 5 s execution timeout after the request.
    sent = c.send_shell([f"echo $$ > {pid_file}", "sleep 100"], instance_ids=[agent.instance_id],
                        TimeoutSeconds=30, Parameters={"executionTimeout": ["5"]})
    command_id = sent["CommandId"]
    wait_file(pid_file, 20, "the script to start", c.diag)
    agent.kill(signal.SIGKILL)

    def abandoned():
        inv = c.get_invocation(command_id, agent.instance_id)
        if inv["Status"] != "Failed":
            raise Retry(inv["Status"])
        return inv

    inv = wait_for(abandoned, 60, "the silent node's invocation to be abandoned after ExpiresAfter", c.diag)
    assert "ExpiresAfter" in inv["StandardErrorContent"], inv
    command = c.get_command(command_id)
    assert (command["Status"], command["ErrorCount"], command["CompletedCount"]) == ("Failed", 1, 1), command

    # The node comes back: its agent re-adopts the script, finds its execution deadline long past, kills it
    # and reports the truth, which replaces Abandoned.
    agent.start()
    inv = c.wait_invocation(command_id, agent.instance_id, timeout=30, statuses={"TimedOut"})
    assert inv["StatusDetails"] == "Execution Timed Out", inv
    assert inv["Status"] == "TimedOut", inv
    assert not pid_alive(read_pid(pid_file)), "the timed-out script must be gone"
