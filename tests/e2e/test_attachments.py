"""Automation document attachments (issue #6): CreateDocument/UpdateDocument `Attachments` from S3 (`s3://`, an
https URL under the S3 endpoint, a prefix), from a local file (`file://`, allowed by `fleetrun dev`, refused by a default `fleetrun server`)
and from another document (`AttachmentReference`); the runbook's `files` checksums enforced at CreateDocument;
GetDocument `AttachmentsContent` and its download URL; `aws:executeScript` running a `.py` attachment
(`Handler: helper.handler`) and a `.zip` with a package (`Handler: main.handler`).

The S3 tests share one `fleetrun dev` started with `s3s-fs`'s address and credentials in its environment (the
server fetches attachments itself); the refusal of `file://` without the opt-in uses a standalone `fleetrun server`."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import _harness
from e2e_support import DevCluster, Retry, error_code, error_message, signed_http, wait_for
from sources import S3Server

TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled"}
BUCKET = "runbook-files"

HELPER_PY = b"""\
import platform


def handler(events, context):
    print("helper says hello to", events["who"])
    return {"greeting": "hello " + events["who"], "python": platform.python_version()}
"""

MAIN_PY = b"""\
import util
from pkg import shout


def handler(events, context):
    return {"message": shout(util.twice(events["word"]))}
"""
UTIL_PY = b"def twice(word):\n    return word + ' ' + word\n"
PKG_INIT_PY = b"def shout(text):\n    return text.upper() + '!'\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("main.py", MAIN_PY)
        z.writestr("util.py", UTIL_PY)
        z.writestr("pkg/__init__.py", PKG_INIT_PY)
    return buffer.getvalue()


BUNDLE_ZIP = _zip()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _runbook(attachment: str, data: bytes, handler: str, payload: dict, selector: str, sha: str | None = None) -> str:
    return json.dumps({
        "schemaVersion": "0.3",
        "description": f"runs attachment {attachment}",
        "files": {attachment: {"checksums": {"sha256": sha or _sha(data)}, "size": len(data)}},
        "mainSteps": [{
            "name": "run",
            "action": "aws:executeScript",
            "inputs": {"Runtime": "python3.11", "Handler": handler, "Attachment": attachment,
                       "InputPayload": payload},
            "outputs": [{"Name": "Result", "Selector": selector, "Type": "String"}],
        }],
        "outputs": ["run.Result"],
    })


HELPER_DOC = _runbook("helper.py", HELPER_PY, "helper.handler", {"who": "fleetrun"}, "$.Payload.greeting")
ZIP_DOC = _runbook("bundle.zip", BUNDLE_ZIP, "main.handler", {"word": "ping"}, "$.Payload.message")


def _name(tag: str) -> str:
    return f"e2e-att-{tag}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3dev(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "attachments")
    s3 = S3Server(h)
    s3.put(BUCKET, "scripts/helper.py", HELPER_PY)
    s3.put(BUCKET, "bundles/bundle.zip", BUNDLE_ZIP)
    s3.put(BUCKET, "multi/helper.py", HELPER_PY)
    s3.put(BUCKET, "multi/notes.txt", "just a note\n")
    s3.put(BUCKET, "multi/deeper/ignored.txt", "not directly under the prefix\n")
    dev = DevCluster(h)
    dev.extra_env = s3.node_env()
    dev.start()
    return dict(dev=dev, s3=s3)


def _run(dev, name: str, timeout: float = 60) -> dict:
    execution_id = dev.ssm.start_automation_execution(DocumentName=name)["AutomationExecutionId"]

    def probe():
        e = dev.ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if e["AutomationExecutionStatus"] in TERMINAL:
            return e
        raise Retry({k: e.get(k) for k in ("AutomationExecutionStatus", "CurrentStepName", "FailureMessage")})

    return wait_for(probe, timeout, f"automation {execution_id} to end", dev.diag)


def _create_cli(dev, tmp_path: Path, name: str, content: str, *attachments: str) -> dict:
    doc = tmp_path / f"{name}.json"
    doc.write_text(content)
    args = ["ssm", "create-document", "--name", name, "--document-type", "Automation", "--document-format", "JSON",
            "--content", f"file://{doc}"]
    for attachment in attachments:
        args += ["--attachments", attachment]
    return dev.aws(*args)


def test_py_attachment_from_s3_with_the_cli(s3dev, tmp_path: Path):
    dev = s3dev["dev"]
    name = _name("py")
    created = _create_cli(dev, tmp_path, name, HELPER_DOC, f"Key=SourceUrl,Values=s3://{BUCKET}/scripts/helper.py")
    assert created["DocumentDescription"]["AttachmentsInformation"] == [{"Name": "helper.py"}]
    e = _run(dev, name)
    assert e["AutomationExecutionStatus"] == "Success", e.get("FailureMessage")
    assert e["Outputs"]["run.Result"] == ["hello fleetrun"]
    step = e["StepExecutions"][0]
    assert "helper says hello to fleetrun" in step.get("Response", ""), step


def test_zip_attachment_with_a_package_and_a_sibling_module(s3dev):
    dev, s3 = s3dev["dev"], s3dev["s3"]
    name = _name("zip")
    # The https form, path-style under the S3 endpoint the server is configured with; S3FileUrl as SSM also takes.
    dev.ssm.create_document(Name=name, Content=ZIP_DOC, DocumentType="Automation",
                            Attachments=[{"Key": "S3FileUrl", "Values": [f"{s3.url}/{BUCKET}/bundles/bundle.zip"]}])
    e = _run(dev, name)
    assert e["AutomationExecutionStatus"] == "Success", e.get("FailureMessage")
    assert e["Outputs"]["run.Result"] == ["PING PING!"]


def test_checksum_mismatch_is_refused_at_create_document(s3dev):
    dev = s3dev["dev"]
    name = _name("bad-sum")
    wrong = "0" * 64
    content = _runbook("helper.py", HELPER_PY, "helper.handler", {"who": "x"}, "$.Payload.greeting", sha=wrong)
    with pytest.raises(ClientError) as raised:
        dev.ssm.create_document(Name=name, Content=content, DocumentType="Automation",
                                Attachments=[{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/scripts/helper.py"]}])
    assert error_code(raised.value) == "InvalidDocumentContent"
    message = error_message(raised.value)
    assert f"attachment helper.py sha256 {_sha(HELPER_PY)}" in message, message
    assert "does not match files.helper.py.checksums.sha256" in message, message
    with pytest.raises(ClientError) as gone:
        dev.ssm.get_document(Name=name)
    assert error_code(gone.value) == "InvalidDocument"


def test_get_document_attachments_content_and_download(s3dev):
    dev = s3dev["dev"]
    name = _name("get")
    dev.ssm.create_document(Name=name, Content=HELPER_DOC, DocumentType="Automation",
                            Attachments=[{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/scripts/helper.py"]}])
    got = dev.ssm.get_document(Name=name)
    [content] = got["AttachmentsContent"]
    assert content["Name"] == "helper.py"
    assert content["Size"] == len(HELPER_PY)
    assert content["Hash"] == _sha(HELPER_PY)
    assert content["HashType"] == "Sha256"
    assert content["Url"] == f"{dev.url}/attachments/{name}/1/helper.py"
    downloaded = signed_http("GET", content["Url"], dev.key_id, dev.secret)
    assert downloaded.status == 200, downloaded.text
    assert downloaded.body == HELPER_PY
    unsigned = signed_http("GET", content["Url"], dev.key_id, "not-the-secret")
    # The auth layer answers a bad signature as SSM does (400 InvalidSignatureException).
    assert unsigned.status in (400, 401, 403), unsigned.status
    assert b"helper says hello" not in unsigned.body
    missing = signed_http("GET", f"{dev.url}/attachments/{name}/1/nope.py", dev.key_id, dev.secret)
    assert missing.status == 404


def test_a_prefix_takes_every_object_directly_under_it(s3dev):
    dev = s3dev["dev"]
    name = _name("prefix")
    dev.ssm.create_document(Name=name, Content=HELPER_DOC, DocumentType="Automation",
                            Attachments=[{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/multi"]}])
    got = dev.ssm.get_document(Name=name)
    assert sorted(a["Name"] for a in got["AttachmentsContent"]) == ["helper.py", "notes.txt"]
    e = _run(dev, name)
    assert e["AutomationExecutionStatus"] == "Success", e.get("FailureMessage")


def test_attachment_reference_reuses_another_documents_attachment(s3dev):
    dev = s3dev["dev"]
    source = _name("ref-src")
    dev.ssm.create_document(Name=source, Content=HELPER_DOC, DocumentType="Automation",
                            Attachments=[{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/scripts/helper.py"]}])
    for version in ("1", "$LATEST"):
        name = _name("ref")
        dev.ssm.create_document(
            Name=name, Content=HELPER_DOC, DocumentType="Automation",
            Attachments=[{"Key": "AttachmentReference", "Values": [f"{source}/{version}/helper.py"]}])
        [content] = dev.ssm.get_document(Name=name)["AttachmentsContent"]
        assert content["Hash"] == _sha(HELPER_PY)
        e = _run(dev, name)
        assert e["AutomationExecutionStatus"] == "Success", e.get("FailureMessage")
        assert e["Outputs"]["run.Result"] == ["hello fleetrun"]
    with pytest.raises(ClientError) as raised:
        dev.ssm.create_document(
            Name=_name("ref-bad"), Content=HELPER_DOC, DocumentType="Automation",
            Attachments=[{"Key": "AttachmentReference", "Values": [f"{source}/1/other.py"]}])
    assert error_code(raised.value) == "InvalidDocumentContent"
    assert "has no attachment other.py" in error_message(raised.value)


def test_update_document_gives_the_new_version_its_attachments(s3dev, tmp_path: Path):
    dev = s3dev["dev"]
    name = _name("update")
    dev.ssm.create_document(Name=name, Content=HELPER_DOC, DocumentType="Automation",
                            Attachments=[{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/scripts/helper.py"]}])
    local = tmp_path / "bundle.zip"
    local.write_bytes(BUNDLE_ZIP)
    doc = tmp_path / "v2.json"
    doc.write_text(ZIP_DOC)
    updated = dev.aws("ssm", "update-document", "--name", name, "--document-version", "$LATEST",
                      "--content", f"file://{doc}", "--attachments", f"Key=SourceUrl,Values=file://{local}")
    assert updated["DocumentDescription"]["DocumentVersion"] == "2"
    v1 = dev.ssm.get_document(Name=name, DocumentVersion="1")["AttachmentsContent"]
    v2 = dev.ssm.get_document(Name=name, DocumentVersion="2")["AttachmentsContent"]
    assert [a["Name"] for a in v1] == ["helper.py"]
    assert [(a["Name"], a["Hash"]) for a in v2] == [("bundle.zip", _sha(BUNDLE_ZIP))]
    assert v2[0]["Url"].endswith(f"/attachments/{name}/2/bundle.zip")
    dev.ssm.update_document_default_version(Name=name, DocumentVersion="2")
    e = _run(dev, name)
    assert e["AutomationExecutionStatus"] == "Success", e.get("FailureMessage")
    assert e["Outputs"]["run.Result"] == ["PING PING!"]


def test_bad_attachment_sources(s3dev):
    dev = s3dev["dev"]

    def refused(attachments: list[dict], code: str = "InvalidDocumentContent") -> str:
        with pytest.raises(ClientError) as raised:
            dev.ssm.create_document(Name=_name("bad"), Content=HELPER_DOC, DocumentType="Automation",
                                    Attachments=attachments)
        assert error_code(raised.value) == code, raised.value.response
        return error_message(raised.value)

    assert "names no object" in refused([{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/nothing/here.py"]}])
    assert "neither an s3:// URL" in refused([{"Key": "SourceUrl", "Values": ["https://example.com/x.py"]}])
    assert "named helper.py" in refused([{"Key": "SourceUrl", "Values": [f"s3://{BUCKET}/scripts/helper.py"]},
                                         {"Key": "S3FileUrl", "Values": [f"s3://{BUCKET}/multi/helper.py"]}])
    refused([{"Key": "Nope", "Values": ["x"]}], code="ValidationException")


def test_a_step_whose_attachment_was_not_given_fails_clearly(s3dev):
    dev = s3dev["dev"]
    name = _name("missing")
    dev.ssm.create_document(Name=name, Content=HELPER_DOC, DocumentType="Automation")
    e = _run(dev, name)
    assert e["AutomationExecutionStatus"] == "Failed"
    assert "has no attachment helper.py" in e.get("FailureMessage", ""), e.get("FailureMessage")


def test_file_sources_are_refused_without_the_opt_in(server_cluster, tmp_path: Path):
    """`fleetrun server` refuses file:// sources unless its configuration allows them (`fleetrun dev` does)."""
    local = tmp_path / "helper.py"
    local.write_bytes(HELPER_PY)
    with pytest.raises(ClientError) as raised:
        server_cluster.ssm.create_document(Name=_name("file"), Content=HELPER_DOC, DocumentType="Automation",
                                           Attachments=[{"Key": "SourceUrl", "Values": [f"file://{local}"]}])
    assert error_code(raised.value) == "InvalidDocumentContent"
    assert "allow_file_attachments = true" in error_message(raised.value)
