"""Full command output in an S3-compatible object store (`--object-store-url s3://bucket/prefix`), with moto's
S3 server as the store: the output lands in the bucket under the prefix and the output URL serves it back."""

from __future__ import annotations

import socket
import subprocess
import sys

import boto3
import pytest

from conftest import _harness
from e2e_support import Retry, ServerCluster, base_env, signed_http, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_s3(request):
    port = _free_port()
    h = _harness(request, None, "moto")
    log = open(h.path("moto.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=base_env(h.mark), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    request.addfinalizer(lambda: (proc.kill(), proc.wait(), log.close()))
    url = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="moto",
                      aws_secret_access_key="moto")

    def ready():
        try:
            return s3.list_buckets()
        except Exception as e:  # not listening yet
            raise Retry(str(e))

    wait_for(ready, 30, "moto's S3 server to answer", lambda: h.path("moto.log").read_text())
    s3.create_bucket(Bucket="fleetrun-output")
    return url, s3


def test_output_goes_to_an_s3_bucket_and_is_served_back(request, fleetrun_bin, moto_s3):
    url, s3 = moto_s3
    h = _harness(request, fleetrun_bin, "s3out")
    c = ServerCluster(h)
    c.extra_args = ["--object-store-url", "s3://fleetrun-output/runs"]
    c.extra_env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto",
                   "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    c.start()
    agent = c.start_agent("s3-writer")
    sent = c.send_shell("head -c 30000 /dev/zero | tr '\\0' s", instance_ids=[agent.instance_id])
    inv = c.wait_invocation(sent["CommandId"], agent.instance_id)
    assert inv["Status"] == "Success", inv
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="fleetrun-output").get("Contents", [])]
    expected = f"runs/commands/{sent['CommandId']}/{agent.instance_id}/0/stdout"
    assert expected in keys, keys
    body = s3.get_object(Bucket="fleetrun-output", Key=expected)["Body"].read()
    assert body == b"s" * 30000
    got = signed_http("GET", inv["StandardOutputUrl"], c.key_id, c.secret)
    assert got.status == 200 and got.body == b"s" * 30000, (got.status, len(got.body))
