"""Master keys of SecureString parameters: rotation with the server running (values still decrypt, no data key stays
wrapped under the old version), named keys as KeyId, and a server that refuses to start with the wrong keys."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import struct
import subprocess
import time

from conftest import _harness
from e2e_support import DevCluster, wait_for


def _keys(fleetrun_bin, dev: DevCluster, *args: str) -> subprocess.CompletedProcess:
    cp = subprocess.run([str(fleetrun_bin), "keys", *args, "--data-dir", str(dev.data_dir)], capture_output=True,
                        text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    return cp


def _sealed_key_versions(dev: DevCluster) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(key name, key version) of every sealed value in the SQLite file (read from the sealed format's header),
    and the (name, version) of every master-key check value."""
    db = sqlite3.connect(f"file:{dev.data_dir / 'fleetrun.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT value_sealed FROM parameter_versions WHERE value_sealed IS NOT NULL").fetchall()
        checks = db.execute("SELECT name, version FROM master_key_checks").fetchall()
    finally:
        db.close()
    out = []
    for (blob,) in rows:
        (name_len,) = struct.unpack(">H", blob[1:3])
        name = blob[3:3 + name_len].decode()
        (version,) = struct.unpack(">I", blob[3 + name_len:7 + name_len])
        out.append((name, version))
    return sorted(out), sorted(checks)


def test_rotate_master_with_the_server_running(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "rotate")
    dev = DevCluster(h).start()
    values = {f"/rot/p{i}": f"secret-{i}-{os.urandom(4).hex()}" for i in range(3)}
    for name, value in values.items():
        dev.ssm.put_parameter(Name=name, Type="SecureString", Value=value)
    dev.ssm.put_parameter(Name="/rot/p0", Type="SecureString", Value=values["/rot/p0"] + "-v2", Overwrite=True)
    assert {v for _, v in _sealed_key_versions(dev)[0]} == {1}

    out = _keys(fleetrun_bin, dev, "rotate-master").stdout
    assert "to version 2" in out and "re-wrapped 4 values and 2 access keys" in out, out
    assert "retired version(s) 1" in out, out

    sealed, checks = _sealed_key_versions(dev)
    assert sealed == [("default", 2)] * 4, "every data key is wrapped under the new version"
    assert checks == [("default", 2)], "the old version's check value is gone"
    key_file = json.loads((dev.data_dir / "master-keys.json").read_text())
    assert [(k["name"], k["version"]) for k in key_file["keys"]] == [("default", 2)], "old key material is gone"

    # The running server reads the rotated key file by itself: old values decrypt, new ones use version 2.
    for name, value in values.items():
        got = dev.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        assert got == (value + "-v2" if name == "/rot/p0" else value)
    assert dev.ssm.get_parameter(Name="/rot/p0:1", WithDecryption=True)["Parameter"]["Value"] == values["/rot/p0"]
    dev.ssm.put_parameter(Name="/rot/new", Type="SecureString", Value="after-rotation")
    assert _sealed_key_versions(dev)[0] == [("default", 2)] * 5

    dev.stop()
    dev.start()
    assert dev.ssm.get_parameter(Name="/rot/new", WithDecryption=True)["Parameter"]["Value"] == "after-rotation"


def test_named_master_keys_are_key_ids(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "namedkeys")
    dev = DevCluster(h).start()
    _keys(fleetrun_bin, dev, "add-master", "team-a")
    listed = _keys(fleetrun_bin, dev, "list-masters").stdout
    assert "team-a\tversion 1" in listed and "default\tversion 1\tdefault" in listed, listed
    dev.aws("ssm", "put-parameter", "--name", "/named/x", "--type", "SecureString", "--value", "vx", "--key-id",
            "team-a")
    dev.aws("ssm", "put-parameter", "--name", "/named/y", "--type", "SecureString", "--value", "vy", "--key-id",
            "alias/aws/ssm")
    described = {p["Name"]: p["KeyId"] for p in dev.aws("ssm", "describe-parameters")["Parameters"]}
    assert described == {"/named/x": "team-a", "/named/y": "alias/aws/ssm"}, described
    got = dev.aws("ssm", "get-parameter", "--name", "/named/x", "--with-decryption")["Parameter"]["Value"]
    assert got == "vx"
    assert ("team-a", 1) in _sealed_key_versions(dev)[0]
    bad = dev.aws_error("ssm", "put-parameter", "--name", "/named/z", "--type", "SecureString", "--value", "v",
                        "--key-id", "team-b")
    assert bad.error_code == "InvalidKeyId", bad.stderr


def _start_fails(h, dev: DevCluster, name: str, env: dict[str, str] | None = None) -> str:
    proc = h.spawn(name, ["dev", "--data-dir", str(dev.data_dir), "--listen", "127.0.0.1:0"], env=env)
    wait_for(lambda: not proc.alive(), timeout=30, what=f"{name} to exit")
    assert proc.popen.returncode != 0
    return proc.log_text().split("===== start")[-1]


def test_the_server_refuses_to_start_with_the_wrong_master_keys(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "wrongkey")
    dev = DevCluster(h).start()
    dev.ssm.put_parameter(Name="/wk/p", Type="SecureString", Value="sealed-under-the-first-key")
    dev.stop()
    key_file = dev.data_dir / "master-keys.json"
    original = key_file.read_text()

    other = json.dumps({"default": "default", "keys": [
        {"name": "default", "version": 1, "material": base64.b64encode(os.urandom(32)).decode()}]})
    key_file.write_text(other)
    log = _start_fails(h, dev, "dev-wrong-key")
    assert "is not the key this database's SecureString values were sealed with" in log, log

    key_file.unlink()
    log = _start_fails(h, dev, "dev-no-key-file")
    assert "is not the key" in log, "a fresh key file is not silently accepted: " + log

    key_file.write_text(original)
    key_file.chmod(0o644)
    log = _start_fails(h, dev, "dev-open-key-file")
    assert "chmod 600" in log, log
    key_file.chmod(0o600)

    log = _start_fails(h, dev, "dev-bad-env", env={"FLEETRUN_MASTER_KEYS": "not json"})
    assert "FLEETRUN_MASTER_KEYS does not hold valid master keys" in log, log

    # The same keys through the environment work, and so does the original file.
    env_dev = _start_ok(h, dev, {"FLEETRUN_MASTER_KEYS": original})
    assert env_dev.ssm.get_parameter(Name="/wk/p", WithDecryption=True)["Parameter"]["Value"] == \
        "sealed-under-the-first-key"
    env_dev.stop()
    time.sleep(0.2)
    dev.start()
    assert dev.ssm.get_parameter(Name="/wk/p", WithDecryption=True)["Parameter"]["Value"] == \
        "sealed-under-the-first-key"


def _start_ok(h, dev: DevCluster, env: dict[str, str]) -> DevCluster:
    again = DevCluster(h)
    again.data_dir = dev.data_dir
    again.env_file = dev.env_file
    again.extra_env = env
    again.restarts = 10
    return again.start()


def test_rotate_master_in_two_steps_for_replicas_with_their_own_key_files(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "rotate2")
    dev = DevCluster(h).start()
    dev.ssm.put_parameter(Name="/two/old", Type="SecureString", Value="before")

    out = _keys(fleetrun_bin, dev, "rotate-master", "--add-only").stdout
    assert "Added version 2 of master key default" in out and "--finish" in out, out
    key_file = json.loads((dev.data_dir / "master-keys.json").read_text())
    assert sorted(k["version"] for k in key_file["keys"]) == [1, 2]
    dev.ssm.put_parameter(Name="/two/new", Type="SecureString", Value="between")
    assert _sealed_key_versions(dev)[0] == [("default", 1), ("default", 2)], "new values use the new version"

    out = _keys(fleetrun_bin, dev, "rotate-master", "--finish").stdout
    assert "re-wrapped 1 values and 2 access keys" in out and "retired version(s) 1" in out, out
    assert _sealed_key_versions(dev) == ([("default", 2)] * 2, [("default", 2)])
    for name, value in (("/two/old", "before"), ("/two/new", "between")):
        assert dev.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value


def _db_holds(dev: DevCluster, secret: str) -> bool:
    return any(secret.encode() in p.read_bytes() for p in dev.data_dir.glob("fleetrun.db*"))


def test_access_key_secrets_are_sealed_in_the_database(request, fleetrun_bin):
    """`fleetrun keys create` seals the new secret when it has the master keys; without them the secret is stored
    in clear and the server seals it at its first use. The key works either way."""
    from e2e_support import make_client

    h = _harness(request, fleetrun_bin, "sealedkeys")
    dev = DevCluster(h).start()
    assert not _db_holds(dev, dev.secret)
    for extra in ([], ["--key-file", str(h.path("no-such-key-file"))]):
        cp = _keys(fleetrun_bin, dev, "create", *extra)
        key_id = cp.stdout.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
        secret = cp.stdout.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        assert ("stored in clear" in cp.stderr) == bool(extra), cp.stderr
        assert _db_holds(dev, secret) == bool(extra)
        make_client(dev.url, key_id, secret).describe_instance_information()
        # (Bytes of a secret once written in clear may linger in SQLite's WAL and free pages until overwritten:
        # the row is what is checked here; `keys create` with the key file never writes it in clear.)
        wait_for(lambda: _stored_secret(dev, key_id).startswith("sealed:v1:"), timeout=10,
                 what="the secret to be sealed at its first use")
        make_client(dev.url, key_id, secret).describe_instance_information()


def _stored_secret(dev: DevCluster, key_id: str) -> str:
    db = sqlite3.connect(f"file:{dev.data_dir / 'fleetrun.db'}?mode=ro", uri=True)
    try:
        (secret,) = db.execute("SELECT secret_access_key FROM access_keys WHERE access_key_id = ?", (key_id,)).fetchone()
    finally:
        db.close()
    return secret
