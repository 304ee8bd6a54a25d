"""SSM Automation through the real `aws` CLI and boto3: runbooks created with CreateDocument (DocumentType Automation),
started with StartAutomationExecution and driven by the server to their end.

Covered: the aws:executeScript example of SSM's documentation (inline Python `Script`, `InputPayload`, outputs,
document-level outputs) through the CLI and boto3; a handler exception (Failed, traceback in FailureMessage);
`onFailure: Continue`; `aws:branch`; `aws:runCommand` on the dev agent feeding a later script step;
StopAutomationExecution while a script sleeps (its process is gone afterwards) and while a step's command runs (the
command is cancelled); step timeouts; DescribeAutomationStepExecutions paging, order and filters; ClientToken
idempotency; bad input (unknown document or version, bad parameters, unsupported action or Mode, stopping a finished
execution); a `fleetrun dev` killed mid-runbook and restarted (its own cluster).

All tests share one `fleetrun dev` (module fixture); each creates its own documents under a unique name."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from e2e_support import (
    DevCluster,
    Harness,
    Retry,
    error_code,
    error_message,
    read_pid,
    wait_file,
    wait_for,
    wait_pids_gone,
)

TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled", "CompletedWithSuccess", "CompletedWithFailure"}

# The aws:executeScript example of SSM's user guide ("Tag an instance"), with the EC2 call left out: fleetrun has no
# EC2 to tag, so the handler prints and returns the tag it would have created.
DOC_EXAMPLE = """\
description: Tag an instance
schemaVersion: '0.3'
assumeRole: '{{AutomationAssumeRole}}'
parameters:
  AutomationAssumeRole:
    type: String
    description: '(Required) The Amazon Resource Name (ARN) of the IAM role that allows Automation to perform the actions on your behalf.'
  InstanceId:
    type: String
    description: (Required) The ID of the EC2 instance you want to tag.
mainSteps:
  - name: tagInstance
    action: 'aws:executeScript'
    inputs:
      Runtime: "python3.11"
      Handler: tagInstance
      InputPayload:
        instanceId: '{{InstanceId}}'
      Script: |-
        def tagInstance(events,context):
          instanceId = events['instanceId']
          tag = {
              "Key": "Env",
              "Value": "ExamplePython"
          }
          print(f"Adding tag {tag} to instance id {instanceId}")
          return dict(tag, InstanceId=instanceId, ExecutionId=context['automation:EXECUTION_ID'])
    outputs:
      - Type: String
        Name: TagKey
        Selector: $.Payload.Key
      - Type: StringMap
        Name: Tag
        Selector: $.Payload
outputs:
  - tagInstance.TagKey
"""

ROLE = "arn:aws:iam::000000000000:role/AutomationRole"


def _name(tag: str) -> str:
    return f"e2e-auto-{tag}-{uuid.uuid4().hex[:8]}"


def _create(dev, content: str, name: str | None = None, fmt: str = "YAML") -> str:
    name = name or _name("doc")
    dev.ssm.create_document(Name=name, Content=content, DocumentType="Automation", DocumentFormat=fmt)
    return name


def _get(dev, execution_id: str) -> dict:
    return dev.ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]


def _wait(dev, execution_id: str, statuses=TERMINAL, timeout: float = 60) -> dict:
    def probe():
        e = _get(dev, execution_id)
        if e["AutomationExecutionStatus"] in statuses:
            return e
        raise Retry({k: e.get(k) for k in ("AutomationExecutionStatus", "CurrentStepName", "FailureMessage")})

    return wait_for(probe, timeout, f"automation {execution_id} to reach {sorted(statuses)}", dev.diag)


def _steps(execution: dict) -> dict[str, dict]:
    return {s["StepName"]: s for s in execution["StepExecutions"]}


def _start(dev, name: str, **params) -> str:
    req = dict(DocumentName=name)
    if params:
        req["Parameters"] = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    return dev.ssm.start_automation_execution(**req)["AutomationExecutionId"]


def test_documented_execute_script_example_with_the_cli(dev, tmp_path: Path):
    doc = tmp_path / "tag-instance.yaml"
    doc.write_text(DOC_EXAMPLE)
    name = _name("example")
    created = dev.aws("ssm", "create-document", "--name", name, "--document-type", "Automation",
                      "--document-format", "YAML", "--content", f"file://{doc}")
    assert created["DocumentDescription"]["DocumentType"] == "Automation"
    started = dev.aws("ssm", "start-automation-execution", "--document-name", name,
                      "--parameters", f"AutomationAssumeRole={ROLE},InstanceId=i-0123456789abcdef0")
    execution_id = started["AutomationExecutionId"]
    assert len(execution_id) == 36

    def probe():
        e = dev.aws("ssm", "get-automation-execution", "--automation-execution-id", execution_id)["AutomationExecution"]
        if e["AutomationExecutionStatus"] in TERMINAL:
            return e
        raise Retry(e["AutomationExecutionStatus"])

    execution = wait_for(probe, 60, "the example runbook to finish", dev.diag)
    assert execution["AutomationExecutionStatus"] == "Success", execution
    assert execution["DocumentName"] == name and execution["DocumentVersion"] == "1"
    assert execution["Mode"] == "Auto"
    assert execution["Outputs"] == {"tagInstance.TagKey": ["Env"]}
    assert execution["Parameters"] == {"AutomationAssumeRole": [ROLE], "InstanceId": ["i-0123456789abcdef0"]}
    assert execution["ProgressCounters"]["TotalSteps"] == 1 and execution["ProgressCounters"]["SuccessSteps"] == 1
    assert "ExecutionEndTime" in execution and "ExecutedBy" in execution
    step = _steps(execution)["tagInstance"]
    assert step["StepStatus"] == "Success" and step["Action"] == "aws:executeScript"
    # Inputs are JSON-encoded strings, as SSM shows them.
    assert json.loads(step["Inputs"]["InputPayload"]) == {"instanceId": "i-0123456789abcdef0"}
    assert json.loads(step["Inputs"]["Runtime"]) == "python3.11"
    assert step["Outputs"]["TagKey"] == ["Env"]
    tag = json.loads(step["Outputs"]["Tag"][0])
    assert tag == {"Key": "Env", "Value": "ExamplePython", "InstanceId": "i-0123456789abcdef0",
                   "ExecutionId": execution_id}
    payload = json.loads(step["Outputs"]["OutputPayload"][0])
    assert payload["Payload"]["Value"] == "ExamplePython"
    assert "Adding tag" in step.get("Response", "")
    assert "[ran with " in step["Response"] and "python3" in step["Response"], "the interpreter is recorded"


def test_boto3_describe_and_filters(dev):
    name = _create(dev, DOC_EXAMPLE)
    ids = [_start(dev, name, AutomationAssumeRole=ROLE, InstanceId=f"i-0000000{i}") for i in range(3)]
    for execution_id in ids:
        assert _wait(dev, execution_id)["AutomationExecutionStatus"] == "Success"
    listed = dev.ssm.describe_automation_executions(
        Filters=[{"Key": "DocumentNamePrefix", "Values": [name]}])["AutomationExecutionMetadataList"]
    assert sorted(e["AutomationExecutionId"] for e in listed) == sorted(ids)
    assert all(e["AutomationExecutionStatus"] == "Success" for e in listed)
    one = dev.ssm.describe_automation_executions(
        Filters=[{"Key": "ExecutionId", "Values": [ids[0]]}])["AutomationExecutionMetadataList"]
    assert [e["AutomationExecutionId"] for e in one] == [ids[0]]
    failed = dev.ssm.describe_automation_executions(
        Filters=[{"Key": "DocumentNamePrefix", "Values": [name]},
                 {"Key": "ExecutionStatus", "Values": ["Failed"]}])["AutomationExecutionMetadataList"]
    assert failed == []
    pages = dev.ssm.get_paginator("describe_automation_executions").paginate(
        Filters=[{"Key": "DocumentNamePrefix", "Values": [name]}], PaginationConfig={"PageSize": 1})
    assert sorted(e["AutomationExecutionId"] for p in pages for e in p["AutomationExecutionMetadataList"]) == sorted(ids)
    steps = dev.ssm.describe_automation_step_executions(AutomationExecutionId=ids[0])["StepExecutions"]
    assert [s["StepName"] for s in steps] == ["tagInstance"]
    none = dev.ssm.describe_automation_step_executions(
        AutomationExecutionId=ids[0], Filters=[{"Key": "StepExecutionStatus", "Values": ["Failed"]}])
    assert none["StepExecutions"] == []


FAILING = """\
schemaVersion: '0.3'
mainSteps:
  - name: boom
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            my_control_id = events['expected_control_id']
            return {}
  - name: never
    action: aws:sleep
    inputs:
      Duration: PT0S
"""


def test_exception_fails_with_the_traceback(dev):
    execution = _wait(dev, _start(dev, _create(dev, FAILING)))
    assert execution["AutomationExecutionStatus"] == "Failed", execution
    message = execution["FailureMessage"]
    assert message.startswith("Step fails when it is Poll action status for completion."), message
    assert "Traceback (most recent call last)" in message and "KeyError" in message
    assert "expected_control_id" in message
    steps = _steps(execution)
    assert steps["boom"]["StepStatus"] == "Failed"
    assert steps["boom"]["FailureDetails"]["FailureStage"] == "Invocation"
    assert steps["boom"]["FailureDetails"]["FailureType"] == "Action"
    assert "Traceback" in steps["boom"]["FailureMessage"]
    assert steps["never"]["StepStatus"] == "Pending"


CONTINUE = """\
schemaVersion: '0.3'
outputs:
  - fails.Out
  - after.Out
mainSteps:
  - name: fails
    action: aws:executeScript
    onFailure: Continue
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            raise ValueError("not this time")
    outputs:
      - {Name: Out, Selector: $.Payload, Type: String}
  - name: after
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "went on"
    outputs:
      - {Name: Out, Selector: $.Payload, Type: String}
"""


def test_on_failure_continue(dev):
    execution = _wait(dev, _start(dev, _create(dev, CONTINUE)))
    assert execution["AutomationExecutionStatus"] == "Success", execution
    steps = _steps(execution)
    assert steps["fails"]["StepStatus"] == "Failed" and "ValueError" in steps["fails"]["FailureMessage"]
    assert steps["fails"]["IsCritical"] is False
    assert steps["after"]["StepStatus"] == "Success"
    assert execution["Outputs"]["after.Out"] == ["went on"]
    assert execution["Outputs"]["fails.Out"] == ["No output available yet because the step is not successfully executed"]
    assert execution["ProgressCounters"]["FailedSteps"] == 1


BRANCH = """\
schemaVersion: '0.3'
parameters:
  Color:
    type: String
outputs:
  - red.Said
  - blue.Said
mainSteps:
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: red
          Variable: '{{ Color }}'
          StringEquals: red
        - NextStep: blue
          Variable: '{{ Color }}'
          StringEquals: blue
      Default: other
  - name: red
    action: aws:executeScript
    isEnd: true
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "red"
    outputs:
      - {Name: Said, Selector: $.Payload, Type: String}
  - name: blue
    action: aws:executeScript
    isEnd: true
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "blue"
    outputs:
      - {Name: Said, Selector: $.Payload, Type: String}
  - name: other
    action: aws:sleep
    inputs:
      Duration: PT0S
"""


def test_branch(dev):
    name = _create(dev, BRANCH)
    blue = _wait(dev, _start(dev, name, Color="blue"))
    assert blue["AutomationExecutionStatus"] == "Success", blue
    steps = _steps(blue)
    assert steps["choose"]["StepStatus"] == "Success"
    assert steps["blue"]["StepStatus"] == "Success" and steps["red"]["StepStatus"] == "Pending"
    assert blue["Outputs"]["blue.Said"] == ["blue"]
    other = _wait(dev, _start(dev, name, Color="green"))
    assert other["AutomationExecutionStatus"] == "Success"
    steps = _steps(other)
    assert steps["other"]["StepStatus"] == "Success"
    assert steps["red"]["StepStatus"] == "Pending" and steps["blue"]["StepStatus"] == "Pending"


RUN_COMMAND = """\
schemaVersion: '0.3'
parameters:
  InstanceId:
    type: String
outputs:
  - use.Seen
mainSteps:
  - name: hostname
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds:
        - '{{ InstanceId }}'
      Parameters:
        commands:
          - echo from-the-agent-$((40 + 2))
  - name: use
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      InputPayload:
        output: '{{ hostname.Output }}'
        status: '{{ hostname.Status }}'
      Script: |-
        def handler(events, context):
            return {"seen": events["output"].strip(), "status": events["status"]}
    outputs:
      - {Name: Seen, Selector: $.Payload.seen, Type: String}
"""


def test_run_command_output_feeds_a_script(dev):
    execution = _wait(dev, _start(dev, _create(dev, RUN_COMMAND), InstanceId=dev.dev_instance_id), timeout=90)
    assert execution["AutomationExecutionStatus"] == "Success", execution
    steps = _steps(execution)
    run = steps["hostname"]
    assert run["StepStatus"] == "Success"
    assert run["Outputs"]["Status"] == ["Success"] and run["Outputs"]["ResponseCode"] == ["0"]
    command_id = run["Outputs"]["CommandId"][0]
    assert dev.get_command(command_id)["Status"] == "Success"
    assert execution["Outputs"]["use.Seen"] == ["from-the-agent-42"]
    assert json.loads(steps["use"]["Outputs"]["OutputPayload"][0])["Payload"]["status"] == "Success"


SLEEPER = """\
schemaVersion: '0.3'
parameters:
  PidFile:
    type: String
mainSteps:
  - name: sleeper
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      InputPayload:
        pid_file: '{{ PidFile }}'
      Script: |-
        def handler(events, context):
            import os, time
            with open(events["pid_file"] + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(events["pid_file"] + ".tmp", events["pid_file"])
            time.sleep(120)
            return "woke"
  - name: never
    action: aws:sleep
    inputs:
      Duration: PT0S
"""


def test_stop_cancels_the_running_script(dev, tmp_path: Path):
    pid_file = tmp_path / "script.pid"
    execution_id = _start(dev, _create(dev, SLEEPER), PidFile=str(pid_file))
    wait_file(pid_file, 30, "the script to write its pid", dev.diag)
    pid = read_pid(pid_file)
    assert _get(dev, execution_id)["AutomationExecutionStatus"] == "InProgress"
    dev.ssm.stop_automation_execution(AutomationExecutionId=execution_id, Type="Cancel")
    execution = _wait(dev, execution_id, timeout=30)
    assert execution["AutomationExecutionStatus"] == "Cancelled", execution
    steps = _steps(execution)
    assert steps["sleeper"]["StepStatus"] == "Cancelled"
    assert steps["never"]["StepStatus"] == "Pending"
    wait_pids_gone([pid], 15, "the cancelled script's process", dev.diag)
    with pytest.raises(ClientError) as e:
        dev.ssm.stop_automation_execution(AutomationExecutionId=execution_id)
    assert error_code(e.value) == "InvalidAutomationStatusUpdateException"


def test_client_token_idempotency(dev):
    name = _create(dev, BRANCH)
    token = str(uuid.uuid4())
    first = dev.ssm.start_automation_execution(DocumentName=name, Parameters={"Color": ["red"]}, ClientToken=token)
    again = dev.ssm.start_automation_execution(DocumentName=name, Parameters={"Color": ["red"]}, ClientToken=token)
    assert first["AutomationExecutionId"] == again["AutomationExecutionId"]
    with pytest.raises(ClientError) as e:
        dev.ssm.start_automation_execution(DocumentName=name, Parameters={"Color": ["blue"]}, ClientToken=token)
    assert error_code(e.value) == "IdempotentParameterMismatch"
    listed = dev.ssm.describe_automation_executions(
        Filters=[{"Key": "DocumentNamePrefix", "Values": [name]}])["AutomationExecutionMetadataList"]
    assert len(listed) == 1
    assert _wait(dev, first["AutomationExecutionId"])["Outputs"]["red.Said"] == ["red"]


def _refused(call, code: str, **kw) -> str:
    with pytest.raises(ClientError) as e:
        call(**kw)
    assert error_code(e.value) == code, e.value.response
    return error_message(e.value)


def test_bad_input(dev):
    ssm = dev.ssm
    _refused(ssm.start_automation_execution, "AutomationDefinitionNotFoundException", DocumentName=_name("missing"))
    name = _create(dev, BRANCH)
    _refused(ssm.start_automation_execution, "AutomationDefinitionVersionNotFoundException",
             DocumentName=name, DocumentVersion="7", Parameters={"Color": ["red"]})
    message = _refused(ssm.start_automation_execution, "InvalidAutomationExecutionParametersException",
                       DocumentName=name)
    assert "Color" in message
    message = _refused(ssm.start_automation_execution, "InvalidAutomationExecutionParametersException",
                       DocumentName=name, Parameters={"Color": ["red"], "Shade": ["dark"]})
    assert "Shade" in message
    _refused(ssm.start_automation_execution, "ValidationException",
             DocumentName=name, Parameters={"Color": ["red"]}, Mode="Interactive")
    _refused(ssm.start_automation_execution, "ValidationException", DocumentName=name,
             TargetParameterName="Color", Targets=[{"Key": "tag:Role", "Values": ["web"]}])
    _refused(ssm.start_automation_execution, "AutomationDefinitionNotFoundException", DocumentName="AWS-RunShellScript")
    unsupported = BRANCH.replace("action: aws:sleep", "action: aws:createImage")
    message = _refused(ssm.create_document, "InvalidDocumentContent", Name=_name("bad"), Content=unsupported,
                       DocumentType="Automation", DocumentFormat="YAML")
    assert "other" in message and "aws:createImage" in message
    _refused(ssm.get_automation_execution, "AutomationExecutionNotFoundException",
             AutomationExecutionId=str(uuid.uuid4()))
    _refused(ssm.stop_automation_execution, "AutomationExecutionNotFoundException",
             AutomationExecutionId=str(uuid.uuid4()))
    missing = dev.aws_error("ssm", "start-automation-execution", "--document-name", _name("nope"))
    assert "AutomationDefinitionNotFoundException" in missing.stderr


RESTART_SLEEP = """\
schemaVersion: '0.3'
outputs:
  - after.Said
mainSteps:
  - name: nap
    action: aws:sleep
    inputs:
      Duration: PT4S
  - name: after
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "after the restart"
    outputs:
      - {Name: Said, Selector: $.Payload, Type: String}
"""


def test_server_restart_mid_runbook(request, fleetrun_bin, tmp_path: Path):
    """A `fleetrun dev` killed with SIGKILL mid-runbook: after the restart the executions are claimed again once their
    lease ends. The sleep step runs again to its original wake-up time and the runbook goes on; the script step that
    was running cannot be re-attached, so it fails with a message that says why. Nothing stays InProgress."""
    h = Harness("dev-automation-restart", fleetrun_bin)
    request.addfinalizer(h.close)
    cluster = DevCluster(h).start()
    sleeping = _start(cluster, _create(cluster, RESTART_SLEEP))
    pid_file = tmp_path / "script.pid"
    scripting = _start(cluster, _create(cluster, SLEEPER), PidFile=str(pid_file))
    wait_file(pid_file, 30, "the script to write its pid", cluster.diag)
    assert _get(cluster, sleeping)["CurrentStepName"] == "nap"
    cluster.stop(signal.SIGKILL)
    cluster.start()
    done = _wait(cluster, sleeping, timeout=60)
    assert done["AutomationExecutionStatus"] == "Success", done
    assert done["Outputs"]["after.Said"] == ["after the restart"]
    failed = _wait(cluster, scripting, timeout=60)
    assert failed["AutomationExecutionStatus"] == "Failed", failed
    assert "the server restarted while this step ran" in failed["FailureMessage"]
    assert _steps(failed)["sleeper"]["FailureDetails"]["FailureType"] == "Internal"


TIMEOUT = """\
schemaVersion: '0.3'
mainSteps:
  - name: slow
    action: aws:executeScript
    timeoutSeconds: 2
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            import time
            time.sleep(60)
  - name: nap
    action: aws:sleep
    timeoutSeconds: 1
    onFailure: Continue
    inputs:
      Duration: PT30S
"""


def test_step_timeouts(dev):
    execution = _wait(dev, _start(dev, _create(dev, TIMEOUT)), timeout=30)
    assert execution["AutomationExecutionStatus"] == "TimedOut", execution
    assert execution["FailureMessage"].startswith("Step timed out while step is"), execution["FailureMessage"]
    steps = _steps(execution)
    assert steps["slow"]["StepStatus"] == "TimedOut" and steps["slow"]["TimeoutSeconds"] == 2
    assert steps["nap"]["StepStatus"] == "Pending"
    # A sleep that outlasts its own timeoutSeconds times out as well; onFailure: Continue then goes on.
    timed = _wait(dev, _start(dev, _create(dev, TIMEOUT.replace("time.sleep(60)", "return 1"))), timeout=30)
    assert timed["AutomationExecutionStatus"] == "Success", timed
    assert _steps(timed)["nap"]["StepStatus"] == "TimedOut"


LONG_COMMAND = """\
schemaVersion: '0.3'
parameters:
  InstanceId:
    type: String
mainSteps:
  - name: first
    action: aws:sleep
    inputs:
      Duration: PT0S
  - name: long
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ['{{ InstanceId }}']
      Parameters:
        commands: ['sleep 60']
"""


def test_stop_cancels_a_running_command_and_pages_steps(dev):
    execution_id = _start(dev, _create(dev, LONG_COMMAND), InstanceId=dev.dev_instance_id)

    def command_started():
        step = _steps(_get(dev, execution_id))["long"]
        if step["StepStatus"] != "InProgress":
            raise Retry(step["StepStatus"])
        commands = [c for c in dev.all_commands() if c["Status"] == "InProgress"
                    and c["Parameters"].get("commands") == ["sleep 60"]]
        return commands[0]["CommandId"] if commands else None

    wait_for(command_started, 30, "the step's command to run", dev.diag)
    dev.ssm.stop_automation_execution(AutomationExecutionId=execution_id)
    execution = _wait(dev, execution_id, timeout=30)
    assert execution["AutomationExecutionStatus"] == "Cancelled", execution
    assert _steps(execution)["long"]["StepStatus"] == "Cancelled"
    ran = [c for c in dev.all_commands() if c["Parameters"].get("commands") == ["sleep 60"]]
    assert ran and all(dev.wait_command(c["CommandId"])["Status"] == "Cancelled" for c in ran)
    # Steps in start order, one per page; ReverseOrder turns them around.
    pages = dev.ssm.get_paginator("describe_automation_step_executions").paginate(
        AutomationExecutionId=execution_id, PaginationConfig={"PageSize": 1})
    names = [s["StepName"] for p in pages for s in p["StepExecutions"]]
    assert names == ["first", "long"]
    reverse = dev.ssm.describe_automation_step_executions(AutomationExecutionId=execution_id, ReverseOrder=True)
    assert [s["StepName"] for s in reverse["StepExecutions"]] == ["long", "first"]
    only = dev.ssm.describe_automation_step_executions(
        AutomationExecutionId=execution_id, Filters=[{"Key": "Action", "Values": ["aws:runCommand"]}])
    assert [s["StepName"] for s in only["StepExecutions"]] == ["long"]


RETRY_AND_RECOVER = """\
schemaVersion: '0.3'
parameters:
  Counter:
    type: String
outputs:
  - flaky.Attempt
  - recover.Said
mainSteps:
  - name: flaky
    action: aws:executeScript
    maxAttempts: 3
    inputs:
      Runtime: python3.11
      Handler: handler
      InputPayload:
        counter: '{{ Counter }}'
      Script: |-
        def handler(events, context):
            path = events["counter"]
            try:
                n = int(open(path).read())
            except FileNotFoundError:
                n = 0
            open(path, "w").write(str(n + 1))
            if n < 2:
                raise RuntimeError(f"attempt {n + 1} fails")
            return {"attempt": n + 1}
    outputs:
      - {Name: Attempt, Selector: $.Payload.attempt, Type: Integer}
  - name: broken
    action: aws:executeScript
    onFailure: step:recover
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            raise KeyError("missing")
  - name: skipped
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "should not run"
  - name: recover
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "recovered"
    outputs:
      - {Name: Said, Selector: $.Payload, Type: String}
"""


def test_max_attempts_retries_and_on_failure_jumps_to_a_step(dev, tmp_path: Path):
    """`maxAttempts: 3` retries a step that fails twice; `onFailure: step:recover` jumps over the next step. The
    execution ends Failed (a critical step failed) with the recovery step run and its output reported."""
    counter = tmp_path / "attempts"
    execution = _wait(dev, _start(dev, _create(dev, RETRY_AND_RECOVER), Counter=str(counter)))
    assert counter.read_text() == "3", "three attempts, then success"
    steps = _steps(execution)
    assert steps["flaky"]["StepStatus"] == "Success" and execution["Outputs"]["flaky.Attempt"] == ["3"], execution
    assert steps["broken"]["StepStatus"] == "Failed" and "KeyError" in steps["broken"]["FailureMessage"]
    assert steps["recover"]["StepStatus"] == "Success" and execution["Outputs"]["recover.Said"] == ["recovered"]
    assert steps.get("skipped", {}).get("StepStatus", "Pending") == "Pending", "the jump skipped it"
    assert execution["AutomationExecutionStatus"] == "Failed", execution


# Rate control: one child execution per target, MaxConcurrency at once, MaxErrors before the rollout stops.
FANOUT = """\
schemaVersion: '0.3'
parameters:
  Who:
    type: String
  Log:
    type: String
mainSteps:
  - name: greet
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      InputPayload:
        who: '{{ Who }}'
        log: '{{ Log }}'
      Script: |-
        def handler(events, context):
          import time
          who = events['who']
          if who == 'boom':
            raise Exception('boom')
          start = time.time()
          time.sleep(1)
          with open(events['log'], 'a') as f:
            f.write(f"{who} {start} {time.time()}\\n")
          return {'Who': who}
    outputs:
      - Name: Who
        Type: String
        Selector: $.Payload.Who
outputs:
  - greet.Who
"""


def _children(dev, parent_id: str) -> list[dict]:
    listed = dev.ssm.describe_automation_executions(
        Filters=[{"Key": "ParentExecutionId", "Values": [parent_id]}])["AutomationExecutionMetadataList"]
    return [_get(dev, c["AutomationExecutionId"]) for c in listed]


def _child_whos(children: list[dict]) -> list[str]:
    return sorted(c["Parameters"]["Who"][0] for c in children)


def test_fanout_parameter_values_respects_max_concurrency(dev, tmp_path: Path):
    log = tmp_path / "runs.log"
    name = _create(dev, FANOUT)
    parent_id = dev.ssm.start_automation_execution(
        DocumentName=name, Parameters={"Log": [str(log)]}, TargetParameterName="Who",
        Targets=[{"Key": "ParameterValues", "Values": ["a", "b", "c", "d", "e"]}], MaxConcurrency="2",
    )["AutomationExecutionId"]
    parent = _wait(dev, parent_id, timeout=120)
    assert parent["AutomationExecutionStatus"] == "Success", parent
    assert parent["Mode"] == "Auto" and parent["TargetParameterName"] == "Who"
    assert parent["MaxConcurrency"] == "2" and parent["MaxErrors"] == "0"
    assert parent["Targets"] == [{"Key": "ParameterValues", "Values": ["a", "b", "c", "d", "e"]}]
    assert parent["ResolvedTargets"] == {"ParameterValues": ["a", "b", "c", "d", "e"], "Truncated": False}
    children = _children(dev, parent_id)
    assert _child_whos(children) == ["a", "b", "c", "d", "e"]
    for child in children:
        assert child["AutomationExecutionStatus"] == "Success", child
        assert child["ParentAutomationExecutionId"] == parent_id
        assert child["Outputs"]["greet.Who"] == child["Parameters"]["Who"]
    runs = [line.split() for line in log.read_text().splitlines()]
    assert sorted(r[0] for r in runs) == ["a", "b", "c", "d", "e"]
    spans = [(float(r[1]), float(r[2])) for r in runs]
    for start, _ in spans:
        running = sum(1 for s, e in spans if s <= start < e)
        assert running <= 2, spans


def test_fanout_target_maps(dev, tmp_path: Path):
    log = tmp_path / "runs.log"
    name = _create(dev, FANOUT)
    maps = [{"Who": ["x"], "Log": [str(log)]}, {"Who": ["y"], "Log": [str(log)]}]
    parent_id = dev.ssm.start_automation_execution(DocumentName=name, TargetMaps=maps)["AutomationExecutionId"]
    parent = _wait(dev, parent_id, timeout=90)
    assert parent["AutomationExecutionStatus"] == "Success", parent
    assert parent["TargetMaps"] == maps
    assert parent["MaxConcurrency"] == "10" and parent["MaxErrors"] == "0"
    children = _children(dev, parent_id)
    assert _child_whos(children) == ["x", "y"]
    assert all(c["AutomationExecutionStatus"] == "Success" for c in children)


def test_fanout_max_errors_stops_the_rollout(dev, tmp_path: Path):
    name = _create(dev, FANOUT)
    parent_id = dev.ssm.start_automation_execution(
        DocumentName=name, Parameters={"Log": [str(tmp_path / "runs.log")]}, TargetParameterName="Who",
        Targets=[{"Key": "ParameterValues", "Values": ["boom", "a", "b", "c", "d"]}], MaxConcurrency="1",
        MaxErrors="0",
    )["AutomationExecutionId"]
    parent = _wait(dev, parent_id, timeout=90)
    assert parent["AutomationExecutionStatus"] == "Failed", parent
    assert "MaxErrors" in parent["FailureMessage"]
    children = _children(dev, parent_id)
    assert len(children) < 5
    assert [c["AutomationExecutionStatus"] for c in children] == ["Failed"]


def test_fanout_instance_ids(dev, tmp_path: Path):
    name = _create(dev, FANOUT)
    parent_id = dev.ssm.start_automation_execution(
        DocumentName=name, Parameters={"Log": [str(tmp_path / "runs.log")]}, TargetParameterName="Who",
        Targets=[{"Key": "InstanceIds", "Values": [dev.dev_instance_id]}],
    )["AutomationExecutionId"]
    parent = _wait(dev, parent_id, timeout=90)
    assert parent["AutomationExecutionStatus"] == "Success", parent
    assert parent["ResolvedTargets"]["ParameterValues"] == [dev.dev_instance_id]
    children = _children(dev, parent_id)
    assert len(children) == 1
    assert children[0]["Outputs"]["greet.Who"] == [dev.dev_instance_id]


def test_fanout_bad_input(dev):
    ssm = dev.ssm
    name = _create(dev, FANOUT)
    values = [{"Key": "ParameterValues", "Values": ["a"]}]
    log = {"Log": ["/tmp/unused"]}
    _refused(ssm.start_automation_execution, "ValidationException", DocumentName=name, Parameters=log, Targets=values)
    message = _refused(ssm.start_automation_execution, "InvalidAutomationExecutionParametersException",
                       DocumentName=name, Parameters=log, Targets=values, TargetParameterName="Nope")
    assert "Nope" in message
    _refused(ssm.start_automation_execution, "ValidationException", DocumentName=name, TargetParameterName="Who",
             Targets=values, TargetMaps=[{"Who": ["a"], "Log": ["/tmp/unused"]}])
    message = _refused(ssm.start_automation_execution, "InvalidAutomationExecutionParametersException",
                       DocumentName=name, TargetMaps=[{"Whom": ["a"]}])
    assert "Whom" in message
    _refused(ssm.start_automation_execution, "ValidationException", DocumentName=name, Parameters=log,
             TargetParameterName="Who", Targets=values, MaxConcurrency="0")


# aws:pause / aws:approve and SendAutomationSignal.
PAUSE_THEN_SCRIPT = """\
schemaVersion: '0.3'
outputs:
  - after.Said
mainSteps:
  - name: hold
    action: aws:pause
    inputs: {}
  - name: after
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return "resumed"
    outputs:
      - {Name: Said, Selector: $.Payload, Type: String}
"""

APPROVE = """\
schemaVersion: '0.3'
mainSteps:
  - name: gate
    action: aws:approve
    inputs:
      Approvers: ['APPROVER']
      Message: Ship it?
      NotificationArn: arn:aws:sns:us-east-1:000000000000:approvals
  - name: done
    action: aws:sleep
    inputs:
      Duration: PT0S
"""


def _access_key(dev) -> str:
    return dev.ssm._request_signer._credentials.get_frozen_credentials().access_key


def _signal(dev, execution_id: str, kind: str, **payload):
    req = dict(AutomationExecutionId=execution_id, SignalType=kind)
    if payload:
        req["Payload"] = {k: v if isinstance(v, list) else [v] for k, v in payload.items()}
    return dev.ssm.send_automation_signal(**req)


def test_pause_waits_for_resume(dev):
    execution_id = _start(dev, _create(dev, PAUSE_THEN_SCRIPT))
    waiting = _wait(dev, execution_id, {"Waiting"} | TERMINAL)
    assert waiting["AutomationExecutionStatus"] == "Waiting"
    assert _steps(waiting)["hold"]["StepStatus"] == "Waiting"
    _signal(dev, execution_id, "Resume", StepName="hold")
    done = _wait(dev, execution_id)
    assert done["AutomationExecutionStatus"] == "Success", done.get("FailureMessage")
    assert _steps(done)["hold"]["StepStatus"] == "Success"
    assert done["Outputs"]["after.Said"] == ["resumed"]
    message = _refused(dev.ssm.send_automation_signal, "InvalidAutomationSignalException",
                       AutomationExecutionId=execution_id, SignalType="Resume")
    assert execution_id in message


def test_approve_with_one_approver(dev):
    execution_id = _start(dev, _create(dev, APPROVE.replace("APPROVER", _access_key(dev))))
    _wait(dev, execution_id, {"Waiting"})
    _refused(dev.ssm.send_automation_signal, "InvalidAutomationSignalException",
             AutomationExecutionId=execution_id, SignalType="Resume")
    _signal(dev, execution_id, "Approve", Comment="looks good")
    done = _wait(dev, execution_id)
    assert done["AutomationExecutionStatus"] == "Success", done.get("FailureMessage")
    gate = _steps(done)["gate"]
    assert gate["Outputs"]["ApprovalStatus"] == ["Approved"]
    decisions = [json.loads(d) for d in gate["Outputs"]["ApproverDecisions"]]
    assert decisions[0]["Approver"] == _access_key(dev) and decisions[0]["Comment"] == "looks good"


def test_reject_fails_the_execution(dev):
    execution_id = _start(dev, _create(dev, APPROVE.replace("APPROVER", _access_key(dev))))
    _wait(dev, execution_id, {"Waiting"})
    _signal(dev, execution_id, "Reject", Comment="not today")
    done = _wait(dev, execution_id)
    assert done["AutomationExecutionStatus"] == "Failed"
    assert "rejected" in done["FailureMessage"] and "not today" in done["FailureMessage"]
    assert _steps(done)["gate"]["StepStatus"] == "Failed"
    assert "done" not in _steps(done) or _steps(done)["done"]["StepStatus"] == "Pending"


def test_signal_errors_and_a_non_approver(dev):
    _refused(dev.ssm.send_automation_signal, "AutomationExecutionNotFoundException",
             AutomationExecutionId=str(uuid.uuid4()), SignalType="Resume")
    execution_id = _start(dev, _create(dev, APPROVE))
    _wait(dev, execution_id, {"Waiting"})
    message = _refused(dev.ssm.send_automation_signal, "InvalidAutomationSignalException",
                       AutomationExecutionId=execution_id, SignalType="Approve")
    assert "approver" in message
    _refused(dev.ssm.send_automation_signal, "AutomationStepNotFoundException",
             AutomationExecutionId=execution_id, SignalType="Resume", Payload={"StepName": ["nope"]})
    dev.ssm.stop_automation_execution(AutomationExecutionId=execution_id, Type="Cancel")
    assert _wait(dev, execution_id)["AutomationExecutionStatus"] == "Cancelled"


def test_stop_while_paused_cancels(dev):
    execution_id = _start(dev, _create(dev, PAUSE_THEN_SCRIPT))
    _wait(dev, execution_id, {"Waiting"})
    dev.ssm.stop_automation_execution(AutomationExecutionId=execution_id, Type="Cancel")
    done = _wait(dev, execution_id)
    assert done["AutomationExecutionStatus"] == "Cancelled"
    assert _steps(done)["hold"]["StepStatus"] == "Cancelled"
