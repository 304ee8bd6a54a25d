"""AWS-RunRemoteScript end to end: the SSM user guide's examples verbatim through the aws CLI, against a real
S3-compatible server (s3s-fs) and a real git host that also answers the GitHub contents API (githost.py), both
started here; private repositories with a SecureString token, branch and commit options, S3 directories,
Ansible, provenance, output to S3, and the failures an operator must be able to read."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from conftest import _harness
from e2e_support import DevCluster, ssm_raw
from sources import GitHost, MotoS3, S3Server

TOKEN = "ghp_fleetrunTestToken0123456789"

MAIN_PY = """#!/usr/bin/env python3
import os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
helper = subprocess.run([sys.executable, os.path.join(here, "helper.py"), *sys.argv[1:]],
                        capture_output=True, text=True, check=True)
print("mainFile.py got:", " ".join(sys.argv[1:]))
print(helper.stdout, end="")
"""
HELPER_PY = 'import sys\nprint("helper.py got:", " ".join(sys.argv[1:]))\n'
HELLO_RB = 'puts "Hello World from Ruby: #{ARGV.join(\' \')}"\n'
PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: say hello
      debug:
        msg: "hello from the playbook"
"""


@pytest.fixture(scope="module")
def remote(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "remote")
    s3 = S3Server(h)
    git = GitHost(h, TOKEN)
    main = git.repository("TestUser1", "GitHubTestPublic", {
        "scripts/python/complex-script/mainFile.py": MAIN_PY,
        "scripts/python/complex-script/helper.py": HELPER_PY,
        "version.txt": "main-1\n",
    })
    git.repository("TestUser1", "GitHubTestPublic", {"version.txt": "feature\n"}, branch="feature")
    second = git.repository("TestUser1", "GitHubTestPublic", {"version.txt": "main-2\n"})
    git.repository("acme", "private-scripts", {"deploy/run.sh": "#!/bin/sh\necho private deploy \"$@\"\n"},
                   private=True)
    s3.put("scripts", "tree/a.sh", "echo a\n")
    s3.put("scripts", "tree/sub/b.sh", "echo b\n")
    s3.put("scripts", "ansible/webserver.yml", PLAYBOOK)
    s3.put("scripts", "ps/hello.ps1", "Write-Output 'hello from PowerShell'\n")
    (s3.data / "outputs").mkdir()
    dev = DevCluster(h)
    dev.extra_env = {**s3.node_env(), **git.node_env(), "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                     "ANSIBLE_HOME": str(h.path("ansible-home"))}
    dev.start()
    dev.ssm.put_parameter(Name="/github/token", Type="SecureString", Value=TOKEN)
    dev.ssm.put_parameter(Name="/github/wrong", Type="SecureString", Value="ghp_notTheToken")
    return dict(dev=dev, s3=s3, git=git, first_commit=main, second_commit=second)


def _run_remote(dev, parameters: dict, timeout: float = 90) -> tuple[dict, str]:
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunRemoteScript", "--instance-ids",
                   dev.dev_instance_id, "--parameters", json.dumps(parameters))
    command_id = sent["Command"]["CommandId"]
    return dev.wait_invocation(command_id, dev.dev_instance_id, timeout=timeout), command_id


def test_the_user_guides_github_python_example_verbatim(remote):
    """`sourceType GitHub`, a directory whose mainFile.py calls a sibling script, exactly as the SSM guide writes
    it (no getOptions: the repository's default branch)."""
    dev = remote["dev"]
    out = dev.aws_run(
        "ssm", "send-command", "--document-name", "AWS-RunRemoteScript", "--instance-ids", dev.dev_instance_id,
        "--parameters",
        '{"sourceType":["GitHub"],"sourceInfo":["{\\"owner\\":\\"TestUser1\\", \\"repository\\":\\"GitHubTestPublic\\", '
        '\\"path\\": \\"scripts/python/complex-script\\"}"],"commandLine":["mainFile.py argument-1 argument-2 "]}')
    assert out.returncode == 0, out.stderr
    command_id = out.json["Command"]["CommandId"]
    inv = dev.wait_invocation(command_id, dev.dev_instance_id, timeout=90)
    assert inv["Status"] == "Success", inv
    assert inv["StandardOutputContent"] == ("mainFile.py got: argument-1 argument-2\n"
                                            "helper.py got: argument-1 argument-2\n"), inv
    plugins = dev.aws("ssm", "list-command-invocations", "--command-id", command_id, "--details")
    steps = {p["Name"]: p for p in plugins["CommandInvocations"][0]["CommandPlugins"]}
    assert steps["downloadContent"]["Status"] == "Success", steps
    assert steps["runPowerShellScript"]["StatusDetails"] == "Skipped", "a Linux node skips the Windows step"

    # Provenance: the exact commit and the sha256 of every file, through fleetrun's GetCommandInvocation extension.
    body = json.dumps({"CommandId": command_id, "InstanceId": dev.dev_instance_id}).encode()
    raw = ssm_raw(dev.url, "AmazonSSM.GetCommandInvocation", body, dev.key_id, dev.secret).json()
    (fetched,) = raw["Provenance"]
    assert fetched["source_type"] == "GitHub" and fetched["revision"] == remote["second_commit"], fetched
    files = {f["path"]: f["sha256"] for f in fetched["files"]}
    assert files == {"mainFile.py": hashlib.sha256(MAIN_PY.encode()).hexdigest(),
                     "helper.py": hashlib.sha256(HELPER_PY.encode()).hexdigest()}, files

    # The same through fleetrun's CLI.
    cli = subprocess.run([str(dev.h.binary), "provenance", command_id, dev.dev_instance_id], env=dev.cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert remote["second_commit"] in cli.stdout and files["mainFile.py"] in cli.stdout, cli.stdout


def test_the_user_guides_s3_ruby_example_verbatim(request, fleetrun_bin):
    """`sourceType S3` with a path-style URL naming the legacy mixed-case bucket `RubyTest`, fetched from the
    node's configured S3-compatible endpoint with the node's own credentials. s3s-fs refuses such bucket names
    (as S3 does today), so this one runs against moto's S3 server, which still accepts them."""
    h = _harness(request, fleetrun_bin, "ruby")
    moto = MotoS3(h)
    moto.client.create_bucket(Bucket="RubyTest")
    moto.client.put_object(Bucket="RubyTest", Key="scripts/ruby/helloWorld.rb", Body=HELLO_RB.encode())
    dev = DevCluster(h)
    dev.extra_env = moto.node_env()
    dev.start()
    out = dev.aws_run(
        "ssm", "send-command", "--document-name", "AWS-RunRemoteScript", "--instance-ids", dev.dev_instance_id,
        "--parameters",
        '{"sourceType":["S3"],"sourceInfo":["{\\"path\\":\\"https://s3.amazonaws.com/RubyTest/scripts/ruby/helloWorld.rb\\"}"],'
        '"commandLine":["helloWorld.rb argument-1 argument-2"]}')
    assert out.returncode == 0, out.stderr
    inv = dev.wait_invocation(out.json["Command"]["CommandId"], dev.dev_instance_id, timeout=90)
    assert (inv["Status"], inv["StandardOutputContent"]) == (
        "Success", "Hello World from Ruby: argument-1 argument-2\n"), inv


def test_an_s3_directory_downloads_with_its_structure(remote):
    inv, _ = _run_remote(remote["dev"], {
        "sourceType": ["S3"],
        "sourceInfo": [json.dumps({"path": "https://scripts.s3.us-east-1.amazonaws.com/tree"})],
        "commandLine": ["sh a.sh; sh sub/b.sh"]})
    assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", "a\nb\n"), inv


def test_ansible_playbook_from_s3(remote):
    if shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-playbook is missing: scripts/test installs ansible-core (tests/requirements.txt)")
    inv, _ = _run_remote(remote["dev"], {
        "sourceType": ["S3"],
        "sourceInfo": [json.dumps({"path": "https://s3.amazonaws.com/scripts/ansible/webserver.yml"})],
        "commandLine": ['ansible-playbook -i "localhost," --check -c local webserver.yml']}, timeout=180)
    assert inv["Status"] == "Success", inv
    assert "hello from the playbook" in inv["StandardOutputContent"], inv


def test_a_private_repository_with_a_securestring_token(remote):
    dev = remote["dev"]
    info = {"owner": "acme", "repository": "private-scripts", "path": "deploy", "tokenInfo": "{{ssm-secure:/github/token}}"}
    inv, command_id = _run_remote(dev, {"sourceType": ["GitHub"], "sourceInfo": [json.dumps(info)],
                                        "commandLine": ["run.sh now"]})
    assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", "private deploy now\n"), inv
    everything = json.dumps(dev.aws("ssm", "list-command-invocations", "--command-id", command_id, "--details"))
    assert TOKEN not in everything and TOKEN not in json.dumps(inv)

    info["tokenInfo"] = "{{ssm-secure:/github/wrong}}"
    inv, command_id = _run_remote(dev, {"sourceType": ["GitHub"], "sourceInfo": [json.dumps(info)],
                                        "commandLine": ["run.sh now"]})
    assert inv["Status"] == "Failed", inv
    download = dev.ssm.get_command_invocation(CommandId=command_id, InstanceId=dev.dev_instance_id,
                                              PluginName="downloadContent")
    assert "401" in download["StandardErrorContent"] and "token" in download["StandardErrorContent"], download
    assert "ghp_notTheToken" not in json.dumps(download)


def test_branch_and_commit_options(remote):
    dev = remote["dev"]
    for options, expected in (("branch:feature", "feature"), (f"commitID:{remote['first_commit']}", "main-1"),
                              ("", "main-2")):
        info = {"owner": "TestUser1", "repository": "GitHubTestPublic", "path": "version.txt"}
        if options:
            info["getOptions"] = options
        inv, _ = _run_remote(dev, {"sourceType": ["GitHub"], "sourceInfo": [json.dumps(info)],
                                   "commandLine": ["cat version.txt"]})
        assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", expected + "\n"), (options, inv)


def test_git_source_over_http_with_a_token(remote):
    git = remote["git"]
    info = {"repository": f"{git.url}/git/acme/private-scripts.git", "getOptions": "branch:main",
            "username": "x-access-token", "password": "{{ssm-secure:/github/token}}"}
    inv, _ = _run_remote(remote["dev"], {"sourceType": ["Git"], "sourceInfo": [json.dumps(info)],
                                         "commandLine": ["sh deploy/run.sh via-git"]})
    assert (inv["Status"], inv["StandardOutputContent"]) == ("Success", "private deploy via-git\n"), inv


def test_a_missing_interpreter_is_named(remote):
    if shutil.which("pwsh"):
        pytest.skip("pwsh is installed here, so it is not missing")
    dev = remote["dev"]
    inv, command_id = _run_remote(dev, {
        "sourceType": ["S3"], "sourceInfo": [json.dumps({"path": "https://s3.amazonaws.com/scripts/ps/hello.ps1"})],
        "commandLine": ["hello.ps1"]})
    assert inv["Status"] == "Failed" and inv["ResponseCode"] == 127, inv
    assert "'pwsh' is needed" in inv["StandardErrorContent"] and "install PowerShell" in inv["StandardErrorContent"]


def test_a_missing_object_fails_the_download_clearly(remote):
    dev = remote["dev"]
    inv, command_id = _run_remote(dev, {
        "sourceType": ["S3"], "sourceInfo": [json.dumps({"path": "https://s3.amazonaws.com/scripts/nope/x.sh"})],
        "commandLine": ["sh x.sh"]})
    assert inv["Status"] == "Failed", inv
    download = dev.ssm.get_command_invocation(CommandId=command_id, InstanceId=dev.dev_instance_id,
                                              PluginName="downloadContent")
    assert "scripts/nope/x.sh" in download["StandardErrorContent"], download


def test_output_goes_to_the_commands_s3_bucket_in_ssms_key_layout(remote):
    dev, s3 = remote["dev"], remote["s3"]
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids",
                   dev.dev_instance_id, "--parameters", 'commands=["echo to-s3"]', "--output-s3-bucket-name",
                   "outputs", "--output-s3-key-prefix", "runs")
    command_id = sent["Command"]["CommandId"]
    inv = dev.wait_invocation(command_id, dev.dev_instance_id)
    assert inv["Status"] == "Success", inv
    key = f"runs/{command_id}/{dev.dev_instance_id}/awsrunShellScript/0.awsrunShellScript/stdout"
    objects = s3.objects("outputs")
    assert objects.get(key) == b"to-s3\n", objects
    assert not any(k.endswith("/stderr") for k in objects if command_id in k), "an empty stream is not uploaded"
    assert inv["StandardOutputUrl"] == f"https://s3.us-east-1.amazonaws.com/outputs/{key}", inv


NESTED = """schemaVersion: "2.2"
description: A document run by another.
parameters:
  who:
    type: String
    allowedPattern: "^[a-z]+$"
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand:
        - echo "hello {{ who }} from a nested document"
"""


def test_run_document_runs_a_stored_document_with_parameters(remote):
    dev = remote["dev"]
    dev.ssm.create_document(Name="Nested-Hello", Content=NESTED, DocumentType="Command", DocumentFormat="YAML")
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunDocument", "--instance-ids",
                   dev.dev_instance_id, "--parameters", json.dumps({
                       "sourceType": ["SSMDocument"], "sourceInfo": [json.dumps({"name": "Nested-Hello"})],
                       "documentParameters": [json.dumps({"who": "world"})]}))
    command_id = sent["Command"]["CommandId"]
    inv = dev.wait_invocation(command_id, dev.dev_instance_id, timeout=60)
    assert inv["Status"] == "Success", inv
    assert "hello world from a nested document" in inv["StandardOutputContent"], inv

    # The nested document's own rules hold on the node: a parameter that breaks its pattern fails the step.
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-RunDocument", "--instance-ids",
                   dev.dev_instance_id, "--parameters", json.dumps({
                       "sourceType": ["SSMDocument"], "sourceInfo": [json.dumps({"name": "Nested-Hello"})],
                       "documentParameters": [json.dumps({"who": "World; rm -rf /"})]}))
    inv = dev.wait_invocation(sent["Command"]["CommandId"], dev.dev_instance_id, timeout=60)
    assert inv["Status"] == "Failed" and "who" in inv["StandardErrorContent"], inv


def test_apply_ansible_playbooks_document(remote):
    """AWS-ApplyAnsiblePlaybooks: the playbook downloaded from S3 and applied to the node in check mode."""
    if shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-playbook is missing: scripts/test installs ansible-core (tests/requirements.txt)")
    dev = remote["dev"]
    sent = dev.aws("ssm", "send-command", "--document-name", "AWS-ApplyAnsiblePlaybooks", "--instance-ids",
                   dev.dev_instance_id, "--parameters", json.dumps({
                       "SourceType": ["S3"],
                       "SourceInfo": [json.dumps({"path": "https://s3.amazonaws.com/scripts/ansible/webserver.yml"})],
                       "InstallDependencies": ["False"], "PlaybookFile": ["webserver.yml"], "Check": ["True"]}))
    inv = dev.wait_invocation(sent["Command"]["CommandId"], dev.dev_instance_id, timeout=180)
    assert inv["Status"] == "Success", inv
    assert "hello from the playbook" in inv["StandardOutputContent"], inv

    bad = dev.aws_error("ssm", "send-command", "--document-name", "AWS-ApplyAnsiblePlaybooks", "--instance-ids",
                        dev.dev_instance_id, "--parameters", json.dumps({"PlaybookFile": ["x.yml; rm -rf /"]}))
    assert bad.error_code == "InvalidParameters", bad.stderr
