"""SecureString parameters in commands: `{{ssm:…}}` resolved at send time, `{{ssm-secure:…}}` resolved only on the
agent, and the leak test: a distinctive secret that a script echoes to stdout and stderr and writes to a file it then
cats appears nowhere — not in API responses, the object store, the SQLite file, the logs, the agent's directories,
or any process's command line — while the script itself saw the right value."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from conftest import _harness
from e2e_support import DevCluster, signed_http, wait_for


@pytest.fixture(scope="module")
def leaky(request, fleetrun_bin):
    """A dev cluster of its own, logging at debug level, so that the whole data directory and log can be searched."""
    h = _harness(request, fleetrun_bin, "secrets")
    dev = DevCluster(h)
    dev.extra_env = {"FLEETRUN_LOG": "debug"}
    dev.start()
    return dev


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                pass
    return hits


def _cmdlines_containing(needle: bytes) -> list[str]:
    hits = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "cmdline").read_bytes():
                    hits.append(proc.name)
            except OSError:
                pass
    return hits


def test_a_secure_string_never_leaks_yet_the_script_sees_it(leaky, tmp_path):
    dev = leaky
    secret = f"Fl33t-{uuid.uuid4().hex}-s3cret"
    needle = secret.encode()
    name = f"/leak/{uuid.uuid4().hex[:8]}/token"
    dev.aws("ssm", "put-parameter", "--name", name, "--type", "SecureString", "--value", secret)

    ref = f"{{{{ssm-secure:{name}}}}}"
    scratch = tmp_path / "scratch.txt"
    seen_cmdline = tmp_path / "cmdline.txt"
    script = [
        f'echo "out:{ref}"',
        f'echo "err:{ref}" >&2',
        f'printf "%s" "{ref}" | sha256sum | cut -d" " -f1 | sed "s/^/sha:/"',
        f'printf "%s\\n" "{ref}" > {scratch}',
        f"cat {scratch}",
        f"rm -f {scratch}",
        f"tr '\\0' ' ' < /proc/$$/cmdline > {seen_cmdline}",
        "sleep 2",
    ]
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids",
                   dev.dev_instance_id, "--parameters", json.dumps({"commands": script}))
    command_id = sent["Command"]["CommandId"]

    # While the script sleeps, no process on the machine has the value on its command line.
    wait_for(lambda: seen_cmdline.exists(), timeout=20, what="the script to start")
    assert _cmdlines_containing(needle) == []
    inv = dev.wait_invocation(command_id, dev.dev_instance_id)
    assert inv["Status"] == "Success", inv

    stdout = inv["StandardOutputContent"]
    assert f"sha:{hashlib.sha256(needle).hexdigest()}" in stdout, "the script saw the right value"
    assert "out:****" in stdout and "****\n" in stdout, stdout
    assert "err:****" in inv["StandardErrorContent"], inv
    assert secret not in seen_cmdline.read_text()

    # API responses: the command, its invocations with details, the parameter without decryption.
    responses = [
        json.dumps(inv),
        json.dumps(dev.aws("ssm", "list-commands", "--command-id", command_id)),
        json.dumps(dev.aws("ssm", "list-command-invocations", "--command-id", command_id, "--details")),
        json.dumps(dev.aws("ssm", "get-parameter", "--name", name)),
        json.dumps(dev.aws("ssm", "get-parameter-history", "--name", name)),
        json.dumps(dev.aws("ssm", "describe-parameters")),
    ]
    assert all(secret not in r for r in responses)
    assert ref in json.dumps(dev.get_command(command_id)["Parameters"]), "the reference, not the value, is stored"

    # Full output (object store), the SQLite file and its WAL, the agent's state and orchestration directories,
    # the key file: everything fleetrun keeps on disk, searched as raw bytes. Then the server and agent log.
    assert _files_containing(dev.data_dir, needle) == []
    # Access-key secrets are sealed in the database too (they live in clear only in the 0600 credential files).
    agent_secret = json.loads((dev.data_dir / "agent" / "identity.json").read_text())["secret_access_key"]
    for secret in (dev.secret, agent_secret):
        assert [f for f in _files_containing(dev.data_dir, secret.encode()) if "fleetrun.db" in f] == []
    log = dev.server_proc.log_path.read_bytes()
    assert b"SecureString values released" in log, "the log was at debug level and saw the release"
    assert needle not in log


def test_ssm_references_resolve_at_send_and_bad_ones_refuse_the_command(leaky):
    dev = leaky
    base = f"/refs/{uuid.uuid4().hex[:8]}"
    dev.ssm.put_parameter(Name=f"{base}/greeting", Type="String", Value="hello from parameter store")
    dev.ssm.put_parameter(Name=f"{base}/secret", Type="SecureString", Value="not-for-ssm-refs")

    sent = dev.send_shell(f"echo {{{{ssm:{base}/greeting}}}}", instance_ids=[dev.dev_instance_id])
    assert sent["Parameters"]["commands"] == ["echo hello from parameter store"], "visible like any value"
    inv = dev.wait_invocation(sent["CommandId"], dev.dev_instance_id)
    assert inv["StandardOutputContent"] == "hello from parameter store\n", inv

    refused = [
        (f"{{{{ssm:{base}/missing}}}}", "does not exist or not found"),
        (f"{{{{ssm-secure:{base}/missing}}}}", "not found"),
        (f"{{{{ssm-secure:{base}/greeting}}}}", "not a SecureString"),
        (f"{{{{ssm:{base}/secret}}}}", "is a SecureString"),
    ]
    before = len(dev.all_commands())
    for text, why in refused:
        result = dev.aws_error("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids",
                               dev.dev_instance_id, "--parameters", json.dumps({"commands": [f"echo {text}"]}))
        assert result.error_code == "InvalidParameters", (text, result.stderr)
        assert text in result.stderr, result.stderr
        assert any(w in result.stderr for w in why.split(" or ")), (text, result.stderr)
        assert "not-for-ssm-refs" not in result.stderr
    assert len(dev.all_commands()) == before, "a refused command stores nothing"


def test_only_a_node_running_a_command_that_references_a_secret_can_read_it(leaky):
    """The agent call that returns plaintext refuses other callers, other names, and finished invocations."""
    dev = leaky
    name = f"/gate/{uuid.uuid4().hex[:8]}"
    other = f"/gate/{uuid.uuid4().hex[:8]}"
    for n in (name, other):
        dev.ssm.put_parameter(Name=n, Type="SecureString", Value=f"value-of-{n}")
    sent = dev.send_shell([f'test -n "{{{{ssm-secure:{name}}}}}"', "sleep 3"], instance_ids=[dev.dev_instance_id])
    command_id = sent["CommandId"]
    dev.wait_invocation(command_id, dev.dev_instance_id, statuses={"InProgress"})
    identity = json.loads((dev.data_dir / "agent" / "identity.json").read_text())
    url = dev.url + "/agent/v1/secure-parameters"

    def ask(names, key=identity["access_key_id"], secret=identity["secret_access_key"]):
        body = json.dumps({"command_id": command_id, "names": names}).encode()
        return signed_http("POST", url, key, secret, {"Content-Type": "application/json"}, body, service="fleetrun")

    granted = ask([name])
    assert granted.status == 200 and granted.json()["values"][0]["value"] == f"value-of-{name}", granted.text
    assert ask([other]).status == 403, "a parameter the command does not reference"
    assert ask([name], key=dev.key_id, secret=dev.secret).status == 403, "an admin key is not a node"
    unsigned = signed_http("POST", url, "AKNOTAKEY", "nope", {"Content-Type": "application/json"},
                           json.dumps({"command_id": command_id, "names": [name]}).encode(), service="fleetrun")
    assert (unsigned.status, unsigned.error_type) == (400, "UnrecognizedClientException"), "an unknown key"
    dev.wait_invocation(command_id, dev.dev_instance_id)
    assert ask([name]).status == 403, "once the invocation has finished"
