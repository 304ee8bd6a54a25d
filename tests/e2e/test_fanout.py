"""Fan-out to 11 nodes (fleetrun dev's agent plus 10 tagged agents): targeting by ids and tags, counts, listing,
pagination and node inventory."""

from __future__ import annotations

import datetime as dt
import json
import time

from e2e_support import FLEET_TAGS

ECHO_NODE = 'echo "node=$AWS_SSM_INSTANCE_ID"'
# CLI shorthand cannot carry the double quotes: pass --parameters as JSON, as users do for real scripts.
ECHO_NODE_PARAMS = json.dumps({"commands": [ECHO_NODE]})


def _ids_of(invocations):
    return sorted(inv["InstanceId"] for inv in invocations)


def _check_all_succeeded(cluster, command_id, expected_ids, timeout=60):
    command = cluster.wait_command(command_id, timeout=timeout)
    n = len(expected_ids)
    assert command["Status"] == "Success", command
    assert command["StatusDetails"] == "Success", command
    assert command["TargetCount"] == n, command
    assert command["CompletedCount"] == n, command
    assert command["ErrorCount"] == 0 and command["DeliveryTimedOutCount"] == 0, command
    invocations = cluster.invocations(command_id)
    assert _ids_of(invocations) == sorted(expected_ids)
    for inv in invocations:
        assert (inv["Status"], inv["StatusDetails"]) == ("Success", "Success"), inv
    return command, invocations


def test_describe_instance_information_lists_all_eleven_nodes_online(fleet):
    c = fleet.cluster
    # The CLI follows NextToken itself (the API's default page is 10, so 11 nodes need two pages).
    listed = c.aws("ssm", "describe-instance-information")["InstanceInformationList"]
    assert sorted(n["InstanceId"] for n in listed) == sorted(fleet.all_ids)
    for node in listed:
        assert node["PingStatus"] == "Online", node
        assert node["ResourceType"] == "ManagedInstance"
        assert node["PlatformType"] == "Linux"
        assert node["AgentVersion"]
    # boto3's paginator with pages of 5: three pages, same set, no duplicates.
    pages = list(c.ssm.get_paginator("describe_instance_information").paginate(PaginationConfig={"PageSize": 5}))
    ids = [n["InstanceId"] for p in pages for n in p["InstanceInformationList"]]
    assert len(pages) == 3 and all(len(p["InstanceInformationList"]) <= 5 for p in pages)
    assert sorted(ids) == sorted(fleet.all_ids)
    web = c.ssm.describe_instance_information(Filters=[{"Key": "tag:Role", "Values": ["web"]}])
    assert {n["InstanceId"] for n in web["InstanceInformationList"]} == fleet.with_tag("Role", "web")


def test_send_by_instance_ids_to_eleven_nodes_runs_once_on_each(fleet):
    c = fleet.cluster
    sent = c.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                 "--instance-ids", *fleet.all_ids, "--parameters", ECHO_NODE_PARAMS,
                 "--comment", "fan-out by ids")["Command"]
    assert sent["TargetCount"] == 11 and sent["InstanceIds"] == fleet.all_ids
    _check_all_succeeded(c, sent["CommandId"], fleet.all_ids)
    for instance_id in fleet.all_ids:
        inv = c.get_invocation(sent["CommandId"], instance_id)
        assert inv["StandardOutputContent"] == f"node={instance_id}\n", inv
        assert inv["Comment"] == "fan-out by ids"


def test_targets_tag_role_web_reaches_only_web_nodes(fleet):
    c = fleet.cluster
    web = fleet.with_tag("Role", "web")
    assert len(web) == 4 and len(fleet.with_tag("Role", "db")) == 6
    sent = c.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                 "--targets", "Key=tag:Role,Values=web", "--parameters", ECHO_NODE_PARAMS)["Command"]
    assert sent["Targets"] == [{"Key": "tag:Role", "Values": ["web"]}]
    assert sent["TargetCount"] == 4
    _, invocations = _check_all_succeeded(c, sent["CommandId"], web)
    assert not set(_ids_of(invocations)) & fleet.with_tag("Role", "db")


def test_targets_tag_key_reaches_nodes_having_the_key_whatever_the_value(fleet):
    c = fleet.cluster
    expected = fleet.with_tag_key("Canary")
    assert len(expected) == 2
    sent = c.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                 "--targets", "Key=tag-key,Values=Canary", "--parameters", ECHO_NODE_PARAMS)["Command"]
    _check_all_succeeded(c, sent["CommandId"], expected)


def test_two_targets_are_anded(fleet):
    c = fleet.cluster
    expected = fleet.with_tag("Role", "web") & fleet.with_tag("Env", "prod")
    assert len(expected) == 2
    sent = c.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                 "--targets", "Key=tag:Role,Values=web", "Key=tag:Env,Values=prod",
                 "--parameters", ECHO_NODE_PARAMS)["Command"]
    assert sent["TargetCount"] == 2
    _check_all_succeeded(c, sent["CommandId"], expected)


def test_several_values_of_one_target_are_ored(fleet):
    c = fleet.cluster
    expected = fleet.with_tag("Env", "prod", "qa")
    assert len(expected) == 5
    sent = c.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                 "--targets", "Key=tag:Env,Values=prod,qa", "--parameters", ECHO_NODE_PARAMS)["Command"]
    assert sent["TargetCount"] == 5
    _check_all_succeeded(c, sent["CommandId"], expected)


def test_targets_key_instanceids_is_case_insensitive(fleet):
    c = fleet.cluster
    chosen = [fleet.ids[2], fleet.ids[7]]
    sent = c.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                 "--targets", f"Key=instanceids,Values={chosen[0]},{chosen[1]}",
                 "--parameters", ECHO_NODE_PARAMS)["Command"]
    assert sent["TargetCount"] == 2
    _check_all_succeeded(c, sent["CommandId"], chosen)


def test_list_command_invocations_with_details_has_plugin_output_per_node(fleet):
    c = fleet.cluster
    sent = c.send_shell(ECHO_NODE, instance_ids=fleet.all_ids)
    _check_all_succeeded(c, sent["CommandId"], fleet.all_ids)
    listed = c.aws("ssm", "list-command-invocations", "--command-id", sent["CommandId"], "--details")
    invocations = listed["CommandInvocations"]
    assert _ids_of(invocations) == sorted(fleet.all_ids)
    for inv in invocations:
        assert inv["Status"] == "Success" and inv["DocumentName"] == "AWS-RunShellScript"
        plugins = inv["CommandPlugins"]
        assert len(plugins) == 1, inv
        plugin = plugins[0]
        assert plugin["Name"] == "aws:runShellScript", plugin
        assert plugin["Status"] == "Success" and plugin["ResponseCode"] == 0, plugin
        assert plugin["Output"] == f"node={inv['InstanceId']}\n", plugin
    plain = c.aws("ssm", "list-command-invocations", "--command-id", sent["CommandId"])["CommandInvocations"]
    assert len(plain) == 11
    assert all(inv.get("CommandPlugins", []) == [] for inv in plain), "without --details no plugin output"
    # Pages of 4 over 11 invocations: 4 + 4 + 3, every invocation exactly once.
    pages = list(c.ssm.get_paginator("list_command_invocations").paginate(
        CommandId=sent["CommandId"], PaginationConfig={"PageSize": 4}))
    sizes = [len(p["CommandInvocations"]) for p in pages]
    assert sizes == [4, 4, 3], f"page sizes {sizes}"
    assert sorted(i["InstanceId"] for p in pages for i in p["CommandInvocations"]) == sorted(fleet.all_ids)


def test_list_commands_filters_and_pagination(fleet):
    c = fleet.cluster
    before_all = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    time.sleep(0.01)
    target = fleet.ids[3]
    ok1 = c.send_shell("echo one", instance_ids=[target])["CommandId"]
    ok2 = c.send_shell("echo two", instance_ids=[fleet.dev_id])["CommandId"]
    bad = c.send_shell("exit 1", instance_ids=[target])["CommandId"]
    for cid in (ok1, ok2, bad):
        c.wait_command(cid)
    mine = {ok1, ok2, bad}

    one = c.aws("ssm", "list-commands", "--command-id", bad)["Commands"]
    assert [x["CommandId"] for x in one] == [bad] and one[0]["Status"] == "Failed"

    failed = {x["CommandId"] for x in c.all_commands(Filters=[{"key": "Status", "value": "Failed"}])}
    assert bad in failed and not {ok1, ok2} & failed
    succeeded = {x["CommandId"] for x in c.all_commands(Filters=[{"key": "Status", "value": "Success"}])}
    assert {ok1, ok2} <= succeeded and bad not in succeeded

    stamp = before_all.strftime("%Y-%m-%dT%H:%M:%SZ")
    after = {x["CommandId"] for x in c.all_commands(Filters=[{"key": "InvokedAfter", "value": stamp}])}
    assert mine <= after
    before = {x["CommandId"] for x in c.all_commands(Filters=[{"key": "InvokedBefore", "value": stamp}])}
    assert not mine & before
    by_doc = {x["CommandId"] for x in
              c.all_commands(Filters=[{"key": "DocumentName", "value": "AWS-RunShellScript"}])}
    assert mine <= by_doc
    by_node = {x["CommandId"] for x in c.all_commands(InstanceId=target)}
    assert {ok1, bad} <= by_node and ok2 not in by_node

    # Pagination: pages of exactly one command, each carrying a NextToken but the last.
    everything = c.all_commands()
    assert len(everything) >= 3
    pages = list(c.ssm.get_paginator("list_commands").paginate(PaginationConfig={"PageSize": 1}))
    full = [p for p in pages if p["Commands"]]
    assert len(full) == len(everything)
    for i, page in enumerate(full):
        assert len(page["Commands"]) == 1, page
        if i < len(full) - 1:
            assert page.get("NextToken"), f"page {i} has no NextToken"
    paged_ids = [p["Commands"][0]["CommandId"] for p in full]
    assert len(set(paged_ids)) == len(paged_ids), "a command appeared on two pages"
    assert set(paged_ids) == {x["CommandId"] for x in everything}
    # The same by hand with MaxResults=1 and NextToken.
    first = c.ssm.list_commands(MaxResults=1)
    second = c.ssm.list_commands(MaxResults=1, NextToken=first["NextToken"])
    assert first["Commands"][0]["CommandId"] != second["Commands"][0]["CommandId"]
    # And through the CLI, which follows the tokens itself.
    cli = c.aws("ssm", "list-commands", "--page-size", "1")["Commands"]
    assert sorted(x["CommandId"] for x in cli) == sorted(paged_ids)
    # The last page carries no NextToken (SSM-REFERENCE §1.6): no empty trailing page.
    empty = [i for i, p in enumerate(pages) if not p["Commands"]]
    assert not empty and not pages[-1].get("NextToken"), (
        f"ListCommands(MaxResults=1) over {len(everything)} commands gave {len(pages)} pages; page(s) {empty} "
        f"are empty: the last full page carried a NextToken although no command followed"
    )


def test_fleet_has_ten_extra_agents_started_in_parallel(fleet):
    assert len(fleet.agents) == len(FLEET_TAGS) == 10
    assert len(set(fleet.all_ids)) == 11
    for agent in fleet.agents:
        assert agent.instance_id.startswith("mi-") and len(agent.instance_id) == 20, agent.instance_id
