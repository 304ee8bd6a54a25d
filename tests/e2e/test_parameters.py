"""Parameter Store through the real `aws` CLI and boto3: PutParameter (String, StringList, SecureString, overwrite,
tiers, tags), GetParameter (name, `name:version`, `name:label`, ARN), GetParameters, GetParametersByPath (recursion,
filters, pagination), DescribeParameters (filters, pagination), GetParameterHistory, LabelParameterVersion,
DeleteParameter(s), tags, the 100-version limit, and the bad input SSM refuses (each refusal stores nothing).

All tests share one `fleetrun dev` (module fixture); each works under its own unique path. A SecureString's value
must never come back in clear without WithDecryption."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from e2e_support import error_code, error_message, ssm_raw

ROOT = f"/e2e-params-{uuid.uuid4().hex[:8]}"
SECRET = "s3cr3t-Value-" + uuid.uuid4().hex[:12]


def _path(tag: str) -> str:
    """A fresh path of this module's own: `/e2e-params-XXXX/<tag>-YYYYYY`."""
    return f"{ROOT}/{tag}-{uuid.uuid4().hex[:6]}"


def _error(call, statuses=(400,), **kw) -> ClientError:
    with pytest.raises(ClientError) as e:
        call(**kw)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in statuses, e.value.response
    return e.value


def _assert_not_found(dev, name: str) -> None:
    """A refused write stored nothing: the name reads as ParameterNotFound."""
    e = _error(dev.ssm.get_parameter, Name=name)
    assert error_code(e) == "ParameterNotFound", e.response


def _assert_opaque(value: str, secret: str) -> None:
    """A SecureString read without decryption: not the plaintext, nor a thin wrapper of it."""
    assert value, "a SecureString's Value must still be present (as ciphertext)"
    assert value != secret
    assert secret not in value, f"plaintext leaked into the opaque value: {value!r}"
    for candidate in (value, value.split(":")[-1]):
        try:
            decoded = base64.b64decode(candidate + "=" * (-len(candidate) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        assert secret.encode() not in decoded, f"the opaque value is a plain encoding of the secret: {value!r}"


def _names(items) -> set[str]:
    return {p["Name"] for p in items}


# ----------------------------------------------------------------------------------------------------------------
# PutParameter / GetParameter
# ----------------------------------------------------------------------------------------------------------------


def test_cli_put_and_get_string_stringlist_and_securestring(dev):
    base = _path("types")
    s, sl, sec = f"{base}/plain", f"{base}/list", f"{base}/secret"
    assert dev.aws("ssm", "put-parameter", "--name", s, "--value", "hello world", "--type", "String",
                   "--description", "a plain string") == {"Version": 1, "Tier": "Standard"}
    assert dev.aws("ssm", "put-parameter", "--name", sl, "--value", "a,b,c", "--type", "StringList")["Version"] == 1
    put = dev.aws("ssm", "put-parameter", "--name", sec, "--value", SECRET, "--type", "SecureString")
    assert put["Version"] == 1 and put["Tier"] == "Standard", put

    got = dev.aws("ssm", "get-parameter", "--name", s)["Parameter"]
    assert (got["Name"], got["Type"], got["Value"], got["Version"]) == (s, "String", "hello world", 1), got
    assert got["DataType"] == "text"
    assert got["ARN"].startswith("arn:aws:ssm:us-east-1:") and got["ARN"].endswith(":parameter" + s), got["ARN"]
    assert got["LastModifiedDate"], got
    assert "Selector" not in got or got["Selector"] in ("", None), got

    got = dev.ssm.get_parameter(Name=sl)["Parameter"]
    assert (got["Type"], got["Value"], got["Version"]) == ("StringList", "a,b,c", 1), got

    # SecureString: opaque ciphertext without --with-decryption, the value with it.
    hidden = dev.aws("ssm", "get-parameter", "--name", sec)["Parameter"]
    assert hidden["Type"] == "SecureString" and hidden["Version"] == 1, hidden
    _assert_opaque(hidden["Value"], SECRET)
    shown = dev.aws("ssm", "get-parameter", "--name", sec, "--with-decryption")["Parameter"]
    assert shown["Value"] == SECRET, shown
    assert shown["ARN"].endswith(":parameter" + sec) and shown["DataType"] == "text" and shown["LastModifiedDate"]


def test_boto3_put_and_get_with_and_without_decryption(dev):
    base = _path("boto")
    sec, s = f"{base}/db-password", f"{base}/db-host"
    assert dev.ssm.put_parameter(Name=sec, Value=SECRET, Type="SecureString", KeyId="alias/aws/ssm",
                                 Description="db password")["Version"] == 1
    assert dev.ssm.put_parameter(Name=s, Value="db.internal", Type="String", DataType="text")["Version"] == 1

    hidden = dev.ssm.get_parameter(Name=sec)["Parameter"]
    _assert_opaque(hidden["Value"], SECRET)
    assert isinstance(hidden["LastModifiedDate"], dt.datetime), hidden
    assert hidden["DataType"] == "text" and hidden["ARN"].endswith(":parameter" + sec)
    assert dev.ssm.get_parameter(Name=sec, WithDecryption=False)["Parameter"]["Value"] == hidden["Value"]
    assert dev.ssm.get_parameter(Name=sec, WithDecryption=True)["Parameter"]["Value"] == SECRET

    both = dev.ssm.get_parameters(Names=[sec, s])
    assert both["InvalidParameters"] == []
    by_name = {p["Name"]: p for p in both["Parameters"]}
    _assert_opaque(by_name[sec]["Value"], SECRET)
    assert by_name[s]["Value"] == "db.internal"
    decrypted = dev.ssm.get_parameters(Names=[sec, s], WithDecryption=True)["Parameters"]
    assert {p["Name"]: p["Value"] for p in decrypted} == {sec: SECRET, s: "db.internal"}

    # An overwrite without Type keeps SecureString (and is sealed again).
    assert dev.ssm.put_parameter(Name=sec, Value=SECRET + "-2", Overwrite=True)["Version"] == 2
    again = dev.ssm.get_parameter(Name=sec)["Parameter"]
    assert again["Type"] == "SecureString" and again["Version"] == 2
    _assert_opaque(again["Value"], SECRET)
    assert dev.ssm.get_parameter(Name=sec, WithDecryption=True)["Parameter"]["Value"] == SECRET + "-2"
    assert dev.ssm.get_parameter(Name=f"{sec}:1", WithDecryption=True)["Parameter"]["Value"] == SECRET

    meta = dev.ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [sec]}])["Parameters"]
    assert len(meta) == 1 and meta[0]["KeyId"] == "alias/aws/ssm" and meta[0]["Description"] == "db password", meta
    assert SECRET not in json.dumps(meta, default=str)


def test_versions_overwrite_already_exists_and_selectors(dev):
    name = f"{_path('versions')}/app-config"
    assert dev.ssm.put_parameter(Name=name, Value="v1", Type="String")["Version"] == 1
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "v-refused", "--type", "String")
    assert r.error_code == "ParameterAlreadyExists", r.stderr
    e = _error(dev.ssm.put_parameter, Name=name, Value="v-refused", Type="String")
    assert error_code(e) == "ParameterAlreadyExists", e.response
    assert dev.ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v1", "a refused write changed the value"

    assert dev.aws("ssm", "put-parameter", "--name", name, "--value", "v2", "--type", "String",
                   "--overwrite")["Version"] == 2
    assert dev.ssm.put_parameter(Name=name, Value="v3", Type="String", Overwrite=True)["Version"] == 3
    latest = dev.ssm.get_parameter(Name=name)["Parameter"]
    assert (latest["Value"], latest["Version"]) == ("v3", 3)

    # name:version
    first = dev.aws("ssm", "get-parameter", "--name", f"{name}:1")["Parameter"]
    assert (first["Name"], first["Value"], first["Version"], first["Selector"]) == (name, "v1", 1, ":1"), first
    # name:label
    dev.ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["stable"])
    labelled = dev.aws("ssm", "get-parameter", "--name", f"{name}:stable")["Parameter"]
    assert (labelled["Value"], labelled["Version"], labelled["Selector"]) == ("v2", 2, ":stable"), labelled
    assert dev.ssm.get_parameter(Name=f"{name}:stable")["Parameter"]["Version"] == 2

    # The ARN form of the name, with and without a selector.
    arn = latest["ARN"]
    assert arn.endswith(":parameter" + name), arn
    by_arn = dev.aws("ssm", "get-parameter", "--name", arn)["Parameter"]
    assert (by_arn["Value"], by_arn["Version"], by_arn["ARN"]) == ("v3", 3, arn), by_arn
    assert dev.ssm.get_parameter(Name=f"{arn}:1")["Parameter"]["Value"] == "v1"

    # Selectors that name nothing.
    e = _error(dev.ssm.get_parameter, Name=f"{name}:9")
    assert error_code(e) == "ParameterVersionNotFound", e.response
    e = _error(dev.ssm.get_parameter, Name=f"{name}:no-such-label")
    assert error_code(e) in ("ParameterVersionNotFound", "ParameterNotFound"), e.response
    _assert_not_found(dev, f"{name}-missing")


# ----------------------------------------------------------------------------------------------------------------
# GetParameters
# ----------------------------------------------------------------------------------------------------------------


def test_get_parameters_lists_unknown_names_as_invalid_and_refuses_eleven(dev):
    base = _path("many")
    known = [f"{base}/p{i}" for i in range(4)]
    for i, name in enumerate(known):
        dev.ssm.put_parameter(Name=name, Value=f"value-{i}", Type="String")
    unknown = [f"{base}/nope{i}" for i in range(6)]
    names = known + unknown  # 10: the most one request may name
    out = dev.aws("ssm", "get-parameters", "--names", *names)
    assert {p["Name"]: p["Value"] for p in out["Parameters"]} == {n: f"value-{i}" for i, n in enumerate(known)}
    assert sorted(out["InvalidParameters"]) == sorted(unknown)

    # A selector per name works here too; an unknown version is just invalid.
    dev.ssm.put_parameter(Name=known[0], Value="value-0b", Overwrite=True)
    out = dev.ssm.get_parameters(Names=[f"{known[0]}:1", f"{known[1]}:5", known[0]])
    assert sorted((p["Version"], p["Value"]) for p in out["Parameters"]) == [(1, "value-0"), (2, "value-0b")]
    assert out["InvalidParameters"] == [f"{known[1]}:5"]

    eleven = names + [f"{base}/p-extra"]
    r = dev.aws_error("ssm", "get-parameters", "--names", *eleven)
    assert r.error_code == "ValidationException", r.stderr
    e = _error(dev.client(validate=False).get_parameters, Names=eleven)
    assert error_code(e) == "ValidationException", e.response


# ----------------------------------------------------------------------------------------------------------------
# GetParametersByPath
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(dev):
    """base/a (String), base/b (SecureString), base/sub/c (StringList), base/sub/deep/d (String);
    base/a version 1 carries the label "blue"."""
    base = _path("tree")
    names = {"a": f"{base}/a", "b": f"{base}/b", "c": f"{base}/sub/c", "d": f"{base}/sub/deep/d"}
    dev.ssm.put_parameter(Name=names["a"], Value="alpha", Type="String")
    dev.ssm.put_parameter(Name=names["b"], Value=SECRET, Type="SecureString")
    dev.ssm.put_parameter(Name=names["c"], Value="x,y", Type="StringList")
    dev.ssm.put_parameter(Name=names["d"], Value="delta", Type="String")
    dev.ssm.label_parameter_version(Name=names["a"], ParameterVersion=1, Labels=["blue"])
    return base, names


def test_get_parameters_by_path_one_level_recursive_and_decryption(dev, tree):
    base, n = tree
    one = dev.aws("ssm", "get-parameters-by-path", "--path", base)["Parameters"]
    assert _names(one) == {n["a"], n["b"]}, one
    hidden = next(p for p in one if p["Name"] == n["b"])
    assert hidden["Type"] == "SecureString"
    _assert_opaque(hidden["Value"], SECRET)

    everything = dev.aws("ssm", "get-parameters-by-path", "--path", base, "--recursive", "--with-decryption")
    values = {p["Name"]: p["Value"] for p in everything["Parameters"]}
    assert values == {n["a"]: "alpha", n["b"]: SECRET, n["c"]: "x,y", n["d"]: "delta"}, values
    assert all(p["ARN"].endswith(":parameter" + p["Name"]) and p["DataType"] == "text" and p["LastModifiedDate"]
               for p in everything["Parameters"])

    sub = dev.ssm.get_parameters_by_path(Path=f"{base}/sub")["Parameters"]
    assert _names(sub) == {n["c"]}
    assert _names(dev.ssm.get_parameters_by_path(Path=f"{base}/sub", Recursive=True)["Parameters"]) == {n["c"], n["d"]}
    recursive = dev.ssm.get_parameters_by_path(Path=base, Recursive=True)["Parameters"]
    assert _names(recursive) == set(n.values())
    _assert_opaque(next(p["Value"] for p in recursive if p["Name"] == n["b"]), SECRET)
    assert dev.ssm.get_parameters_by_path(Path=f"{base}/nothing-here", Recursive=True)["Parameters"] == []


def test_get_parameters_by_path_filters_type_and_label(dev, tree):
    base, n = tree
    secure = dev.ssm.get_parameters_by_path(
        Path=base, Recursive=True, ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])["Parameters"]
    assert _names(secure) == {n["b"]}
    _assert_opaque(secure[0]["Value"], SECRET)
    strings = dev.ssm.get_parameters_by_path(
        Path=base, Recursive=True, ParameterFilters=[{"Key": "Type", "Option": "Equals", "Values": ["String"]}])
    assert _names(strings["Parameters"]) == {n["a"], n["d"]}
    begins = dev.ssm.get_parameters_by_path(
        Path=base, Recursive=True, ParameterFilters=[{"Key": "Type", "Option": "BeginsWith", "Values": ["String"]}])
    assert _names(begins["Parameters"]) == {n["a"], n["c"], n["d"]}
    labelled = dev.aws("ssm", "get-parameters-by-path", "--path", base, "--recursive",
                       "--parameter-filters", "Key=Label,Option=Equals,Values=blue")["Parameters"]
    assert [(p["Name"], p["Value"], p["Version"]) for p in labelled] == [(n["a"], "alpha", 1)], labelled
    none = dev.ssm.get_parameters_by_path(Path=base, Recursive=True,
                                          ParameterFilters=[{"Key": "Label", "Values": ["no-such-label"]}])
    assert none["Parameters"] == []


def test_get_parameters_by_path_pagination(dev, tree):
    base, n = tree
    # boto3's paginator, one parameter per page.
    pages = list(dev.ssm.get_paginator("get_parameters_by_path").paginate(
        Path=base, Recursive=True, WithDecryption=True, PaginationConfig={"PageSize": 1}))
    items = [p for page in pages for p in page["Parameters"]]
    assert all(len(page["Parameters"]) <= 1 for page in pages), pages
    assert sorted(p["Name"] for p in items) == sorted(n.values()), "every parameter exactly once"
    assert {p["Name"]: p["Value"] for p in items}[n["b"]] == SECRET
    # The first page of one announces more.
    first = dev.ssm.get_parameters_by_path(Path=base, Recursive=True, MaxResults=1)
    assert len(first["Parameters"]) == 1 and first.get("NextToken"), first
    second = dev.ssm.get_parameters_by_path(Path=base, Recursive=True, MaxResults=1, NextToken=first["NextToken"])
    assert len(second["Parameters"]) == 1 and second["Parameters"][0]["Name"] != first["Parameters"][0]["Name"]

    # The CLI: an explicit --max-results turns auto-pagination off (one page and its NextToken) ...
    page = dev.aws("ssm", "get-parameters-by-path", "--path", base, "--recursive", "--max-results", "1")
    assert len(page["Parameters"]) == 1 and page.get("NextToken"), page
    # ... --page-size 1 makes it follow NextToken to the end (MaxResults=1 on every request).
    walked = dev.aws("ssm", "get-parameters-by-path", "--path", base, "--recursive", "--page-size", "1")
    assert sorted(p["Name"] for p in walked["Parameters"]) == sorted(n.values()), walked
    assert not walked.get("NextToken")
    _assert_opaque(next(p["Value"] for p in walked["Parameters"] if p["Name"] == n["b"]), SECRET)


# ----------------------------------------------------------------------------------------------------------------
# DescribeParameters
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def described(dev):
    """base/x1 (String, tag Env=prod), base/x2 (SecureString, tag Env=dev), base/y/z (StringList, no tags)."""
    base = _path("describe")
    n = {"x1": f"{base}/x1", "x2": f"{base}/x2", "z": f"{base}/y/z"}
    dev.ssm.put_parameter(Name=n["x1"], Value="one", Type="String", Description="first one",
                          Tags=[{"Key": "Env", "Value": "prod"}])
    dev.ssm.put_parameter(Name=n["x2"], Value=SECRET, Type="SecureString", Tags=[{"Key": "Env", "Value": "dev"}])
    dev.ssm.put_parameter(Name=n["z"], Value="p,q", Type="StringList", AllowedPattern="^[a-z,]+$")
    return base, n


def _describe(dev, **kw) -> list[dict]:
    pages = dev.ssm.get_paginator("describe_parameters").paginate(**kw)
    return [p for page in pages for p in page["Parameters"]]


def test_describe_parameters_parameter_filters(dev, described):
    base, n = described
    recursive = {"Key": "Path", "Option": "Recursive", "Values": [base]}
    everything = {p["Name"]: p for p in _describe(dev, ParameterFilters=[recursive])}
    assert set(everything) == set(n.values())
    x1, x2, z = everything[n["x1"]], everything[n["x2"]], everything[n["z"]]
    assert (x1["Type"], x1["Description"], x1["Version"], x1["Tier"], x1["DataType"]) == \
        ("String", "first one", 1, "Standard", "text"), x1
    assert x2["Type"] == "SecureString" and x2["KeyId"] == "alias/aws/ssm", x2
    assert "KeyId" not in x1, x1
    assert z["AllowedPattern"] == "^[a-z,]+$", z
    assert all(p["ARN"].endswith(":parameter" + p["Name"]) and p["LastModifiedDate"] for p in everything.values())
    assert "Value" not in x2 and SECRET not in json.dumps(list(everything.values()), default=str)

    one_level = _describe(dev, ParameterFilters=[{"Key": "Path", "Values": [base]}])  # OneLevel is the default
    assert _names(one_level) == {n["x1"], n["x2"]}
    begins = _describe(dev, ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"{base}/x"]}])
    assert _names(begins) == {n["x1"], n["x2"]}
    equals = _describe(dev, ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [n["z"]]}])
    assert _names(equals) == {n["z"]}
    secure = _describe(dev, ParameterFilters=[recursive,
                                              {"Key": "Type", "Option": "Equals", "Values": ["SecureString"]}])
    assert _names(secure) == {n["x2"]}
    prod = _describe(dev, ParameterFilters=[recursive, {"Key": "tag:Env", "Values": ["prod"]}])
    assert _names(prod) == {n["x1"]}
    envs = _describe(dev, ParameterFilters=[recursive,
                                            {"Key": "tag:Env", "Option": "Equals", "Values": ["prod", "dev"]}])
    assert _names(envs) == {n["x1"], n["x2"]}

    # The same through the CLI (shorthand syntax).
    out = dev.aws("ssm", "describe-parameters", "--parameter-filters",
                  f"Key=Path,Option=Recursive,Values={base}", "Key=tag:Env,Values=dev")
    assert _names(out["Parameters"]) == {n["x2"]}, out


def test_describe_parameters_legacy_filters_and_pagination(dev, described):
    base, n = described
    legacy = dev.aws("ssm", "describe-parameters", "--filters", f"Key=Name,Values={n['x1']},{n['z']}")
    assert _names(legacy["Parameters"]) == {n["x1"], n["z"]}, legacy
    both = dev.ssm.describe_parameters(Filters=[{"Key": "Name", "Values": [n["x1"], n["x2"]]},
                                                {"Key": "Type", "Values": ["SecureString"]}])
    assert _names(both["Parameters"]) == {n["x2"]}
    e = _error(dev.ssm.describe_parameters, Filters=[{"Key": "Name", "Values": [n["x1"]]}],
               ParameterFilters=[{"Key": "Name", "Values": [n["x1"]]}])
    assert error_code(e) == "ValidationException", e.response

    recursive = [{"Key": "Path", "Option": "Recursive", "Values": [base]}]
    pages = list(dev.ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=recursive, PaginationConfig={"PageSize": 1}))
    assert all(len(page["Parameters"]) <= 1 for page in pages)
    assert sorted(p["Name"] for page in pages for p in page["Parameters"]) == sorted(n.values())
    walked = dev.aws("ssm", "describe-parameters", "--parameter-filters",
                     f"Key=Path,Option=Recursive,Values={base}", "--page-size", "1")
    assert sorted(p["Name"] for p in walked["Parameters"]) == sorted(n.values()), walked


# ----------------------------------------------------------------------------------------------------------------
# GetParameterHistory and LabelParameterVersion
# ----------------------------------------------------------------------------------------------------------------


def test_parameter_history_carries_description_and_pattern(dev):
    name = f"{_path('history')}/release"
    dev.aws("ssm", "put-parameter", "--name", name, "--value", "v1", "--type", "String",
            "--description", "first", "--allowed-pattern", "^v[0-9]+$")
    dev.ssm.put_parameter(Name=name, Value="v2", Overwrite=True)  # no Description, no AllowedPattern
    dev.ssm.put_parameter(Name=name, Value="v3", Overwrite=True, Description="third")
    e = _error(dev.ssm.put_parameter, Name=name, Value="nope", Overwrite=True)
    assert error_code(e) == "ParameterPatternMismatchException", "the pattern of version 1 still applies"

    history = dev.aws("ssm", "get-parameter-history", "--name", name)["Parameters"]
    assert [h["Version"] for h in history] == [1, 2, 3], history
    assert [h["Value"] for h in history] == ["v1", "v2", "v3"]
    assert [h.get("Description") for h in history] == ["first", "first", "third"]
    assert [h.get("AllowedPattern") for h in history] == ["^v[0-9]+$"] * 3
    assert all(h["Type"] == "String" and h["Labels"] == [] and h["LastModifiedDate"] and h["Tier"] == "Standard"
               for h in history), history

    # SecureString history: opaque values unless decrypted.
    sec = f"{_path('history')}/token"
    dev.ssm.put_parameter(Name=sec, Value=SECRET, Type="SecureString")
    dev.ssm.put_parameter(Name=sec, Value=SECRET + "-v2", Type="SecureString", Overwrite=True)
    hidden = dev.aws("ssm", "get-parameter-history", "--name", sec)["Parameters"]
    assert [h["Version"] for h in hidden] == [1, 2]
    for h in hidden:
        _assert_opaque(h["Value"], SECRET)
        assert h["KeyId"] == "alias/aws/ssm"
    shown = dev.ssm.get_parameter_history(Name=sec, WithDecryption=True)["Parameters"]
    assert [h["Value"] for h in shown] == [SECRET, SECRET + "-v2"]

    e = _error(dev.ssm.get_parameter_history, Name=f"{name}-missing")
    assert error_code(e) == "ParameterNotFound", e.response


def test_label_parameter_version_moves_labels_and_reports_invalid_ones(dev):
    name = f"{_path('labels')}/service"
    for i in (1, 2, 3):
        dev.ssm.put_parameter(Name=name, Value=f"v{i}", Type="String", Overwrite=i > 1)

    out = dev.aws("ssm", "label-parameter-version", "--name", name, "--parameter-version", "1",
                  "--labels", "prod", "stable")
    assert out["InvalidLabels"] == [] and out["ParameterVersion"] == 1, out
    # Moving "prod" to version 2 takes it off version 1.
    out = dev.ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["prod"])
    assert out["ParameterVersion"] == 2 and out["InvalidLabels"] == []
    labels = {h["Version"]: sorted(h["Labels"]) for h in dev.ssm.get_parameter_history(Name=name)["Parameters"]}
    assert labels == {1: ["stable"], 2: ["prod"], 3: []}, labels
    assert dev.ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "v2"
    assert dev.ssm.get_parameter(Name=f"{name}:stable")["Parameter"]["Value"] == "v1"

    # Without a version, the latest is labelled.
    assert dev.ssm.label_parameter_version(Name=name, Labels=["latest-ok"])["ParameterVersion"] == 3

    # Labels that break the rules come back in InvalidLabels; the good one of the same request is attached.
    bad = ["9starts-with-digit", "awsreserved", "SSM-reserved", "has/slash", "has space"]
    out = dev.aws("ssm", "label-parameter-version", "--name", name, "--parameter-version", "3",
                  "--labels", "canary", *bad)
    assert sorted(out["InvalidLabels"]) == sorted(bad), out
    history = {h["Version"]: h["Labels"] for h in dev.ssm.get_parameter_history(Name=name)["Parameters"]}
    assert sorted(history[3]) == ["canary", "latest-ok"], history

    r = dev.aws_error("ssm", "label-parameter-version", "--name", name, "--parameter-version", "7",
                      "--labels", "x")
    assert r.error_code == "ParameterVersionNotFound", r.stderr


def test_eleventh_label_on_a_version_is_parameter_version_label_limit_exceeded(dev):
    name = f"{_path('labels')}/crowded"
    dev.ssm.put_parameter(Name=name, Value="v1", Type="String")
    ten = [f"l{i}" for i in range(10)]
    assert dev.ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=ten)["InvalidLabels"] == []
    r = dev.aws_error("ssm", "label-parameter-version", "--name", name, "--parameter-version", "1",
                      "--labels", "l10")
    assert r.error_code == "ParameterVersionLabelLimitExceeded", r.stderr
    # Re-attaching labels it already has is no eleventh label.
    assert dev.ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["l0", "l9"])["InvalidLabels"] == []
    # More than 10 labels in one request breaks the API model.
    e = _error(dev.client(validate=False).label_parameter_version, Name=name, ParameterVersion=1,
               Labels=[f"m{i}" for i in range(11)])
    assert error_code(e) == "ValidationException", e.response
    history = dev.ssm.get_parameter_history(Name=name)["Parameters"]
    assert sorted(history[0]["Labels"]) == sorted(ten), history


# ----------------------------------------------------------------------------------------------------------------
# DeleteParameter(s) and tags
# ----------------------------------------------------------------------------------------------------------------


def test_delete_parameter_and_delete_parameters(dev):
    base = _path("delete")
    one, two, three = f"{base}/one", f"{base}/two", f"{base}/three"
    for name in (one, two, three):
        dev.ssm.put_parameter(Name=name, Value="x", Type="String")
    dev.ssm.put_parameter(Name=one, Value="y", Overwrite=True)

    assert dev.aws("ssm", "delete-parameter", "--name", one) == {}
    _assert_not_found(dev, one)
    r = dev.aws_error("ssm", "delete-parameter", "--name", one)
    assert r.error_code == "ParameterNotFound", r.stderr
    e = _error(dev.ssm.get_parameter_history, Name=one)
    assert error_code(e) == "ParameterNotFound", "all versions go with the parameter"

    out = dev.aws("ssm", "delete-parameters", "--names", two, f"{base}/never-existed", three)
    assert sorted(out["DeletedParameters"]) == sorted([two, three]), out
    assert out["InvalidParameters"] == [f"{base}/never-existed"], out
    for name in (two, three):
        _assert_not_found(dev, name)

    # The name is free again: a new parameter starts at version 1.
    assert dev.ssm.put_parameter(Name=one, Value="fresh", Type="String")["Version"] == 1
    out = dev.ssm.delete_parameters(Names=[one, one + "-nope"])
    assert out["DeletedParameters"] == [one] and out["InvalidParameters"] == [one + "-nope"], out
    e = _error(dev.ssm.delete_parameter, Name=one)
    assert error_code(e) == "ParameterNotFound", e.response


def test_tags_on_parameters(dev):
    name = f"{_path('tags')}/tagged"
    dev.aws("ssm", "put-parameter", "--name", name, "--value", "v", "--type", "String",
            "--tags", "Key=Team,Value=core")
    assert dev.aws("ssm", "add-tags-to-resource", "--resource-type", "Parameter", "--resource-id", name,
                   "--tags", "Key=Env,Value=prod", "Key=Owner,Value=ops") == {}
    tags = dev.aws("ssm", "list-tags-for-resource", "--resource-type", "Parameter", "--resource-id", name)
    assert {t["Key"]: t["Value"] for t in tags["TagList"]} == {"Team": "core", "Env": "prod", "Owner": "ops"}, tags

    # Overwrite one, remove one (boto3); an overwrite of the value keeps the tags.
    dev.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "Env", "Value": "dev"}])
    dev.ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["Owner"])
    dev.ssm.put_parameter(Name=name, Value="v2", Overwrite=True)
    tags = dev.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert {t["Key"]: t["Value"] for t in tags} == {"Team": "core", "Env": "dev"}, tags
    found = dev.ssm.describe_parameters(ParameterFilters=[{"Key": "tag:Env", "Values": ["dev"]},
                                                          {"Key": "Name", "Values": [name]}])["Parameters"]
    assert _names(found) == {name}

    e = _error(dev.ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId=f"{name}-missing")
    assert error_code(e) == "InvalidResourceId", e.response


# ----------------------------------------------------------------------------------------------------------------
# The 100-version limit
# ----------------------------------------------------------------------------------------------------------------


def _history(dev, name: str) -> list[dict]:
    pages = dev.ssm.get_paginator("get_parameter_history").paginate(Name=name)
    return [h for page in pages for h in page["Parameters"]]


def test_version_limit_drops_the_oldest_unless_it_has_a_label(dev):
    name = f"{_path('limit')}/busy"
    for i in range(1, 101):
        assert dev.ssm.put_parameter(Name=name, Value=f"v{i}", Type="String", Overwrite=i > 1)["Version"] == i
    assert [h["Version"] for h in _history(dev, name)] == list(range(1, 101))

    # The 101st write drops version 1.
    assert dev.ssm.put_parameter(Name=name, Value="v101", Overwrite=True)["Version"] == 101
    history = _history(dev, name)
    assert [h["Version"] for h in history] == list(range(2, 102)), [h["Version"] for h in history][:3]
    assert history[0]["Value"] == "v2" and history[-1]["Value"] == "v101"
    e = _error(dev.ssm.get_parameter, Name=f"{name}:1")
    assert error_code(e) == "ParameterVersionNotFound", e.response

    # With a label on the oldest version (2), the next write is refused and nothing changes.
    dev.ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["keep"])
    e = _error(dev.ssm.put_parameter, Name=name, Value="v102", Overwrite=True)
    assert error_code(e) == "ParameterMaxVersionLimitExceeded", e.response
    assert "v102" not in error_message(e)
    latest = dev.ssm.get_parameter(Name=name)["Parameter"]
    assert (latest["Version"], latest["Value"]) == (101, "v101")
    assert dev.ssm.get_parameter(Name=f"{name}:keep")["Parameter"]["Value"] == "v2"
    assert len(_history(dev, name)) == 100

    # Moving the label to a newer version lets writes go on.
    dev.ssm.label_parameter_version(Name=name, ParameterVersion=50, Labels=["keep"])
    assert dev.ssm.put_parameter(Name=name, Value="v102", Overwrite=True)["Version"] == 102
    assert [h["Version"] for h in _history(dev, name)][:2] == [3, 4]


# ----------------------------------------------------------------------------------------------------------------
# Bad input: each refused with SSM's error code, and nothing stored
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["aws-x", "/ssm/x", "SSM-x"])
def test_reserved_prefix_is_refused(dev, name):
    unique = f"{name}-{uuid.uuid4().hex[:6]}"
    r = dev.aws_error("ssm", "put-parameter", "--name", unique, "--value", "v", "--type", "String")
    assert r.error_code == "ValidationException", r.stderr
    _assert_not_found(dev, unique)


def test_sixteen_hierarchy_levels_are_refused(dev):
    base = _path("deep")  # two levels
    fifteen = base + "".join(f"/l{i}" for i in range(13))
    sixteen = fifteen + "/l13"
    assert fifteen.count("/") == 15 and sixteen.count("/") == 16
    r = dev.aws_error("ssm", "put-parameter", "--name", sixteen, "--value", "v", "--type", "String")
    assert r.error_code == "HierarchyLevelLimitExceededException", r.stderr
    assert dev.ssm.put_parameter(Name=fifteen, Value="v", Type="String")["Version"] == 1
    e = _error(dev.ssm.get_parameter, Name=sixteen)
    assert error_code(e) in ("ParameterNotFound", "HierarchyLevelLimitExceededException", "ValidationException")


def test_value_over_the_standard_tier_size_needs_advanced(dev):
    base = _path("size")
    big = "x" * 4097
    r = dev.aws_error("ssm", "put-parameter", "--name", f"{base}/std", "--value", big, "--type", "String")
    assert r.error_code == "ValidationException", r.stderr
    _assert_not_found(dev, f"{base}/std")
    assert dev.ssm.put_parameter(Name=f"{base}/std", Value="x" * 4096, Type="String")["Tier"] == "Standard"
    # Overwriting the Standard parameter with 4097 bytes is refused too.
    e = _error(dev.ssm.put_parameter, Name=f"{base}/std", Value=big, Type="String", Overwrite=True, Tier="Standard")
    assert error_code(e) == "ValidationException", e.response
    assert dev.ssm.get_parameter(Name=f"{base}/std")["Parameter"]["Version"] == 1

    out = dev.aws("ssm", "put-parameter", "--name", f"{base}/adv", "--value", big, "--type", "String",
                  "--tier", "Advanced")
    assert out == {"Version": 1, "Tier": "Advanced"}, out
    assert dev.ssm.get_parameter(Name=f"{base}/adv")["Parameter"]["Value"] == big
    meta = dev.ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [f"{base}/adv"]}])["Parameters"]
    assert meta[0]["Tier"] == "Advanced", meta


def test_value_over_the_advanced_tier_size_is_refused(dev):
    name = f"{_path('size')}/adv-too-big"
    e = _error(dev.ssm.put_parameter, Name=name, Value="y" * 8193, Type="SecureString", Tier="Advanced")
    assert error_code(e) == "ValidationException", e.response
    assert "y" * 64 not in error_message(e), "an error never echoes the value"
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "y" * 8193, "--type", "String",
                      "--tier", "Advanced")
    assert r.error_code == "ValidationException", r.stderr
    _assert_not_found(dev, name)
    assert dev.ssm.put_parameter(Name=name, Value="y" * 8192, Type="String", Tier="Advanced")["Version"] == 1


def test_value_not_matching_allowed_pattern_is_refused(dev):
    name = f"{_path('pattern')}/port"
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "80a", "--type", "String",
                      "--allowed-pattern", "^[0-9]+$")
    assert r.error_code == "ParameterPatternMismatchException", r.stderr
    _assert_not_found(dev, name)
    # The pattern must match the whole value.
    e = _error(dev.ssm.put_parameter, Name=name, Value="10,000", Type="String", AllowedPattern=r"\d{1,4}")
    assert error_code(e) == "ParameterPatternMismatchException", e.response
    _assert_not_found(dev, name)
    assert dev.ssm.put_parameter(Name=name, Value="8080", Type="String", AllowedPattern="^[0-9]+$")["Version"] == 1


def test_invalid_allowed_pattern_regex_is_refused(dev):
    name = f"{_path('pattern')}/broken"
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "abc", "--type", "String",
                      "--allowed-pattern", "[a-z")
    assert r.error_code == "InvalidAllowedPatternException", r.stderr
    _assert_not_found(dev, name)


def test_unknown_key_id_on_securestring_is_invalid_key_id(dev):
    name = f"{_path('kms')}/secret"
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", SECRET, "--type", "SecureString",
                      "--key-id", "alias/no-such-key-e2e")
    assert r.error_code == "InvalidKeyId", r.stderr
    assert SECRET not in r.stderr
    _assert_not_found(dev, name)


def test_key_id_on_a_string_is_a_validation_exception(dev):
    name = f"{_path('kms')}/plain"
    e = _error(dev.ssm.put_parameter, Name=name, Value="v", Type="String", KeyId="alias/aws/ssm")
    assert error_code(e) == "ValidationException", e.response
    _assert_not_found(dev, name)


def test_missing_type_on_create_is_a_validation_exception(dev):
    name = f"{_path('notype')}/p"
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "v")
    assert r.error_code == "ValidationException", r.stderr
    _assert_not_found(dev, name)


def test_tags_with_overwrite_is_a_validation_exception(dev):
    name = f"{_path('tagsover')}/p"
    e = _error(dev.ssm.put_parameter, Name=name, Value="v", Type="String", Overwrite=True,
               Tags=[{"Key": "Env", "Value": "prod"}])
    assert error_code(e) == "ValidationException", e.response
    _assert_not_found(dev, name)
    dev.ssm.put_parameter(Name=name, Value="v1", Type="String")
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "v2", "--type", "String", "--overwrite",
                      "--tags", "Key=Env,Value=prod")
    assert r.error_code == "ValidationException", r.stderr
    assert dev.ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1
    assert dev.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == []


@pytest.mark.parametrize("leaf", ["bad name", "bad$name", "bad:name", "bad*name"],
                         ids=["space", "dollar", "colon", "star"])
def test_bad_characters_in_a_name_are_refused(dev, leaf):
    name = f"{_path('chars')}/{leaf}"
    e = _error(dev.ssm.put_parameter, Name=name, Value="v", Type="String")
    assert error_code(e) == "ValidationException", e.response
    listed = dev.ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [name.rsplit("/", 1)[0]]}])
    assert listed["Parameters"] == [], listed


def test_name_with_a_path_but_no_leading_slash_is_refused(dev):
    name = f"{_path('chars').lstrip('/')}/p"
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "v", "--type", "String")
    assert r.error_code == "ValidationException", r.stderr
    _assert_not_found(dev, "/" + name)


@pytest.mark.parametrize("key", ["Name", "Path", "tag:Env", "Tier"])
def test_get_parameters_by_path_with_an_invalid_filter_key_is_invalid_filter_key(dev, tree, key):
    base, _ = tree
    e = _error(dev.ssm.get_parameters_by_path, Path=base, Recursive=True,
               ParameterFilters=[{"Key": key, "Values": ["x"]}])
    assert error_code(e) == "InvalidFilterKey", e.response


def test_cli_get_parameters_by_path_with_an_invalid_filter_key(dev, tree):
    base, _ = tree
    r = dev.aws_error("ssm", "get-parameters-by-path", "--path", base, "--parameter-filters",
                      "Key=Name,Values=x")
    assert r.error_code == "InvalidFilterKey", r.stderr


def test_get_parameters_by_path_with_a_path_not_starting_with_slash(dev, tree):
    base, _ = tree
    r = dev.aws_error("ssm", "get-parameters-by-path", "--path", base.lstrip("/"), "--recursive")
    assert r.error_code == "ValidationException", r.stderr


def test_unsigned_and_wrongly_signed_put_parameter_are_refused(dev):
    name = f"{_path('auth')}/p"
    body = json.dumps({"Name": name, "Value": "v", "Type": "String"}).encode()
    raw = ssm_raw(dev.url, "AmazonSSM.PutParameter", body, None, None, sign=False)
    assert raw.status in (400, 403) and raw.error_type == "MissingAuthenticationTokenException", raw.text
    r = dev.aws_error("ssm", "put-parameter", "--name", name, "--value", "v", "--type", "String",
                      global_args=["--no-sign-request"])
    assert r.error_code == "MissingAuthenticationTokenException", r.stderr
    wrong = dev.client(secret="not-the-secret-" + "x" * 25)
    e = _error(wrong.put_parameter, statuses=(400, 403), Name=name, Value="v", Type="String")
    assert error_code(e) in ("InvalidSignatureException", "SignatureDoesNotMatch"), e.response
    e = _error(wrong.get_parameter, statuses=(400, 403), Name=name)
    assert error_code(e) in ("InvalidSignatureException", "SignatureDoesNotMatch"), e.response
    _assert_not_found(dev, name)
    # Sanity: the same body, properly signed, is accepted.
    ok = ssm_raw(dev.url, "AmazonSSM.PutParameter", body, dev.key_id, dev.secret)
    assert ok.status == 200 and ok.json()["Version"] == 1, ok.text
