"""The issue's "done when": `source dev.env`, then the documented AWS CLI commands work unchanged."""

from __future__ import annotations

import time


def test_dev_env_exports_everything_the_cli_and_agents_need(dev):
    values = dev.sourced_env()
    expected = {
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
        "FLEETRUN_SERVER", "FLEETRUN_ACTIVATION_ID", "FLEETRUN_ACTIVATION_CODE", "FLEETRUN_DEV_INSTANCE_ID",
    }
    assert expected <= set(values), f"dev.env misses {expected - set(values)}"
    assert values["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert not values["AWS_ENDPOINT_URL"].endswith(":0"), "dev.env must name the port actually bound"
    assert values["FLEETRUN_SERVER"] == values["AWS_ENDPOINT_URL"]
    assert values["FLEETRUN_DEV_INSTANCE_ID"] == "i-abcd1234"
    assert values["AWS_DEFAULT_REGION"]


def test_cli_send_command_echo_hello_then_get_command_invocation_shows_success_and_hello(dev):
    # Exactly the user's session: the CLI gets nothing but what `source dev.env` exports.
    env = dev.cli_env(dev.sourced_env())
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--instance-ids", "i-abcd1234", "--parameters", "commands=echo hello", env=env)
    command = sent["Command"]
    command_id = command["CommandId"]
    assert len(command_id) == 36
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["InstanceIds"] == ["i-abcd1234"]
    assert command["Parameters"]["commands"] == ["echo hello"]
    assert command["Status"] == "Pending"
    assert command["TargetCount"] == 1
    assert command["MaxConcurrency"] == "50" and command["MaxErrors"] == "0"

    dev.wait_invocation(command_id, "i-abcd1234", timeout=30)
    out = dev.aws("ssm", "get-command-invocation", "--command-id", command_id, "--instance-id", "i-abcd1234",
                  env=env)
    assert out["Status"] == "Success", out
    assert out["StatusDetails"] == "Success", out
    assert out["StandardOutputContent"] == "hello\n", out
    assert out["StandardErrorContent"] == ""
    assert out["ResponseCode"] == 0
    assert out["CommandId"] == command_id and out["InstanceId"] == "i-abcd1234"
    assert out["PluginName"] == "aws:runShellScript"
    assert out["ExecutionStartDateTime"] and out["ExecutionEndDateTime"]
    assert out["ExecutionElapsedTime"].startswith("PT")

    final = dev.wait_command(command_id)
    assert final["Status"] == "Success" and final["CompletedCount"] == 1 and final["ErrorCount"] == 0


def test_cli_wait_command_executed_returns_zero_for_a_successful_command(dev):
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--instance-ids", "i-abcd1234", "--parameters", "commands=true")
    command_id = sent["Command"]["CommandId"]
    started = time.monotonic()
    # The waiter polls every 5 s (20 attempts); the command finishes in well under one interval.
    r = dev.aws_run("ssm", "wait", "command-executed", "--command-id", command_id, "--instance-id", "i-abcd1234",
                    timeout=60)
    assert r.returncode == 0, f"waiter failed ({r.returncode}): {r.stderr}\n{dev.diag()}"
    assert time.monotonic() - started < 30


def test_cli_wait_command_executed_fails_for_a_failed_command(dev):
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--instance-ids", "i-abcd1234", "--parameters", "commands=exit 3")
    command_id = sent["Command"]["CommandId"]
    r = dev.aws_run("ssm", "wait", "command-executed", "--command-id", command_id, "--instance-id", "i-abcd1234",
                    timeout=60)
    assert r.returncode != 0, "the waiter must fail on a Failed invocation"
    assert "Failed" in r.stderr or "failure" in r.stderr.lower(), r.stderr
    inv = dev.get_invocation(command_id, "i-abcd1234")
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"]) == ("Failed", "Failed", 3)


def test_dev_restarted_on_the_same_data_dir_and_port_keeps_its_state(dev):
    """Runs last in this module: it restarts the module's `fleetrun dev`."""
    before = dev.sourced_env()
    old = dev.send_shell("echo before-restart", instance_ids=["i-abcd1234"])
    assert dev.wait_invocation(old["CommandId"], "i-abcd1234")["Status"] == "Success"
    dev.stop()
    dev.start()
    after = dev.sourced_env()
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FLEETRUN_ACTIVATION_ID",
                 "FLEETRUN_ACTIVATION_CODE", "FLEETRUN_DEV_INSTANCE_ID"):
        assert after[name] == before[name], f"{name} changed across a restart"
    inv = dev.get_invocation(old["CommandId"], "i-abcd1234")
    assert inv["StandardOutputContent"] == "before-restart\n", "the old command's result survives"
    nodes = dev.ssm.describe_instance_information()["InstanceInformationList"]
    assert [n["InstanceId"] for n in nodes] == ["i-abcd1234"], "the restarted agent is the same node"
    new = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", "i-abcd1234",
                  "--parameters", "commands=echo after-restart")["Command"]
    inv = dev.wait_invocation(new["CommandId"], "i-abcd1234")
    assert inv["StandardOutputContent"] == "after-restart\n", inv
