"""Full command output in an S3-compatible object store (`--object-store-url s3://bucket/prefix`), with moto's
S3 server as the store: the output lands in the bucket under the prefix and the output URL serves it back."""

from __future__ import annotations

import pytest

from conftest import _harness
from e2e_support import ServerCluster, signed_http
from sources import MotoS3


@pytest.fixture
def moto_s3(request):
    moto = MotoS3(_harness(request, None, "moto"))
    moto.client.create_bucket(Bucket="fleetrun-output")
    return moto.url, moto.client


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
