"""Tags on managed nodes, hybrid activations (registration limit), and deregistration."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from e2e_support import error_code, tail, wait_for


def _tags(dev, instance_id):
    out = dev.aws("ssm", "list-tags-for-resource", "--resource-type", "ManagedInstance",
                  "--resource-id", instance_id)
    return {t["Key"]: t["Value"] for t in out["TagList"]}


def test_add_list_remove_tags_on_a_managed_instance_and_target_by_them(dev):
    agent = dev.start_agent("tagged", tags=[("Origin", "flag")])
    iid = agent.instance_id
    assert iid.startswith("mi-") and len(iid) == 20, iid
    assert _tags(dev, iid) == {"Origin": "flag"}, "tags given at enrolment are the node's tags"

    assert dev.aws("ssm", "add-tags-to-resource", "--resource-type", "ManagedInstance", "--resource-id", iid,
                   "--tags", "Key=Team,Value=blue", "Key=Tier,Value=1") == {}
    assert _tags(dev, iid) == {"Origin": "flag", "Team": "blue", "Tier": "1"}
    dev.aws("ssm", "add-tags-to-resource", "--resource-type", "ManagedInstance", "--resource-id", iid,
            "--tags", "Key=Team,Value=red")
    assert _tags(dev, iid)["Team"] == "red", "adding an existing key overwrites its value"
    assert dev.aws("ssm", "remove-tags-from-resource", "--resource-type", "ManagedInstance", "--resource-id", iid,
                   "--tag-keys", "Tier", "Origin") == {}
    assert _tags(dev, iid) == {"Team": "red"}

    # Tags set through the API drive targeting and inventory filters.
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--targets", "Key=tag:Team,Values=red", "--parameters", "commands=echo tagged")["Command"]
    assert sent["TargetCount"] == 1
    inv = dev.wait_invocation(sent["CommandId"], iid)
    assert inv["Status"] == "Success" and inv["StandardOutputContent"] == "tagged\n"
    listed = dev.ssm.describe_instance_information(Filters=[{"Key": "tag:Team", "Values": ["red"]}])
    assert [n["InstanceId"] for n in listed["InstanceInformationList"]] == [iid]
    gone = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                   "--targets", "Key=tag:Tier,Values=1", "--parameters", "commands=echo none")["Command"]
    assert gone["TargetCount"] == 0, "a removed tag no longer matches"


def test_tags_on_an_unknown_managed_instance_are_invalid_resource_id(dev):
    with pytest.raises(ClientError) as e:
        dev.ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId="mi-0123456789abcdef0",
                                     Tags=[{"Key": "a", "Value": "b"}])
    assert error_code(e.value) == "InvalidResourceId", e.value.response


def test_activation_with_registration_limit_1_admits_one_agent_and_refuses_a_second(dev):
    out = dev.aws("ssm", "create-activation", "--iam-role", "e2e-role", "--registration-limit", "1",
                  "--default-instance-name", "e2e-limited", "--description", "limit one")
    activation = (out["ActivationId"], out["ActivationCode"])
    assert len(activation[0]) == 36 and len(activation[1]) >= 20

    first = dev.start_agent("limited-1", activation=activation)
    listed = dev.ssm.describe_instance_information(Filters=[{"Key": "ActivationIds", "Values": [activation[0]]}])
    nodes = listed["InstanceInformationList"]
    assert [n["InstanceId"] for n in nodes] == [first.instance_id]
    assert nodes[0]["ActivationId"] == activation[0] and nodes[0]["IamRole"] == "e2e-role"
    assert nodes[0]["Name"] == "e2e-limited"

    second = dev.add_agent("limited-2", activation=activation).start()
    code = wait_for(lambda: second.proc.popen.poll(), 20, "the second agent to give up enrolling", second.diag)
    assert code != 0, "an agent refused enrolment must exit non-zero"
    assert not second.identity_path.exists()
    assert "refused" in second.log_text().lower() or "limit" in second.log_text().lower(), tail(second.log_text())

    described = dev.aws("ssm", "describe-activations", "--filters",
                        f"FilterKey=ActivationIds,FilterValues={activation[0]}")["ActivationList"]
    assert len(described) == 1
    a = described[0]
    assert (a["RegistrationLimit"], a["RegistrationsCount"]) == (1, 1), a
    assert a["Expired"] is False and a["IamRole"] == "e2e-role" and a["DefaultInstanceName"] == "e2e-limited"
    assert a["Description"] == "limit one"
    listed = dev.ssm.describe_instance_information(Filters=[{"Key": "ActivationIds", "Values": [activation[0]]}])
    assert len(listed["InstanceInformationList"]) == 1, "the refused agent must not be a node"


def test_wrong_activation_code_is_refused(dev):
    out = dev.ssm.create_activation(IamRole="e2e-role", RegistrationLimit=5)
    agent = dev.add_agent("wrong-code", activation=(out["ActivationId"], "WrongCodeWrongCode00")).start()
    code = wait_for(lambda: agent.proc.popen.poll(), 20, "the agent with a wrong code to give up", agent.diag)
    assert code != 0 and not agent.identity_path.exists()
    a = dev.ssm.describe_activations(Filters=[{"FilterKey": "ActivationIds",
                                               "FilterValues": [out["ActivationId"]]}])["ActivationList"][0]
    assert a["RegistrationsCount"] == 0


def test_deregister_managed_instance_makes_its_pending_invocation_undeliverable(dev):
    agent = dev.start_agent("leaving")
    iid = agent.instance_id
    marker = dev.h.path("leaving-ran")
    agent.kill()  # stopped: the invocation stays pending
    sent = dev.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[iid],
                                Parameters={"commands": [f"touch {marker}"]})["Command"]
    command_id = sent["CommandId"]
    inv = dev.get_invocation(command_id, iid)
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"]) == ("Pending", "Pending", -1), inv
    assert inv["ExecutionStartDateTime"] == "" and inv["ExecutionEndDateTime"] == "", inv

    assert dev.aws("ssm", "deregister-managed-instance", "--instance-id", iid) == {}
    inv = dev.wait_invocation(command_id, iid, timeout=10)
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"]) == ("Failed", "Undeliverable", -1), inv
    command = dev.wait_command(command_id, timeout=10)
    assert command["Status"] == "Failed", command
    assert command["ErrorCount"] == 0, "Undeliverable does not count as an error"
    assert command["CompletedCount"] == 1, command

    all_nodes = [n["InstanceId"] for n in dev.aws("ssm", "describe-instance-information")["InstanceInformationList"]]
    assert iid not in all_nodes
    r = dev.aws_error("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", iid,
                      "--parameters", json.dumps({"commands": ["echo no"]}))
    assert r.error_code == "InvalidInstanceId", r.stderr
    r = dev.aws_error("ssm", "deregister-managed-instance", "--instance-id", iid)
    assert r.error_code == "InvalidInstanceId", r.stderr

    # The deregistered node's key no longer works, and when its agent comes back it runs nothing.
    identity = agent.identity()
    with pytest.raises(ClientError) as e:
        dev.client(key=identity["access_key_id"], secret=identity["secret_access_key"]).list_commands()
    assert error_code(e.value) in ("UnrecognizedClientException", "AccessDeniedException"), e.value.response
    agent.start()
    wait_for(lambda: "polling the server failed" in agent.log_text().lower()
             or "refused" in agent.log_text().lower() or not agent.proc.alive(), 15,
             "the deregistered agent's poll to be refused", agent.diag)
    assert not marker.exists(), "a deregistered node ran its undeliverable command"
