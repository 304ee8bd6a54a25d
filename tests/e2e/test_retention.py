"""Retention: finished commands older than `command_retention_seconds` are deleted with their invocations and
their full output in the object store; unfinished ones are kept whatever their age."""

from __future__ import annotations

from botocore.exceptions import ClientError

from conftest import _harness
from e2e_support import ServerCluster, error_code, wait_for


def test_finished_commands_past_retention_are_deleted_with_their_output(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "retention")
    config = h.path("fleetrun.toml")
    config.write_text("command_retention_seconds = 4\n")
    cluster = ServerCluster(h)
    cluster.extra_args = ["--config", str(config)]
    cluster.start()
    agent = cluster.start_agent("keeper")
    done = cluster.send_shell("echo kept for a while", instance_ids=[agent.instance_id])["CommandId"]
    inv = cluster.wait_invocation(done, agent.instance_id)
    assert inv["Status"] == "Success", inv
    objects = cluster.data_dir / "objects" / "commands" / done
    assert any(p.is_file() for p in objects.rglob("*")), "the full output is in the object store"
    running = cluster.send_shell("sleep 30", instance_ids=[agent.instance_id])["CommandId"]

    def gone():
        try:
            cluster.ssm.get_command_invocation(CommandId=done, InstanceId=agent.instance_id)
            return False
        except ClientError as e:
            return error_code(e) == "InvocationDoesNotExist"

    wait_for(gone, timeout=20, what="retention to delete the finished command")
    try:
        cluster.ssm.list_commands(CommandId=done)
        raise AssertionError("ListCommands still finds the deleted command")
    except ClientError as e:
        assert error_code(e) == "InvalidCommandId", e
    assert not any(p.is_file() for p in objects.rglob("*")), "its output objects are deleted too"
    assert cluster.get_command(running)["Status"] in ("Pending", "InProgress"), "an unfinished command is kept"
