"""Process and client plumbing for fleetrun's end-to-end tests.

Everything here starts REAL processes (`fleetrun dev`, `fleetrun server`, `fleetrun agent`) on random ports in
private temporary directories, and talks to them with the real `aws` CLI (v1) and boto3.

Clean-up rule: every process this module starts carries `FLEETRUN_E2E_MARK=<mark>` in its environment, and
scripts inherit the agent's environment. `Harness.close()` kills the processes it spawned and then every process
on the machine whose environment carries its mark (and that process's group), so agents *and* the scripts they
started (which run in their own process groups and outlive their agent on purpose) are gone after teardown.
Other people's processes are never touched: the mark is unique per harness.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
SESSION_MARK = f"e2e{uuid.uuid4().hex[:10]}"
MARK_VAR = "FLEETRUN_E2E_MARK"
POLL = 0.15  # seconds between polls: within the 100-200 ms rule
REGION = "us-east-1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

COMMAND_TERMINAL = {"Success", "Cancelled", "Failed", "TimedOut"}
INVOCATION_TERMINAL = {"Success", "Cancelled", "Failed", "TimedOut"}
TRUNCATION_MARKER = "--output truncated--"

# Tags of the 10 extra agents of the `fleet` fixture, a0..a9.
FLEET_TAGS = [
    [("Role", "web"), ("Env", "prod"), ("Canary", "yes")],  # a0
    [("Role", "web"), ("Env", "prod")],  # a1
    [("Role", "web"), ("Env", "staging")],  # a2
    [("Role", "web"), ("Env", "qa")],  # a3
    [("Role", "db"), ("Env", "prod"), ("Pool", "rate")],  # a4
    [("Role", "db"), ("Env", "prod"), ("Pool", "rate"), ("Canary", "no")],  # a5
    [("Role", "db"), ("Env", "staging"), ("Pool", "rate")],  # a6
    [("Role", "db"), ("Env", "staging"), ("Pool", "rate")],  # a7
    [("Role", "db"), ("Env", "staging"), ("Pool", "rate")],  # a8
    [("Role", "db"), ("Env", "staging"), ("Pool", "rate")],  # a9
]



# --------------------------------------------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------------------------------------------


class WaitTimeout(AssertionError):
    pass


def wait_for(
    probe: Callable[[], Any],
    timeout: float,
    what: str,
    diag: Callable[[], str] | None = None,
    interval: float = POLL,
) -> Any:
    """Calls `probe` every `interval` s until it returns a truthy value (returned) or `timeout` s pass.

    A probe may raise `Retry(detail)` to say "not yet, and this is what I saw"; the last detail is part of the
    failure message.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Retry as r:
            last = r.detail
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:.0f}s waiting for {what}; last seen: {_short(last)}"
            if diag is not None:
                message += "\n" + diag()
            raise WaitTimeout(message)
        time.sleep(interval)


class Retry(Exception):
    def __init__(self, detail: Any = None):
        super().__init__(detail)
        self.detail = detail


def _short(value: Any, limit: int = 1500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, indent=None)
    return text if len(text) <= limit else text[:limit] + "…"


def pid_alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie (PID 1 of a container may never reap reparented children)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


# --------------------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------------------


def fleetrun_binary_source() -> Path:
    path = Path(os.environ.get("FLEETRUN_BIN", REPO / "target" / "debug" / "fleetrun"))
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: run `cargo build` in {REPO} first (or set FLEETRUN_BIN)")
    return path


def base_env(mark: str) -> dict[str, str]:
    """The environment for fleetrun processes: ours without AWS_*/FLEETRUN_* (so nothing leaks in), plus the mark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLEETRUN_"))}
    env[MARK_VAR] = mark
    env["NO_COLOR"] = "1"
    if os.environ.get("FLEETRUN_E2E_LOG"):
        env["FLEETRUN_LOG"] = os.environ["FLEETRUN_E2E_LOG"]
    return env


class Proc:
    """One child process, its output appended to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"\n===== start {name}: {' '.join(argv)}\n".encode())
            log.flush()
            # A session of its own: signals sent to the test runner's group never reach it, and ours never
            # reach the test runner.
            self.popen = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int = signal.SIGKILL, wait: float = 10.0) -> int | None:
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        try:
            return self.popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} (pid {self.pid}) did not exit within {wait}s of signal {sig}")

    def log_text(self) -> str:
        return read_log(self.log_path)


def read_log(path: Path) -> str:
    try:
        return ANSI.sub("", path.read_text(errors="replace"))
    except FileNotFoundError:
        return ""


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def marked_pids(mark_prefix: str) -> list[int]:
    """Pids of live processes whose environment has FLEETRUN_E2E_MARK starting with `mark_prefix`."""
    wanted = f"{MARK_VAR}={mark_prefix}".encode()
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if any(var.startswith(wanted) for var in environ.split(b"\0")):
            found.append(int(entry))
    return found


def kill_marked(mark_prefix: str, timeout: float = 10.0) -> list[int]:
    """SIGKILLs every process (and its process group) carrying the mark, until none is left."""
    my_group = os.getpgrp()
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in marked_pids(mark_prefix) if pid_alive(p)]
        if not pids:
            return killed
        for pid in pids:
            try:
                group = os.getpgid(pid)
                if group > 1 and group != my_group:
                    os.killpg(group, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"processes marked {mark_prefix} survive SIGKILL: {pids}")
        time.sleep(0.1)


class Harness:
    """A private temporary directory plus every process started in it; `close()` leaves nothing behind."""

    def __init__(self, label: str, binary: Path):
        self.label = label
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix=f"fleetrun-e2e-{label}-"))
        self.mark = f"{SESSION_MARK}-{label}-{uuid.uuid4().hex[:6]}"
        self.procs: list[Proc] = []
        self.logs = self.root / "logs"
        self.logs.mkdir()

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        full_env = base_env(self.mark)
        full_env.update(env or {})
        proc = Proc(name, [str(self.binary), *args], full_env, self.logs / f"{name}.log")
        self.procs.append(proc)
        return proc

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        return p

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                try:
                    proc.signal(signal.SIGKILL, wait=10)
                except AssertionError:
                    pass
        kill_marked(self.mark)
        if not os.environ.get("FLEETRUN_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------------------------


def client_config(**extra: Any) -> Config:
    # One attempt: a 5xx or a throttle must show up in the test, not be retried away.
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60, **extra)


def make_client(url: str, key: str, secret: str, validate: bool = True):
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
    return session.client(
        "ssm", endpoint_url=url, config=client_config(parameter_validation=validate)
    )


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", "")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode())

    @property
    def error_type(self) -> str:
        try:
            code = self.json().get("__type", "")
        except Exception:
            return ""
        return code.split("#")[-1].split(":")[0]

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def http(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
         timeout: float = 30) -> RawResponse:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return RawResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as e:
        return RawResponse(e.code, dict(e.headers), e.read())


def signed_http(method: str, url: str, key: str, secret: str, headers: dict[str, str] | None = None,
                body: bytes = b"", service: str = "ssm") -> RawResponse:
    """A SigV4-signed request (botocore's signer, as the SDKs sign)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key, secret), service, REGION).add_auth(request)
    prepared = request.prepare()
    return http(method, prepared.url, dict(prepared.headers.items()), prepared.body or None)


def ssm_raw(url: str, target: str, body: bytes, key: str | None, secret: str | None,
            sign: bool = True) -> RawResponse:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    if sign:
        return signed_http("POST", url + "/", key or "", secret or "", headers, body)
    return http("POST", url + "/", headers, body)


# --------------------------------------------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    argv: list[str]

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else {}

    @property
    def error_code(self) -> str:
        m = re.search(r"An error occurred \(([^)]+)\)", self.stderr)
        return m.group(1) if m else ""


class Agent:
    def __init__(self, cluster: "Cluster", name: str, tags: Iterable[tuple[str, str]] = (),
                 instance_id: str | None = None, max_concurrent: int | None = None,
                 kill_grace: int | None = None, activation: tuple[str, str] | None = None,
                 server: str | None = None):
        self.cluster = cluster
        self.server = server
        self.name = name
        self.tags = list(tags)
        self.requested_id = instance_id
        self.max_concurrent = max_concurrent
        self.kill_grace = kill_grace
        self.activation = activation or (cluster.activation_id, cluster.activation_code)
        self.state_dir = cluster.h.path("agents", name)
        self.proc: Proc | None = None
        self.procs: list[Proc] = []
        self.instance_id: str | None = None

    def argv(self) -> list[str]:
        args = ["agent", "--server", self.server or self.cluster.url, "--activation-id", self.activation[0],
                "--activation-code", self.activation[1], "--state-dir", str(self.state_dir)]
        for k, v in self.tags:
            args += ["--tag", f"{k}={v}"]
        if self.requested_id:
            args += ["--instance-id", self.requested_id]
        if self.max_concurrent is not None:
            args += ["--max-concurrent", str(self.max_concurrent)]
        if self.kill_grace is not None:
            args += ["--kill-grace-seconds", str(self.kill_grace)]
        return args

    def start(self) -> "Agent":
        self.proc = self.cluster.h.spawn(f"agent-{self.name}", self.argv())
        self.procs.append(self.proc)
        return self

    @property
    def identity_path(self) -> Path:
        return self.state_dir / "identity.json"

    def identity(self) -> dict:
        return json.loads(self.identity_path.read_text())

    def wait_enrolled(self, timeout: float = 30) -> str:
        def probe():
            if self.identity_path.exists():
                try:
                    return self.identity()["instance_id"]
                except (ValueError, KeyError):
                    raise Retry("identity.json incomplete")
            if self.proc is not None and not self.proc.alive():
                raise AssertionError(
                    f"agent {self.name} exited with {self.proc.popen.returncode} before enrolling:\n"
                    + tail(self.log_text())
                )
            raise Retry("no identity.json yet")

        self.instance_id = wait_for(probe, timeout, f"agent {self.name} to enrol", self.diag)
        return self.instance_id

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stops the agent process only; its scripts (own process groups) keep running."""
        assert self.proc is not None
        self.proc.signal(sig, wait=10)

    def restart(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.kill()
        self.start()

    def log_text(self) -> str:
        return read_log(self.cluster.h.logs / f"agent-{self.name}.log")

    def diag(self) -> str:
        return f"--- agent {self.name} log tail:\n{tail(self.log_text())}"


class Cluster:
    """A running control plane (dev or standalone) and its agents, with CLI and boto3 access."""

    kind = "?"

    def __init__(self, h: Harness):
        self.h = h
        self.url = ""
        self.key_id = ""
        self.secret = ""
        self.activation_id = ""
        self.activation_code = ""
        self.agents: list[Agent] = []
        self.server_proc: Proc | None = None
        self._ssm = None
        self.aws_home = h.path("aws-home")
        self.aws_home.mkdir(exist_ok=True)

    # ---- clients -----------------------------------------------------------------------------------------

    @property
    def ssm(self):
        if self._ssm is None:
            self._ssm = make_client(self.url, self.key_id, self.secret)
        return self._ssm

    def client(self, key: str | None = None, secret: str | None = None, validate: bool = True):
        return make_client(self.url, key or self.key_id, secret or self.secret, validate)

    def env_vars(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": REGION,
        }

    def cli_env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # No user config or credentials files may change what the CLI sends.
        env["AWS_CONFIG_FILE"] = str(self.aws_home / "config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.aws_home / "credentials")
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env["AWS_MAX_ATTEMPTS"] = "1"
        env.update(self.env_vars())
        env.update(overrides or {})
        return env

    def aws_run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90,
                global_args: Iterable[str] = ()) -> CliResult:
        argv = ["aws", *global_args, *args, "--output", "json"]
        env = env if env is not None else self.cli_env()
        try:
            cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"`{' '.join(argv)}` did not finish within {timeout}s\n{self.diag()}")
        return CliResult(cp.returncode, cp.stdout, cp.stderr, argv)

    def aws(self, *args: str, **kw: Any) -> Any:
        """Runs `aws <args> --output json`, asserts success, returns the parsed JSON."""
        r = self.aws_run(*args, **kw)
        assert r.returncode == 0, (
            f"`{' '.join(r.argv)}` failed with {r.returncode}:\n{r.stderr}\n{self.diag()}"
        )
        return r.json

    def aws_error(self, *args: str, **kw: Any) -> CliResult:
        r = self.aws_run(*args, **kw)
        assert r.returncode != 0, f"`{' '.join(r.argv)}` unexpectedly succeeded: {r.stdout[:2000]}"
        return r

    # ---- agents --------------------------------------------------------------------------------------------

    def add_agent(self, name: str, **kw: Any) -> Agent:
        agent = Agent(self, name, **kw)
        self.agents.append(agent)
        return agent

    def start_agents(self, specs: list[dict], timeout: float = 60) -> list[Agent]:
        """Starts several agents at once (all processes first, then waits for each to enrol)."""
        agents = [self.add_agent(**spec).start() for spec in specs]
        for agent in agents:
            agent.wait_enrolled(timeout)
        return agents

    def start_agent(self, name: str, timeout: float = 30, **kw: Any) -> Agent:
        return self.start_agents([dict(name=name, **kw)], timeout)[0]

    # ---- commands ------------------------------------------------------------------------------------------

    def send_shell(self, commands: list[str] | str, instance_ids: list[str] | None = None,
                   targets: list[dict] | None = None, **kw: Any) -> dict:
        params = kw.pop("Parameters", {})
        params["commands"] = [commands] if isinstance(commands, str) else commands
        req: dict[str, Any] = dict(DocumentName="AWS-RunShellScript", Parameters=params, **kw)
        if instance_ids is not None:
            req["InstanceIds"] = instance_ids
        if targets is not None:
            req["Targets"] = targets
        return self.ssm.send_command(**req)["Command"]

    def get_command(self, command_id: str) -> dict:
        commands = self.ssm.list_commands(CommandId=command_id)["Commands"]
        assert len(commands) == 1, f"ListCommands(CommandId={command_id}) returned {len(commands)} commands"
        return commands[0]

    def wait_command(self, command_id: str, timeout: float = 30,
                     statuses: set[str] = COMMAND_TERMINAL) -> dict:
        def probe():
            c = self.get_command(command_id)
            if c["Status"] in statuses:
                return c
            raise Retry({k: c.get(k) for k in ("Status", "StatusDetails", "TargetCount", "CompletedCount",
                                               "ErrorCount", "DeliveryTimedOutCount")})

        return wait_for(probe, timeout, f"command {command_id} to reach {sorted(statuses)}", self.diag)

    def get_invocation(self, command_id: str, instance_id: str, **kw: Any) -> dict:
        return self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id, **kw)

    def wait_invocation(self, command_id: str, instance_id: str, timeout: float = 30,
                        statuses: set[str] = INVOCATION_TERMINAL) -> dict:
        def probe():
            try:
                inv = self.get_invocation(command_id, instance_id)
            except ClientError as e:
                if error_code(e) == "InvocationDoesNotExist":
                    raise Retry("InvocationDoesNotExist")
                raise
            if inv["Status"] in statuses:
                return inv
            raise Retry({k: inv.get(k) for k in ("Status", "StatusDetails", "ResponseCode")})

        return wait_for(probe, timeout, f"invocation {command_id}/{instance_id} to reach {sorted(statuses)}",
                        self.diag)

    def invocations(self, command_id: str, details: bool = False) -> list[dict]:
        pages = self.ssm.get_paginator("list_command_invocations").paginate(
            CommandId=command_id, Details=details)
        return [inv for page in pages for inv in page["CommandInvocations"]]

    def all_commands(self, **kw: Any) -> list[dict]:
        pages = self.ssm.get_paginator("list_commands").paginate(**kw)
        return [c for page in pages for c in page["Commands"]]

    def command_count(self) -> int:
        return len(self.all_commands())

    # ---- diagnostics ---------------------------------------------------------------------------------------

    def server_log(self) -> str:
        return self.server_proc.log_text() if self.server_proc else ""

    def diag(self) -> str:
        parts = [f"--- {self.kind} log tail ({self.h.root}):\n{tail(self.server_log(), 30)}"]
        for agent in self.agents[-4:]:
            parts.append(agent.diag())
        return "\n".join(parts)


class DevCluster(Cluster):
    """`fleetrun dev`: server + one local agent; its dev.env is what a user would `source`."""

    kind = "fleetrun dev"

    def __init__(self, h: Harness, instance_id: str = "i-abcd1234"):
        super().__init__(h)
        self.data_dir = h.path("dev")
        self.requested_id = instance_id
        self.listen = "127.0.0.1:0"
        self.dev_instance_id = ""
        self.env_file = self.data_dir / "dev.env"
        self.restarts = 0
        self.extra_args: list[str] = []
        self.extra_env: dict[str, str] = {}

    def start(self, timeout: float = 30) -> "DevCluster":
        if self.env_file.exists():
            self.env_file_mtime = self.env_file.stat().st_mtime_ns
        else:
            self.env_file_mtime = None
        name = "dev" if self.restarts == 0 else f"dev-restart{self.restarts}"
        self.server_proc = self.h.spawn(
            name, ["dev", "--data-dir", str(self.data_dir), "--listen", self.listen,
                   "--instance-id", self.requested_id, *self.extra_args], env=self.extra_env)
        self.restarts += 1

        def probe():
            if not self.server_proc.alive():
                raise AssertionError(f"fleetrun dev exited with {self.server_proc.popen.returncode}:\n"
                                     + tail(self.server_proc.log_text()))
            if not self.env_file.exists():
                raise Retry("no dev.env yet")
            if self.env_file_mtime is not None and self.env_file.stat().st_mtime_ns == self.env_file_mtime:
                raise Retry("dev.env not rewritten yet")
            values = self.sourced_env()
            if "FLEETRUN_DEV_INSTANCE_ID" not in values:
                raise Retry("dev.env incomplete")
            return values

        values = wait_for(probe, timeout, "fleetrun dev to write dev.env", self.diag)
        self.url = values["AWS_ENDPOINT_URL"]
        self.key_id = values["AWS_ACCESS_KEY_ID"]
        self.secret = values["AWS_SECRET_ACCESS_KEY"]
        self.activation_id = values["FLEETRUN_ACTIVATION_ID"]
        self.activation_code = values["FLEETRUN_ACTIVATION_CODE"]
        self.dev_instance_id = values["FLEETRUN_DEV_INSTANCE_ID"]
        self.listen = self.url.removeprefix("http://")
        self._ssm = None
        return self

    def sourced_env(self) -> dict[str, str]:
        """What `source dev.env` exports, obtained by really sourcing it in bash."""
        script = f"set -a; . {shlex_quote(str(self.env_file))}; env -0"
        cp = subprocess.run(["bash", "-c", script], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                            capture_output=True, timeout=20)
        assert cp.returncode == 0, f"sourcing {self.env_file} failed: {cp.stderr.decode()}"
        out = {}
        for item in cp.stdout.split(b"\0"):
            if b"=" in item:
                k, v = item.decode().split("=", 1)
                if k.startswith(("AWS_", "FLEETRUN_")):
                    out[k] = v
        return out

    def stop(self, sig: int = signal.SIGKILL) -> None:
        assert self.server_proc is not None
        self.server_proc.signal(sig)


class ServerCluster(Cluster):
    """A standalone `fleetrun server` (admin key from DIR/admin-credentials) plus agents enrolled through an
    activation created with the API."""

    kind = "fleetrun server"
    READY = re.compile(r"fleetrun server ready\.\s+listen=(\S+)")

    def __init__(self, h: Harness):
        super().__init__(h)
        self.data_dir = h.path("server")
        self.listen = "127.0.0.1:0"
        self.starts = 0
        self.extra_args: list[str] = []
        self.extra_env: dict[str, str] = {}

    def start(self, timeout: float = 30) -> "ServerCluster":
        name = "server" if self.starts == 0 else f"server-restart{self.starts}"
        self.server_proc = self.h.spawn(
            name, ["server", "--listen", self.listen, "--data-dir", str(self.data_dir), *self.extra_args],
            env=self.extra_env)
        self.starts += 1
        proc = self.server_proc

        def probe():
            if not proc.alive():
                raise AssertionError(f"fleetrun server exited with {proc.popen.returncode}:\n"
                                     + tail(proc.log_text()))
            m = self.READY.search(proc.log_text().split("===== start")[-1])
            if not m:
                raise Retry("not ready yet")
            return m.group(1)

        listen = wait_for(probe, timeout, "fleetrun server to be ready", self.diag)
        self.listen = listen
        self.url = f"http://{listen}"
        self.key_id, self.secret = read_credentials(self.data_dir / "admin-credentials")
        self._ssm = None
        if not self.activation_id:
            out = self.ssm.create_activation(IamRole="fleetrun-e2e", RegistrationLimit=100,
                                             Description="e2e agents")
            self.activation_id, self.activation_code = out["ActivationId"], out["ActivationCode"]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.server_proc is not None
        self.server_proc.signal(sig, wait=15)


def read_credentials(path: Path) -> tuple[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            values[k.strip()] = v.strip()
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def shlex_quote(s: str) -> str:
    return shlex.quote(s)


# --------------------------------------------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------------------------------------------


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())


def wait_file(path: Path, timeout: float, what: str, diag: Callable[[], str] | None = None,
              nonempty: bool = True) -> Path:
    def probe():
        if path.exists() and (not nonempty or path.stat().st_size > 0):
            return path
        raise Retry(f"{path} missing")

    return wait_for(probe, timeout, what, diag)


def wait_pids_gone(pids: list[int], timeout: float, what: str, diag: Callable[[], str] | None = None) -> float:
    start = time.monotonic()

    def probe():
        alive = [p for p in pids if pid_alive(p)]
        if alive:
            raise Retry(f"still alive: {alive}")
        return True

    wait_for(probe, timeout, what, diag, interval=0.1)
    return time.monotonic() - start


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    # At the same instant an end counts before a start.
    events.sort(key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def run_parallel(funcs: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(funcs)
    errors: list[BaseException] = []

    def runner(i, f):
        try:
            results[i] = f()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=runner, args=(i, f)) for i, f in enumerate(funcs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results
