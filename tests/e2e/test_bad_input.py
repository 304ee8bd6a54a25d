"""Bad input and bad credentials: each gets a clear AWS-style error, and nothing is stored (ListCommands count
unchanged)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from e2e_support import error_code, error_message, signed_http, ssm_raw

SHELL = "AWS-RunShellScript"


@pytest.fixture(scope="module")
def nodes(dev):
    """The dev agent plus a second agent, whose identities (agent keys) some tests borrow."""
    other = dev.start_agent("other")
    return dev, other


@pytest.fixture
def unchanged(dev):
    """Asserts at the end of the test that no command was stored."""
    before = dev.command_count()
    yield
    after = dev.command_count()
    assert after == before, f"a refused request stored something: ListCommands went from {before} to {after}"


def _base(dev, **overrides):
    req = dict(DocumentName=SHELL, InstanceIds=[dev.dev_instance_id], Parameters={"commands": ["echo hi"]})
    req.update(overrides)
    return {k: v for k, v in req.items() if v is not None}


def _send_error(dev, **request) -> ClientError:
    # Client-side validation off: botocore would refuse some of these before sending.
    client = dev.client(validate=False)
    with pytest.raises(ClientError) as e:
        client.send_command(**request)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.value.response
    assert error_message(e.value), "an error needs a message"
    return e.value


# (test id, request overrides, expected code, words the message must contain)
SEND_CASES = [
    ("missing_document_name", dict(DocumentName=None), "ValidationException", ["documentName"]),
    ("unknown_document", dict(DocumentName="No-Such-Document"), "InvalidDocument", []),
    ("unknown_document_version", dict(DocumentVersion="99"), "InvalidDocumentVersion", []),
    ("execution_timeout_violating_allowed_pattern",
     dict(Parameters={"commands": ["echo hi"], "executionTimeout": ["3600; rm -rf /"]}),
     "InvalidParameters", ["executionTimeout"]),
    ("undeclared_parameter", dict(Parameters={"commands": ["echo hi"], "bogusParam": ["x"]}),
     "InvalidParameters", ["bogusParam"]),
    ("more_than_50_instance_ids", dict(InstanceIds=[f"i-{n:08x}" for n in range(51)]),
     "ValidationException", []),
    ("duplicate_instance_ids", dict(InstanceIds=["i-abcd1234", "i-abcd1234"]), "DuplicateInstanceId", []),
    ("malformed_instance_id", dict(InstanceIds=["i-xyz"]), "InvalidInstanceId", []),
    ("unknown_well_formed_instance_id", dict(InstanceIds=["i-0123456789abcdef0"]), "InvalidInstanceId", []),
    ("timeout_seconds_below_30", dict(TimeoutSeconds=5), "ValidationException", ["timeoutSeconds"]),
    ("max_concurrency_zero", dict(MaxConcurrency="0"), "ValidationException", ["maxConcurrency"]),
    ("max_concurrency_not_a_number", dict(MaxConcurrency="abc"), "ValidationException", ["maxConcurrency"]),
    ("max_errors_101_percent", dict(MaxErrors="101%"), "ValidationException", ["maxErrors"]),
]


@pytest.mark.parametrize("overrides,code,words", [c[1:] for c in SEND_CASES], ids=[c[0] for c in SEND_CASES])
def test_send_command_refuses(dev, unchanged, overrides, code, words):
    error = _send_error(dev, **_base(dev, **overrides))
    assert error_code(error) == code, error.response
    for word in words:
        assert word.lower() in error_message(error).lower(), f"message should name {word}: {error_message(error)}"


def test_cli_send_command_refuses_injection_through_execution_timeout_naming_the_parameter(dev, unchanged):
    r = dev.aws_error("ssm", "send-command", "--document-name", SHELL, "--instance-ids", dev.dev_instance_id,
                      "--parameters", json.dumps({"commands": ["echo hi"], "executionTimeout": ["3600; rm -rf /"]}))
    assert r.error_code == "InvalidParameters", r.stderr
    assert "executionTimeout" in r.stderr
    assert "when calling the SendCommand operation" in r.stderr


def test_cli_send_command_refuses_an_unknown_instance_id(dev, unchanged):
    r = dev.aws_error("ssm", "send-command", "--document-name", SHELL, "--instance-ids", "i-0123456789abcdef0",
                      "--parameters", "commands=echo hi")
    assert r.error_code == "InvalidInstanceId", r.stderr


def test_malformed_json_body_is_a_serialization_exception(dev, unchanged):
    r = ssm_raw(dev.url, "AmazonSSM.SendCommand", b'{"DocumentName": "AWS-RunShellScript", ', dev.key_id,
                dev.secret)
    assert r.status == 400, (r.status, r.text)
    assert r.error_type == "SerializationException", r.text


def test_json_body_that_is_not_an_object_is_refused(dev, unchanged):
    r = ssm_raw(dev.url, "AmazonSSM.SendCommand", b'["AWS-RunShellScript"]', dev.key_id, dev.secret)
    assert r.status == 400 and r.error_type, (r.status, r.text)


def test_unknown_operation_is_unknown_operation_exception(dev, unchanged):
    r = ssm_raw(dev.url, "AmazonSSM.Nope", b"{}", dev.key_id, dev.secret)
    assert r.status == 400, (r.status, r.text)
    assert r.error_type == "UnknownOperationException", r.text


def test_unsigned_cli_request_is_refused_and_stores_nothing(dev, unchanged):
    r = dev.aws_error("ssm", "send-command", "--document-name", SHELL, "--instance-ids", dev.dev_instance_id,
                      "--parameters", "commands=echo unsigned", global_args=["--no-sign-request"])
    assert r.error_code == "MissingAuthenticationTokenException", r.stderr
    raw = ssm_raw(dev.url, "AmazonSSM.ListCommands", b"{}", None, None, sign=False)
    assert raw.status in (400, 403) and raw.error_type == "MissingAuthenticationTokenException", raw.text


def test_wrong_secret_is_invalid_signature(dev, unchanged):
    client = dev.client(secret="not-the-secret-" + "x" * 25)
    with pytest.raises(ClientError) as e:
        client.send_command(**_base(dev))
    assert error_code(e.value) in ("InvalidSignatureException", "SignatureDoesNotMatch"), e.value.response


def test_unknown_access_key_is_unrecognized_client(dev, unchanged):
    client = dev.client(key="AKIAUNKNOWNKEY000000", secret="whatever-secret")
    with pytest.raises(ClientError) as e:
        client.list_commands()
    assert error_code(e.value) == "UnrecognizedClientException", e.value.response
    r = dev.aws_error("ssm", "list-commands", env=dev.cli_env({"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"}))
    assert r.error_code == "UnrecognizedClientException", r.stderr


def test_oversize_body_over_1_mib_is_refused(dev, unchanged):
    body = json.dumps({"DocumentName": SHELL, "InstanceIds": [dev.dev_instance_id],
                       "Parameters": {"commands": ["echo " + "x" * (1 << 20)]}}).encode()
    assert len(body) > 1 << 20
    r = ssm_raw(dev.url, "AmazonSSM.SendCommand", body, dev.key_id, dev.secret)
    assert r.status in (400, 413), (r.status, r.text[:300])
    assert r.error_type, f"the refusal should be an AWS-style JSON error: {r.text[:300]}"


def test_agent_credentials_on_the_ssm_api_are_access_denied(nodes, unchanged):
    dev, other = nodes
    identity = other.identity()
    client = dev.client(key=identity["access_key_id"], secret=identity["secret_access_key"])
    with pytest.raises(ClientError) as e:
        client.send_command(**_base(dev))
    assert error_code(e.value) == "AccessDeniedException", e.value.response
    with pytest.raises(ClientError) as e:
        client.list_commands()
    assert error_code(e.value) == "AccessDeniedException", e.value.response


def test_agent_key_cannot_fetch_another_agents_output_url(nodes):
    dev, other = nodes
    sent = dev.send_shell("echo secret-of-dev-node", instance_ids=[dev.dev_instance_id])
    inv = dev.wait_invocation(sent["CommandId"], dev.dev_instance_id)
    assert inv["Status"] == "Success"
    url = inv["StandardOutputUrl"]
    admin = signed_http("GET", url, dev.key_id, dev.secret)
    assert admin.status == 200 and admin.text == "secret-of-dev-node\n"
    identity = other.identity()
    r = signed_http("GET", url, identity["access_key_id"], identity["secret_access_key"])
    assert r.status in (401, 403), (r.status, r.text)
    assert "secret-of-dev-node" not in r.text



def test_unknown_command_id_in_list_and_get_operations(nodes):
    dev, other = nodes
    unknown = "00000000-0000-4000-8000-000000000000"
    r = dev.aws_error("ssm", "list-commands", "--command-id", unknown)
    assert r.error_code == "InvalidCommandId", r.stderr
    r = dev.aws_error("ssm", "list-command-invocations", "--command-id", unknown)
    assert r.error_code == "InvalidCommandId", r.stderr
    r = dev.aws_error("ssm", "get-command-invocation", "--command-id", unknown, "--instance-id", dev.dev_instance_id)
    assert r.error_code == "InvocationDoesNotExist", r.stderr
    # A real command, asked about a node it was not sent to.
    sent = dev.send_shell("true", instance_ids=[dev.dev_instance_id])
    r = dev.aws_error("ssm", "get-command-invocation", "--command-id", sent["CommandId"],
                      "--instance-id", other.instance_id)
    assert r.error_code == "InvocationDoesNotExist", r.stderr
    r = dev.aws_error("ssm", "get-command-invocation", "--command-id", sent["CommandId"],
                      "--instance-id", dev.dev_instance_id, "--plugin-name", "aws:noSuchPlugin")
    assert r.error_code == "InvalidPluginName", r.stderr
