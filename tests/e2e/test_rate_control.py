"""Rate control on the 6 agents tagged Pool=rate: MaxConcurrency (number and percentage) and MaxErrors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from e2e_support import max_overlap

POOL = [{"Key": "tag:Pool", "Values": ["rate"]}]


@pytest.fixture
def shared_dir():
    # A directory the test owns, written by every agent's script (all agents run on this machine).
    with tempfile.TemporaryDirectory(prefix="fleetrun-e2e-rate-") as d:
        yield Path(d)


def _timed_script(log: Path, seconds: float = 1.0) -> list[str]:
    return [
        f'echo "start $(date +%s.%N) $AWS_SSM_INSTANCE_ID" >> {log}',
        f"sleep {seconds}",
        f'echo "end $(date +%s.%N) $AWS_SSM_INSTANCE_ID" >> {log}',
    ]


def _intervals(log: Path) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for line in log.read_text().splitlines():
        kind, stamp, node = line.split()
        (starts if kind == "start" else ends)[node] = float(stamp)
    assert starts.keys() == ends.keys(), f"unfinished runs in {log}:\n{log.read_text()}"
    return {node: (starts[node], ends[node]) for node in starts}


def _run_timed(fleet, shared_dir, max_concurrency: str, seconds: float = 1.0):
    c = fleet.cluster
    pool = fleet.with_tag("Pool", "rate")
    assert len(pool) == 6
    log = shared_dir / "times.log"
    sent = c.send_shell(_timed_script(log, seconds), targets=POOL, MaxConcurrency=max_concurrency)
    assert sent["MaxConcurrency"] == max_concurrency and sent["TargetCount"] == 6
    command = c.wait_command(sent["CommandId"], timeout=60)
    assert command["Status"] == "Success", command
    assert command["CompletedCount"] == 6 and command["ErrorCount"] == 0, command
    intervals = _intervals(log)
    assert set(intervals) == pool, "every node of the pool ran the script exactly once"
    return sent["CommandId"], intervals


def test_max_concurrency_2_never_runs_more_than_2_at_once(fleet, shared_dir):
    command_id, intervals = _run_timed(fleet, shared_dir, "2")
    peak = max_overlap(list(intervals.values()))
    assert peak <= 2, f"{peak} scripts ran at once with MaxConcurrency 2: {sorted(intervals.values())}"
    assert peak == 2, f"MaxConcurrency 2 should let 2 run at once, saw at most {peak}"
    # The API's own times agree (ExecutionStartDateTime/EndDateTime of each invocation).
    c = fleet.cluster
    for instance_id in intervals:
        inv = c.get_invocation(command_id, instance_id)
        assert inv["Status"] == "Success" and inv["ExecutionStartDateTime"] <= inv["ExecutionEndDateTime"]


def test_max_concurrency_50_percent_of_6_runs_at_most_3_at_once(fleet, shared_dir):
    _, intervals = _run_timed(fleet, shared_dir, "50%")
    peak = max_overlap(list(intervals.values()))
    assert peak <= 3, f"{peak} scripts ran at once with MaxConcurrency 50% of 6: {sorted(intervals.values())}"
    assert peak >= 2, f"MaxConcurrency 50% of 6 ran them one at a time (peak {peak})"


def test_max_concurrency_10_percent_of_6_still_runs_one_at_a_time(fleet, shared_dir):
    _, intervals = _run_timed(fleet, shared_dir, "10%", seconds=0.3)
    peak = max_overlap(list(intervals.values()))
    assert peak == 1, f"MaxConcurrency 10% of 6 nodes is 1 at a time (never 0), saw {peak}"


def _run_failing(fleet, shared_dir, max_errors: str):
    c = fleet.cluster
    ran = shared_dir / "ran.log"
    sent = c.send_shell([f'echo "$AWS_SSM_INSTANCE_ID" >> {ran}', "exit 1"], targets=POOL,
                        MaxConcurrency="1", MaxErrors=max_errors)
    command = c.wait_command(sent["CommandId"], timeout=60)
    invocations = c.invocations(sent["CommandId"])
    ran_on = ran.read_text().split() if ran.exists() else []
    return command, invocations, ran_on


def test_max_errors_0_stops_after_first_failure_and_terminates_the_rest(fleet, shared_dir):
    command, invocations, ran_on = _run_failing(fleet, shared_dir, "0")
    assert len(ran_on) == 1, f"with MaxErrors 0 and MaxConcurrency 1 only one node may run, ran on {ran_on}"
    by_details = sorted((i["Status"], i["StatusDetails"]) for i in invocations)
    assert by_details == [("Failed", "Failed")] + [("Failed", "Terminated")] * 5, by_details
    failed = [i for i in invocations if i["StatusDetails"] == "Failed"]
    assert failed[0]["InstanceId"] == ran_on[0]
    assert command["Status"] == "Failed", command
    assert command["ErrorCount"] == 1, command
    assert command["TargetCount"] == 6 and command["CompletedCount"] == 6, command


def test_max_errors_1_lets_a_second_invocation_run_then_terminates_the_rest(fleet, shared_dir):
    command, invocations, ran_on = _run_failing(fleet, shared_dir, "1")
    assert len(ran_on) == 2, f"MaxErrors 1 stops at the second error, ran on {ran_on}"
    by_details = sorted((i["Status"], i["StatusDetails"]) for i in invocations)
    assert by_details == [("Failed", "Failed")] * 2 + [("Failed", "Terminated")] * 4, by_details
    assert command["Status"] == "Failed" and command["ErrorCount"] == 2, command
    assert command["CompletedCount"] == 6, command
