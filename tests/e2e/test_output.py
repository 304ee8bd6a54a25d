"""Output beyond SSM's inline limits: 24,000 / 8,000 characters in GetCommandInvocation, 2,500 in
ListCommandInvocations --details, and the full text behind StandardOutputUrl (SigV4-signed GET)."""

from __future__ import annotations

import pytest

from e2e_support import TRUNCATION_MARKER, http, signed_http

STDOUT = "".join(f"{i:09d}\n" for i in range(1, 3001))  # 30,000 characters
STDERR = "".join(f"e{i:07d}\n" for i in range(1, 1001))  # 9,000 characters


@pytest.fixture(scope="module")
def big(dev):
    assert len(STDOUT) == 30_000 and len(STDERR) == 9_000
    sent = dev.send_shell(["seq -f '%09g' 1 3000", "seq -f 'e%07g' 1 1000 >&2"], instance_ids=[dev.dev_instance_id])
    inv = dev.wait_invocation(sent["CommandId"], dev.dev_instance_id, timeout=30)
    assert inv["Status"] == "Success", inv
    return sent["CommandId"], inv


def _check_head(content: str, full: str, limit: int, what: str):
    assert len(content) <= limit, f"{what} has {len(content)} characters, over the {limit} limit"
    assert content.endswith(TRUNCATION_MARKER), f"{what} does not end with the truncation marker: {content[-60:]!r}"
    kept = content[: -len(TRUNCATION_MARKER)].rstrip("\n")
    assert full.startswith(kept), f"{what} is not the beginning of the real output"
    assert len(kept) >= limit - 100, f"{what} kept only {len(kept)} characters"


def test_get_command_invocation_truncates_stdout_to_24000_and_stderr_to_8000_with_marker(dev, big):
    _, inv = big
    _check_head(inv["StandardOutputContent"], STDOUT, 24_000, "StandardOutputContent")
    _check_head(inv["StandardErrorContent"], STDERR, 8_000, "StandardErrorContent")
    cli = dev.aws("ssm", "get-command-invocation", "--command-id", big[0], "--instance-id", dev.dev_instance_id)
    assert cli["StandardOutputContent"] == inv["StandardOutputContent"]


def test_standard_output_url_signed_get_returns_the_full_30000_characters(dev, big):
    _, inv = big
    out = signed_http("GET", inv["StandardOutputUrl"], dev.key_id, dev.secret)
    assert out.status == 200, (out.status, out.text[:500])
    assert out.text == STDOUT, f"got {len(out.text)} characters instead of all 30,000"
    err = signed_http("GET", inv["StandardErrorUrl"], dev.key_id, dev.secret)
    assert err.status == 200, (err.status, err.text[:500])
    assert err.text == STDERR, f"got {len(err.text)} characters of stderr instead of all 9,000"


def test_standard_output_url_refuses_an_unsigned_get(dev, big):
    _, inv = big
    r = http("GET", inv["StandardOutputUrl"])
    assert 400 <= r.status < 500, r.status
    assert "000000001" not in r.text


def test_list_command_invocations_details_output_is_at_most_2500_characters(dev, big):
    listed = dev.aws("ssm", "list-command-invocations", "--command-id", big[0], "--details")["CommandInvocations"]
    assert len(listed) == 1
    plugin = listed[0]["CommandPlugins"][0]
    output = plugin["Output"]
    assert len(output) <= 2_500, f"plugin Output has {len(output)} characters"
    assert output.startswith("000000001\n000000002\n"), output[:100]
    assert "truncated" in output.lower(), "a cut plugin Output must say so"
    assert plugin["StandardOutputUrl"] == big[1]["StandardOutputUrl"]
