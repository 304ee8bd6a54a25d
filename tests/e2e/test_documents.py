"""Command documents: create (YAML 2.2 and JSON), typed parameters, versions, default version, describe/get/list,
delete, reserved names, and allowedPattern as the guard against injection through `{{ param }}`."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from e2e_support import error_code, error_message

YAML_DOC = """\
schemaVersion: "2.2"
description: "e2e: typed parameters"
parameters:
  greeting:
    type: String
    description: "How to greet"
    allowedValues:
      - hello
      - hi
    default: hello
  names:
    type: StringList
    default:
      - world
  count:
    type: Integer
    default: 1
  who:
    type: String
    description: "Required, letters only"
    allowedPattern: "^[a-z]+$"
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand:
        - "for i in $(seq {{ count }}); do echo '{{ greeting }} {{ who }}'; done"
        - "echo 'names={{ names }}'"
"""

JSON_DOC_V1 = {
    "schemaVersion": "2.2",
    "description": "e2e: JSON document",
    "parameters": {"word": {"type": "String", "default": "one", "allowedPattern": "^[a-z]+$"}},
    "mainSteps": [{"action": "aws:runShellScript", "name": "say",
                   "inputs": {"runCommand": ["echo v1 {{ word }}"]}}],
}


def _json_doc(version_text: str) -> str:
    doc = json.loads(json.dumps(JSON_DOC_V1))
    doc["mainSteps"][0]["inputs"]["runCommand"] = [f"echo {version_text} {{{{ word }}}}"]
    return json.dumps(doc, indent=2)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _run(dev, name, parameters, version=None):
    kw = {"DocumentVersion": version} if version else {}
    sent = dev.ssm.send_command(DocumentName=name, InstanceIds=[dev.dev_instance_id], Parameters=parameters,
                                **kw)["Command"]
    inv = dev.wait_invocation(sent["CommandId"], dev.dev_instance_id)
    return sent, inv


@pytest.fixture(scope="module")
def yaml_doc(dev, tmp_path_factory):
    name = _name("E2E-Greet")
    path = tmp_path_factory.mktemp("docs") / "greet.yaml"
    path.write_text(YAML_DOC)
    created = dev.aws("ssm", "create-document", "--name", name, "--content", f"file://{path}",
                      "--document-format", "YAML", "--document-type", "Command")
    return name, created["DocumentDescription"]


def test_create_yaml_schema_22_document_describes_its_parameters(dev, yaml_doc):
    name, desc = yaml_doc
    assert desc["Name"] == name
    assert desc["Status"] in ("Creating", "Active")
    assert desc["DocumentVersion"] == "1" and desc["LatestVersion"] == "1" and desc["DefaultVersion"] == "1"
    assert desc["DocumentFormat"] == "YAML" and desc["DocumentType"] == "Command"
    assert desc["SchemaVersion"] == "2.2"
    assert desc["HashType"] == "Sha256" and desc["Hash"] == hashlib.sha256(YAML_DOC.encode()).hexdigest()
    assert desc["Owner"] and desc["Owner"] != "Amazon"
    params = {p["Name"]: p for p in desc["Parameters"]}
    assert set(params) == {"greeting", "names", "count", "who"}
    assert params["greeting"]["Type"] == "String" and params["greeting"]["DefaultValue"] == "hello"
    assert params["names"]["Type"] == "StringList"
    assert params["count"]["Type"] in ("Integer", "String"), params["count"]
    assert params["who"].get("DefaultValue") in (None, ""), "a required parameter has no default"


def test_yaml_document_runs_with_good_parameters(dev, yaml_doc):
    name, _ = yaml_doc
    sent, inv = _run(dev, name, {"greeting": ["hi"], "names": ["a", "b"], "count": ["2"], "who": ["bob"]})
    assert inv["Status"] == "Success", inv
    assert inv["StandardOutputContent"] == 'hi bob\nhi bob\nnames=["a","b"]\n', inv
    assert sent["Parameters"]["greeting"] == ["hi"] and sent["Parameters"]["names"] == ["a", "b"]
    by_step = dev.get_invocation(sent["CommandId"], dev.dev_instance_id, PluginName="greet")
    assert by_step["StandardOutputContent"] == inv["StandardOutputContent"]
    # Defaults fill what is not given.
    _, inv = _run(dev, name, {"who": ["amy"]})
    assert inv["StandardOutputContent"] == 'hello amy\nnames=["world"]\n', inv


BAD_PARAMS = [
    ("value_not_in_allowed_values", {"greeting": ["hey"], "who": ["bob"]}, "greeting"),
    ("integer_that_is_not_a_number", {"count": ["many"], "who": ["bob"]}, "count"),
    ("missing_required_parameter", {"greeting": ["hi"]}, "who"),
    ("injection_blocked_by_allowed_pattern", {"who": ["bob; touch /tmp/pwned-e2e"]}, "who"),
    ("undeclared_parameter", {"who": ["bob"], "extra": ["1"]}, "extra"),
]


@pytest.mark.parametrize("parameters,named", [c[1:] for c in BAD_PARAMS], ids=[c[0] for c in BAD_PARAMS])
def test_yaml_document_refuses_bad_parameters(dev, yaml_doc, parameters, named):
    name, _ = yaml_doc
    before = dev.command_count()
    with pytest.raises(ClientError) as e:
        dev.ssm.send_command(DocumentName=name, InstanceIds=[dev.dev_instance_id], Parameters=parameters)
    assert error_code(e.value) == "InvalidParameters", e.value.response
    assert named in error_message(e.value), error_message(e.value)
    assert dev.command_count() == before


def test_json_document_versions_update_default_version_and_duplicate_content(dev, tmp_path):
    name = _name("E2E-Json")
    v1 = json.dumps(JSON_DOC_V1, indent=2)
    created = dev.ssm.create_document(Name=name, Content=v1, DocumentType="Command")["DocumentDescription"]
    assert created["DocumentFormat"] == "JSON" and created["DocumentVersion"] == "1"
    _, inv = _run(dev, name, {"word": ["alpha"]})
    assert inv["StandardOutputContent"] == "v1 alpha\n", inv

    v2_path = tmp_path / "v2.json"
    v2_path.write_text(_json_doc("v2"))
    updated = dev.aws("ssm", "update-document", "--name", name, "--content", f"file://{v2_path}",
                      "--document-version", "$LATEST")["DocumentDescription"]
    assert updated["DocumentVersion"] == "2" and updated["LatestVersion"] == "2", updated
    assert updated["DefaultVersion"] == "1", "UpdateDocument does not move the default version"
    r = dev.aws_error("ssm", "update-document", "--name", name, "--content", f"file://{v2_path}",
                      "--document-version", "$LATEST")
    assert r.error_code == "DuplicateDocumentContent", r.stderr

    _, inv = _run(dev, name, {})
    assert inv["StandardOutputContent"] == "v1 one\n", "without a version the default (1) runs"
    _, inv = _run(dev, name, {}, version="2")
    assert inv["StandardOutputContent"] == "v2 one\n"
    _, inv = _run(dev, name, {}, version="$LATEST")
    assert inv["StandardOutputContent"] == "v2 one\n"

    out = dev.aws("ssm", "update-document-default-version", "--name", name, "--document-version", "2")
    assert out["Description"]["DefaultVersion"] == "2", out
    described = dev.aws("ssm", "describe-document", "--name", name)["Document"]
    assert described["DefaultVersion"] == "2" and described["LatestVersion"] == "2"
    sent, inv = _run(dev, name, {})
    assert inv["StandardOutputContent"] == "v2 one\n" and sent["DocumentVersion"] == "2"

    got = dev.aws("ssm", "get-document", "--name", name, "--document-version", "1")
    assert got["Content"] == v1 and got["DocumentVersion"] == "1" and got["DocumentFormat"] == "JSON"
    got = dev.aws("ssm", "get-document", "--name", name)
    assert json.loads(got["Content"]) == json.loads(_json_doc("v2")) and got["DocumentVersion"] == "2"
    versions = dev.ssm.list_document_versions(Name=name)["DocumentVersions"]
    assert sorted(v["DocumentVersion"] for v in versions) == ["1", "2"]
    assert [v["IsDefaultVersion"] for v in versions if v["DocumentVersion"] == "2"] == [True]

    r = dev.aws_error("ssm", "update-document-default-version", "--name", name, "--document-version", "7")
    assert r.error_code == "InvalidDocumentVersion", r.stderr


def test_list_documents_owner_filters(dev, yaml_doc):
    name, _ = yaml_doc
    mine = dev.aws("ssm", "list-documents", "--filters", "Key=Owner,Values=Self")["DocumentIdentifiers"]
    mine_names = {d["Name"] for d in mine}
    assert name in mine_names and "AWS-RunShellScript" not in mine_names
    amazon = dev.aws("ssm", "list-documents", "--filters", "Key=Owner,Values=Amazon")["DocumentIdentifiers"]
    by_name = {d["Name"]: d for d in amazon}
    assert "AWS-RunShellScript" in by_name and name not in by_name
    shell = by_name["AWS-RunShellScript"]
    assert shell["Owner"] == "Amazon" and shell["DocumentType"] == "Command"
    assert "Linux" in shell.get("PlatformTypes", [])
    prefix = dev.ssm.list_documents(Filters=[{"Key": "Name", "Values": [name[:12]]}])["DocumentIdentifiers"]
    assert name in {d["Name"] for d in prefix}
    everything = dev.aws("ssm", "list-documents")["DocumentIdentifiers"]
    assert {name, "AWS-RunShellScript"} <= {d["Name"] for d in everything}


def test_describe_and_get_aws_run_shell_script(dev):
    doc = dev.aws("ssm", "describe-document", "--name", "AWS-RunShellScript")["Document"]
    assert doc["Owner"] == "Amazon" and doc["Status"] == "Active" and doc["DocumentType"] == "Command"
    assert {p["Name"] for p in doc["Parameters"]} >= {"commands", "workingDirectory", "executionTimeout"}
    got = dev.aws("ssm", "get-document", "--name", "AWS-RunShellScript")
    content = json.loads(got["Content"])
    assert content["schemaVersion"] == "1.2"
    assert "allowedPattern" in content["parameters"]["executionTimeout"]


def test_delete_document_then_it_is_gone(dev):
    name = _name("E2E-Doomed")
    dev.ssm.create_document(Name=name, Content=json.dumps(JSON_DOC_V1), DocumentType="Command")
    assert dev.aws("ssm", "delete-document", "--name", name) == {}
    r = dev.aws_error("ssm", "describe-document", "--name", name)
    assert r.error_code == "InvalidDocument", r.stderr
    with pytest.raises(ClientError) as e:
        dev.ssm.send_command(DocumentName=name, InstanceIds=[dev.dev_instance_id])
    assert error_code(e.value) == "InvalidDocument"
    listed = {d["Name"] for d in dev.ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Self"]}])
              ["DocumentIdentifiers"]}
    assert name not in listed


def test_reserved_name_prefix_aws_is_refused(dev):
    r = dev.aws_error("ssm", "create-document", "--name", "AWS-Mine", "--content", json.dumps(JSON_DOC_V1))
    assert r.error_code, r.stderr
    assert "reserved" in r.stderr.lower() or "prefix" in r.stderr.lower(), r.stderr
    r = dev.aws_error("ssm", "describe-document", "--name", "AWS-Mine")
    assert r.error_code == "InvalidDocument", "the refused document must not exist"


def test_amazon_owned_document_cannot_be_deleted_or_updated(dev):
    r = dev.aws_error("ssm", "delete-document", "--name", "AWS-RunShellScript")
    assert r.error_code in ("InvalidDocumentOperation", "InvalidDocument"), r.stderr
    r = dev.aws_error("ssm", "update-document", "--name", "AWS-RunShellScript",
                      "--content", json.dumps(JSON_DOC_V1), "--document-version", "$LATEST")
    assert r.error_code in ("InvalidDocumentOperation", "InvalidDocument"), r.stderr
    doc = dev.ssm.describe_document(Name="AWS-RunShellScript")["Document"]
    assert doc["LatestVersion"] == "1"


def test_create_document_with_invalid_content_is_invalid_document_content(dev):
    name = _name("E2E-Broken")
    with pytest.raises(ClientError) as e:
        dev.ssm.create_document(Name=name, Content="{not json", DocumentType="Command")
    assert error_code(e.value) == "InvalidDocumentContent", e.value.response
    with pytest.raises(ClientError) as e:
        dev.ssm.create_document(Name=name, Content=json.dumps({"schemaVersion": "2.2", "mainSteps": "nope"}),
                                DocumentType="Command")
    assert error_code(e.value) in ("InvalidDocumentContent", "InvalidDocumentSchemaVersion"), e.value.response
    with pytest.raises(ClientError) as e:
        dev.ssm.describe_document(Name=name)
    assert error_code(e.value) == "InvalidDocument"


def test_create_document_twice_is_document_already_exists(dev, yaml_doc):
    name, _ = yaml_doc
    with pytest.raises(ClientError) as e:
        dev.ssm.create_document(Name=name, Content=json.dumps(JSON_DOC_V1), DocumentType="Command")
    assert error_code(e.value) == "DocumentAlreadyExists", e.value.response
