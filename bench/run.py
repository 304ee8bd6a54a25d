#!/usr/bin/env python3
"""fleetrun dispatch-latency and footprint benchmark (loopback only).

Measures, against a real `fleetrun server` and real `fleetrun agent` processes on 127.0.0.1:

  (a) SendCommand accepted -> script process started on one agent, over N sequential commands
      (p50/p99), plus the SendCommand round trip, plus a per-stage breakdown taken from the
      server's and the agent's own log timestamps;
  (b) one `true` command fanned out to M agents: send -> all Success visible through the API,
      repeated R times, against a same-run baseline of 100 bare fork/execs of /bin/true;
  (c) idle RSS of one agent and of the server with M agents connected;
  (d) a one-step runbook (aws:executeScript, handler returns {"ok": True}): StartAutomationExecution
      -> Success visible through GetAutomationExecution, N sequential runs (p50/p99), against a
      same-run baseline of N bare `python3 -c pass` starts.

Everything runs in a private temporary directory on random loopback ports; every process this
script starts is killed on exit, including on failure, Ctrl-C, SIGTERM and the overall time limit.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import calendar
import configparser
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO / "target" / "release" / "fleetrun"

TARGETS = {
    "a_p50_ms": 5.0,
    "a_p99_ms": 20.0,
    "b_factor": 3.0,  # fan-out <= 3 x (baseline + 50 ms)
    "b_slack_ms": 50.0,
    "c_agent_rss_mib": 10.0,
    "d_overhead_ms": 15.0,  # runbook start -> Success p50 <= python3 -c pass p50 + 15 ms
}

AUTOMATION_TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled", "CompletedWithSuccess",
                       "CompletedWithFailure", "Rejected", "Exited"}

RUNBOOK_YAML = """\
schemaVersion: '0.3'
description: 'fleetrun bench (d): one aws:executeScript step whose handler returns {"ok": true}'
mainSteps:
  - name: ok
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
          return {"ok": True}
    outputs:
      - Name: ok
        Selector: $.Payload.ok
        Type: Boolean
outputs:
  - ok.ok
"""

TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled", "DeliveryTimedOut", "Undeliverable", "Terminated"}
LOG_LEVEL = "info,sqlx=warn,tower_http=warn,hyper=warn,reqwest=warn"


class BenchError(Exception):
    pass


class OverallTimeout(BaseException):
    """Raised from SIGALRM when the whole run exceeds --time-limit."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Process bookkeeping: every child gets its own session (process group) and is killed on exit.
# --------------------------------------------------------------------------------------------


class Procs:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self._files = []

    def start(self, name: str, argv: list[str], log_path: Path, env: dict) -> subprocess.Popen:
        f = open(log_path, "ab", buffering=0)
        self._files.append(f)
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        self.children.append((name, p))
        return p

    def stop_all(self, grace: float = 5.0) -> None:
        alive = [(n, p) for n, p in self.children if p.poll() is None]
        for _, p in alive:
            _signal_group(p.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        for _, p in alive:
            left = end - time.monotonic()
            try:
                p.wait(timeout=max(0.05, left))
            except subprocess.TimeoutExpired:
                pass
        for name, p in self.children:
            # Only signal a group whose leader we have not reaped yet: a reaped leader's pid could
            # in principle belong to someone else by now.
            if p.poll() is None:
                _signal_group(p.pid, signal.SIGKILL)
                try:
                    p.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    log(f"warning: {name} (pid {p.pid}) did not die after SIGKILL")
        self.children.clear()
        for f in self._files:
            try:
                f.close()
            except OSError:
                pass
        self._files.clear()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 2nd largest)."""
    s = sorted(values)
    k = max(0, math.ceil(p / 100.0 * len(s)) - 1)
    return s[k]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": round(min(values), 3),
        "p50": round(pct(values, 50), 3),
        "p90": round(pct(values, 90), 3),
        "p99": round(pct(values, 99), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


def run_text(argv: list[str], timeout: float = 10) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def child_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLEETRUN_", "AWS_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "rust_log")}
    env["FLEETRUN_LOG"] = LOG_LEVEL
    env["NO_COLOR"] = "1"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def proc_status(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[key] = int(val.split()[0])
    except OSError:
        pass
    try:
        private = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, val = line.partition(":")
            if key == "Pss":
                out["Pss"] = int(val.split()[0])
            elif key in ("Private_Clean", "Private_Dirty"):
                private += int(val.split()[0])
        out["Uss"] = private
    except (OSError, ValueError, IndexError):
        pass
    return out


# tracing-subscriber's default format: "2025-01-02T03:04:05.123456Z  INFO target: message k=v"
_TS = re.compile(r"^(?:\x1b\[[0-9;]*m)*(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CID = re.compile(r"command_id=\"?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_DIRCID = re.compile(r"orchestration/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/")


def log_ts_ns(line: str) -> int | None:
    m = _TS.match(line)
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    frac = (frac or "0").ljust(9, "0")[:9]
    return secs * 1_000_000_000 + int(frac)


def scan_log(path: Path, events: dict[str, str]) -> dict[str, dict[str, list[int]]]:
    """{event name: {command_id: [timestamps ns]}} for lines containing each event's message."""
    found: dict[str, dict[str, list[int]]] = {k: {} for k in events}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return found
    for raw in text.splitlines():
        line = _ANSI.sub("", raw)
        for name, message in events.items():
            if message in line:
                ts = log_ts_ns(line)
                m = _CID.search(line) or _DIRCID.search(line)
                if ts is not None and m:
                    found[name].setdefault(m.group(1), []).append(ts)
    return found


_IID = re.compile(r"instance_id=\"?((?:mi|i)-[0-9a-f]+)")


def scan_pairs(path: Path, message: str, command_id: str) -> dict[str, int]:
    """{instance_id: first timestamp ns} of server log lines with `message` for one command."""
    out: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for raw in text.splitlines():
        if message not in raw or command_id not in raw:
            continue
        line = _ANSI.sub("", raw)
        ts, m = log_ts_ns(line), _IID.search(line)
        if ts is not None and m and m.group(1) not in out:
            out[m.group(1)] = ts
    return out


def iso_to_ns(text: str) -> int | None:
    # boto3 gives ExecutionStartDateTime as a string like 2025-01-02T03:04:05.123Z
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?", text or "")
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tz = tz[1:].replace(":", "")
        secs -= sign * (int(tz[:2]) * 3600 + int(tz[2:]) * 60)
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])


# --------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------


def machine_info(binary: Path, tmp_root: Path) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    profile = "release" if "/release/" in str(binary) else ("debug" if "/debug/" in str(binary) else "unknown")
    release_profile = ""
    try:
        cargo = (REPO / "Cargo.toml").read_text()
        m = re.search(r"^\[profile\.release\]\s*\n((?:[^\[\n].*\n?)*)", cargo, re.M)
        release_profile = " ".join(l.strip() for l in (m.group(1) if m else "").splitlines() if l.strip())
    except OSError:
        pass
    fs = run_text(["stat", "-f", "-c", "%T", str(tmp_root)])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": run_text(["sh", "-c", ". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\""]),
        "rustc": run_text(["rustc", "--version"]),
        "python": platform.python_version(),
        "boto3": _boto3_version(),
        "build_profile": profile,
        "cargo_profile_release": release_profile or "(defaults)",
        "binary": str(binary),
        "binary_size_mib": round(binary.stat().st_size / 1024 / 1024, 1),
        "binary_mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(binary.stat().st_mtime)),
        "git_head": run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "git_dirty_files": len([l for l in run_text(["git", "-C", str(REPO), "status", "--porcelain"]).splitlines() if l.strip()]),
        "tmp_dir": str(tmp_root),
        "tmp_fs": fs,
        "loadavg_start": _loadavg(),
    }


def _boto3_version() -> str:
    try:
        import boto3
        return boto3.__version__
    except Exception:
        return ""


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def fsync_cost_ms(directory: Path, n: int = 20) -> dict:
    """Cost of one small write+fsync+rename on the filesystem the data dirs live on (what a
    journal save or a SQLite commit pays at least once)."""
    times = []
    for i in range(n):
        p = directory / f"fsync-probe-{i}.tmp"
        t0 = time.perf_counter()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"x" * 1024)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(p, directory / f"fsync-probe-{i}.json")
        times.append((time.perf_counter() - t0) * 1000)
        os.unlink(directory / f"fsync-probe-{i}.json")
    return summary(times)


def fsync_storm_ms(directory: Path, n: int = 100, trials: int = 3) -> dict:
    """Wall time of n concurrent 1.5 KiB write+fsync+rename (threads), like n agents each
    saving one journal entry at the same moment. Median and all trials, ms."""
    import threading

    def one(i: int) -> None:
        p = directory / f"storm-{i}.tmp"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"x" * 1536)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(p, directory / f"storm-{i}.json")

    walls = []
    for _ in range(trials):
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        walls.append((time.perf_counter() - t0) * 1000)
        for i in range(n):
            try:
                os.unlink(directory / f"storm-{i}.json")
            except OSError:
                pass
    return {"n": n, "median_ms": round(statistics.median(walls), 2), "all_ms": [round(w, 2) for w in walls]}


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own utime+stime, reaped children's cutime+cstime) of a process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # after "(comm)": state is fields[0]; utime=13, stime=14, cutime=15, cstime=16 (1-based 14..17)
        own = (int(fields[11]) + int(fields[12])) / _CLK_TCK
        kids = (int(fields[13]) + int(fields[14])) / _CLK_TCK
        return own, kids
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def python_start_ms(argv: list[str], env: dict) -> float:
    """Wall time of one interpreter run (fork/exec, start-up, exit, reap), ms."""
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, timeout=30, env=env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def baseline_true_ms() -> float:
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", "for i in $(seq 100); do /bin/true; done"], check=True, timeout=30)
    return (time.perf_counter() - t0) * 1000


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.procs = Procs()
        self.env = child_env()
        self.server: subprocess.Popen | None = None
        self.server_log = work / "server.log"
        self.agents: list[dict] = []  # {proc, dir, log, iid}
        self.url = ""
        self.ssm = None

    # ---- server -----------------------------------------------------------------------------

    def start_server(self) -> None:
        data = self.work / "server"
        for attempt in range(3):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.server = self.procs.start(
                "server",
                [str(self.args.binary), "server", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
                + (["--database-url", self.database_url] if self.database_url else []),
                self.server_log,
                self.env,
            )
            end = time.monotonic() + 30
            while time.monotonic() < end:
                if self.server.poll() is not None:
                    break
                if (data / "admin-credentials").exists() and "fleetrun server ready" in self.server_log.read_text(errors="replace"):
                    break
                time.sleep(0.05)
            if self.server.poll() is None and (data / "admin-credentials").exists():
                break
            log(f"server did not come up on port {port} (attempt {attempt + 1}); retrying")
            _signal_group(self.server.pid, signal.SIGKILL)
        else:
            raise BenchError("the server did not start; see " + str(self.server_log))
        cp = configparser.ConfigParser()
        cp.read(data / "admin-credentials")
        key, secret = cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"]
        import boto3
        from botocore.config import Config

        os.environ["NO_PROXY"] = "127.0.0.1,localhost"
        os.environ["no_proxy"] = "127.0.0.1,localhost"
        self.ssm = boto3.client(
            "ssm",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                          read_timeout=30, max_pool_connections=4),
        )
        act = self.ssm.create_activation(IamRole="bench", RegistrationLimit=max(1000, self.args.agents))
        self.activation = (act["ActivationId"], act["ActivationCode"])
        log(f"server up at {self.url} (pid {self.server.pid})")

    # ---- agents -----------------------------------------------------------------------------

    def start_agent(self, i: int) -> dict:
        d = self.work / "agents" / f"a{i:03d}"
        d.parent.mkdir(parents=True, exist_ok=True)
        logp = self.work / "agents" / f"a{i:03d}.log"
        aid, code = self.activation
        p = self.procs.start(
            f"agent{i}",
            [str(self.args.binary), "agent", "--server", self.url, "--activation-id", aid,
             "--activation-code", code, "--state-dir", str(d), "--tag", "bench=fleet"],
            logp,
            self.env,
        )
        a = {"i": i, "proc": p, "dir": d, "log": logp, "iid": None}
        self.agents.append(a)
        return a

    def wait_agents_ready(self, agents: list[dict], timeout: float) -> None:
        """Each agent has enrolled (identity.json), entered its poll loop (log line), and the API
        lists all of them Online."""
        end = time.monotonic() + timeout
        pending = list(agents)
        while pending:
            if time.monotonic() > end:
                raise BenchError(f"{len(pending)} agents not ready after {timeout:.0f}s (e.g. {pending[0]['log']})")
            still = []
            for a in pending:
                if a["proc"].poll() is not None:
                    raise BenchError(f"agent {a['i']} exited with {a['proc'].returncode}; see {a['log']}")
                ident = a["dir"] / "identity.json"
                if a["iid"] is None and ident.exists():
                    try:
                        a["iid"] = json.loads(ident.read_text())["instance_id"]
                    except (ValueError, KeyError, OSError):
                        pass
                if a["iid"] is None or "fleetrun agent running" not in a["log"].read_text(errors="replace"):
                    still.append(a)
            pending = still
            if pending:
                time.sleep(0.1)
        want = {a["iid"] for a in agents}
        while True:
            online = self.online_ids()
            if want <= online:
                return
            if time.monotonic() > end:
                raise BenchError(f"only {len(want & online)}/{len(want)} agents Online after {timeout:.0f}s")
            time.sleep(0.2)

    def online_ids(self) -> set[str]:
        ids: set[str] = set()
        kwargs = {"MaxResults": 50}
        for _ in range(1000):
            r = self.ssm.describe_instance_information(**kwargs)
            ids |= {n["InstanceId"] for n in r.get("InstanceInformationList", []) if n.get("PingStatus") == "Online"}
            token = r.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        return ids

    # ---- (a) ----------------------------------------------------------------------------------

    def wait_command(self, cid: str, timeout: float, interval: float = 0.01, first_delay: float = 0.0) -> dict:
        end = time.monotonic() + timeout
        if first_delay:
            time.sleep(first_delay)
        while True:
            c = self.ssm.list_commands(CommandId=cid)["Commands"][0]
            if c["Status"] in TERMINAL:
                return c
            if time.monotonic() > end:
                raise BenchError(f"command {cid} still {c['Status']} after {timeout}s")
            time.sleep(interval)

    def phase_a(self, agent: dict) -> dict:
        n, warm = self.args.commands, self.args.warmup
        iid = agent["iid"]
        rows = []
        log(f"(a) {warm} warm-up + {n} sequential commands on {iid}")
        cpu0 = None
        for k in range(warm + n):
            if k == warm:
                cpu0 = (cpu_seconds(self.server.pid), cpu_seconds(agent["proc"].pid))
            t_call = time.time_ns()
            r = self.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[iid],
                                      Parameters={"commands": ["date +%s%N"]}, MaxConcurrency="100%")
            t_accepted = time.time_ns()
            cid = r["Command"]["CommandId"]
            # The script stamps its own start; polling only has to find out that it finished, so
            # give the start path the CPU for a moment before the first poll.
            c = self.wait_command(cid, timeout=30, interval=0.01, first_delay=0.02)
            if c["Status"] != "Success":
                raise BenchError(f"(a) command {cid} ended {c['Status']}")
            inv = self.ssm.get_command_invocation(CommandId=cid, InstanceId=iid)
            out = (inv.get("StandardOutputContent") or "").strip()
            if not re.fullmatch(r"\d{18,20}", out):
                raise BenchError(f"(a) unexpected script output {out!r} (needs GNU date with %N)")
            started = int(out)
            if k >= warm:
                rows.append({
                    "command_id": cid,
                    "call_ns": t_call,
                    "accepted_ns": t_accepted,
                    "script_ns": started,
                    "exec_start_ns": iso_to_ns(inv.get("ExecutionStartDateTime", "")),
                })
        cpu1 = (cpu_seconds(self.server.pid), cpu_seconds(agent["proc"].pid))
        cpu_ms = {
            # The server figure includes answering this script's ListCommands polls (every 10 ms).
            "server": round((cpu1[0][0] - cpu0[0][0]) * 1000 / n, 2),
            "agent": round((cpu1[1][0] - cpu0[1][0]) * 1000 / n, 2),
            "agent_scripts": round((cpu1[1][1] - cpu0[1][1]) * 1000 / n, 2),
        }
        lat = [(r["script_ns"] - r["accepted_ns"]) / 1e6 for r in rows]
        lat_call = [(r["script_ns"] - r["call_ns"]) / 1e6 for r in rows]
        rtt = [(r["accepted_ns"] - r["call_ns"]) / 1e6 for r in rows]
        result = {
            "instance_id": iid,
            "commands": n,
            "warmup": warm,
            "accepted_to_started_ms": summary(lat),
            "negative_samples": sum(1 for x in lat if x < 0),
            "send_issued_to_started_ms": summary(lat_call),
            "send_command_rtt_ms": summary(rtt),
            "cpu_ms_per_command": cpu_ms,
            "breakdown_ms": self.breakdown_a(rows, agent),
        }
        return result

    def breakdown_a(self, rows: list[dict], agent: dict) -> dict:
        """Per-stage times from the processes' own log timestamps (same machine clock, us
        resolution). Stages, in order on the path of one command:
          send issued -> server 'Command accepted.' (SendCommand handler stored the command)
          -> server 'Invocation delivered.' (woken long poll claimed it)
          -> agent 'Invocation started.' (response parsed, journal written+fsynced, task spawned)
          -> agent 'Step started.' (step dir, script file, fork/exec of the wrapper)
          -> script's own `date` (wrapper sh -> script sh -> date)."""
        srv = scan_log(self.server_log, {"accepted": "Command accepted.", "delivered": "Invocation delivered.",
                                         "finished": "Invocation finished."})
        ag = scan_log(agent["log"], {"inv_started": "Invocation started.", "step_started": "Step started.",
                                     "reported": "Result reported."})
        stages: dict[str, list[float]] = {k: [] for k in (
            "issued_to_server_accepted", "server_accepted_to_delivered", "delivered_to_agent_invocation_started",
            "agent_invocation_started_to_step_spawned", "step_spawned_to_script_date",
            "client_send_returned_minus_delivered", "script_date_to_server_finished")}
        matched = 0
        for r in rows:
            cid = r["command_id"]
            try:
                acc = srv["accepted"][cid][0]
                dlv = srv["delivered"][cid][0]
                ist = ag["inv_started"][cid][0]
                sst = ag["step_started"][cid][0]
            except (KeyError, IndexError):
                continue
            matched += 1
            stages["issued_to_server_accepted"].append((acc - r["call_ns"]) / 1e6)
            stages["server_accepted_to_delivered"].append((dlv - acc) / 1e6)
            stages["delivered_to_agent_invocation_started"].append((ist - dlv) / 1e6)
            stages["agent_invocation_started_to_step_spawned"].append((sst - ist) / 1e6)
            stages["step_spawned_to_script_date"].append((r["script_ns"] - sst) / 1e6)
            stages["client_send_returned_minus_delivered"].append((r["accepted_ns"] - dlv) / 1e6)
            fin = srv["finished"].get(cid)
            if fin:
                stages["script_date_to_server_finished"].append((fin[0] - r["script_ns"]) / 1e6)
        out = {"matched_commands": matched}
        out.update({k: summary(v) for k, v in stages.items()})
        return out

    # ---- (b) ----------------------------------------------------------------------------------

    def fanout_once(self, n_agents: int) -> dict:
        t0 = time.perf_counter()
        t0_ns = time.time_ns()
        r = self.ssm.send_command(DocumentName="AWS-RunShellScript",
                                  Targets=[{"Key": "tag:bench", "Values": ["fleet"]}],
                                  Parameters={"commands": ["true"]}, MaxConcurrency="100%")
        t_sent = time.perf_counter()
        cid = r["Command"]["CommandId"]
        if r["Command"].get("TargetCount") not in (None, n_agents):
            raise BenchError(f"(b) TargetCount {r['Command'].get('TargetCount')} != {n_agents}")
        # Poll list_commands on a fixed 10 ms grid until every invocation is Success.
        polls = 0
        tick = 0.010
        deadline = t0 + 60
        next_at = t_sent
        while True:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += tick
            c = self.ssm.list_commands(CommandId=cid)["Commands"][0]
            polls += 1
            if c["Status"] == "Success" and c.get("CompletedCount") == n_agents:
                t_done = time.perf_counter()
                break
            if c["Status"] in TERMINAL:
                raise BenchError(f"(b) command {cid} ended {c['Status']} ({c.get('CompletedCount')}/{n_agents}, errors {c.get('ErrorCount')})")
            if time.perf_counter() > deadline:
                raise BenchError(f"(b) command {cid} not done after 60 s: {c['Status']} {c.get('CompletedCount')}/{n_agents}")
        return {"command_id": cid, "t0_ns": t0_ns, "total_ms": (t_done - t0) * 1000,
                "send_rtt_ms": (t_sent - t0) * 1000, "polls": polls}

    def breakdown_b(self, run: dict) -> dict:
        """Where one fan-out's time goes, per invocation, from the server's and agents' log
        timestamps plus each step's end time from ListCommandInvocations(Details=True):
          send -> server delivered it (long poll woken, claim committed)
          -> agent logged 'Step started.' (response, journal fsync, spawn)
          -> step ended (agent's ResponseFinishDateTime, ms resolution)
          -> server logged 'Invocation finished.' (journal fsync, result POST, SQLite finish)
        plus the same events as first/p50/last relative to the send."""
        cid, t0 = run["command_id"], run["t0_ns"]
        delivered = scan_pairs(self.server_log, "Invocation delivered.", cid)
        finished = scan_pairs(self.server_log, "Invocation finished.", cid)
        accepted = scan_log(self.server_log, {"a": "Command accepted."})["a"].get(cid, [])
        started: dict[str, int] = {}
        for a in self.agents:
            ts = scan_log(a["log"], {"s": "Step started."})["s"].get(cid)
            if ts and a["iid"]:
                started[a["iid"]] = ts[0]
        ended: dict[str, int] = {}
        kwargs = {"CommandId": cid, "Details": True, "MaxResults": 50}
        for _ in range(100):
            r = self.ssm.list_command_invocations(**kwargs)
            for inv in r.get("CommandInvocations", []):
                plugins = inv.get("CommandPlugins") or []
                end = plugins[0].get("ResponseFinishDateTime") if plugins else None
                if hasattr(end, "timestamp"):
                    ended[inv["InstanceId"]] = int(end.timestamp() * 1e9)
            if not r.get("NextToken"):
                break
            kwargs["NextToken"] = r["NextToken"]

        def rel(xs) -> dict:
            xs = sorted(xs)
            if not xs:
                return {"n": 0}
            return {"n": len(xs), "first": round((xs[0] - t0) / 1e6, 2),
                    "p50": round((xs[len(xs) // 2] - t0) / 1e6, 2), "last": round((xs[-1] - t0) / 1e6, 2)}

        stages: dict[str, list[float]] = {"send_to_delivered": [], "delivered_to_step_started": [],
                                          "step_started_to_step_ended": [], "step_ended_to_server_finished": []}
        for iid, dl in delivered.items():
            stages["send_to_delivered"].append((dl - t0) / 1e6)
            if iid in started:
                stages["delivered_to_step_started"].append((started[iid] - dl) / 1e6)
                if iid in ended:
                    stages["step_started_to_step_ended"].append((ended[iid] - started[iid]) / 1e6)
            if iid in ended and iid in finished:
                stages["step_ended_to_server_finished"].append((finished[iid] - ended[iid]) / 1e6)
        out = {
            "timeline_from_send": {
                "server_accepted": rel(accepted),
                "server_delivered": rel(delivered.values()),
                "agent_step_started": rel(started.values()),
                "agent_step_ended": rel(ended.values()),
                "server_invocation_finished": rel(finished.values()),
            },
            "per_invocation_stage_ms": {k: summary(v) for k, v in stages.items()},
        }
        return out

    def cpu_snapshot(self) -> dict:
        """CPU seconds used so far by the server, the agents, and the agents' reaped script trees."""
        srv = cpu_seconds(self.server.pid)
        own = kids = 0.0
        for a in self.agents:
            o, k = cpu_seconds(a["proc"].pid)
            own += o
            kids += k
        return {"server": srv[0], "agents": own, "agent_scripts": kids}

    def phase_b(self) -> dict:
        n = len(self.agents)
        runs, baselines = [], []
        log(f"(b) fan-out to {n} agents: 1 warm-up + {self.args.repeats} measured runs")
        warm = self.fanout_once(n)
        time.sleep(1.0)
        for k in range(self.args.repeats):
            base = baseline_true_ms()
            baselines.append(base)
            time.sleep(0.3)
            cpu0 = self.cpu_snapshot()
            run = self.fanout_once(n)
            time.sleep(0.2)  # let the agents finish their post-report bookkeeping
            cpu1 = self.cpu_snapshot()
            run["cpu_s"] = {k: round(cpu1[k] - cpu0[k], 3) for k in cpu0}
            run["baseline_ms"] = base
            run["ratio_vs_baseline_plus_50"] = run["total_ms"] / (base + TARGETS["b_slack_ms"])
            runs.append(run)
            log(f"(b) run {k + 1}: {run['total_ms']:.1f} ms (send {run['send_rtt_ms']:.1f} ms, "
                f"{run['polls']} polls); baseline {base:.1f} ms")
            time.sleep(1.0)
        for run in runs:
            run["breakdown_ms_from_send"] = self.breakdown_b(run)
        totals = [r["total_ms"] for r in runs]
        base_med = statistics.median(baselines)
        limit = TARGETS["b_factor"] * (base_med + TARGETS["b_slack_ms"])
        med = statistics.median(totals)
        return {
            "agents": n,
            "warmup_total_ms": round(warm["total_ms"], 2),
            "runs": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
            "total_ms_median": round(med, 2),
            "total_ms_min": round(min(totals), 2),
            "baseline_100_true_ms_median": round(base_med, 2),
            "baseline_100_true_ms_all": [round(b, 2) for b in baselines],
            "target_ms": round(limit, 2),
            "ratio_median_vs_baseline_plus_50": round(med / (base_med + TARGETS["b_slack_ms"]), 2),
            "ratio_min_vs_baseline_plus_50": round(min(totals) / (base_med + TARGETS["b_slack_ms"]), 2),
            "ratio_median_vs_bare_baseline": round(med / base_med, 2),
            # CPU seconds per fan-out (clock-tick resolution) vs the wall time x cores available.
            "cpu_s_median": {k: round(statistics.median(r["cpu_s"][k] for r in runs), 3) for k in runs[0]["cpu_s"]},
            "cpu_s_total_median": round(statistics.median(sum(r["cpu_s"].values()) for r in runs), 3),
            "cpu_capacity_s_median": round(med / 1000 * (os.cpu_count() or 1), 3),
        }

    # ---- (d) ----------------------------------------------------------------------------------

    def runbook_once(self, name: str, timeout: float = 30.0, tick: float = 0.002) -> dict:
        """Start one execution and poll GetAutomationExecution on a fixed 2 ms grid until it is
        terminal. total_ms = from just before StartAutomationExecution to the return of the first
        poll showing a terminal status."""
        t0 = time.perf_counter()
        eid = self.ssm.start_automation_execution(DocumentName=name)["AutomationExecutionId"]
        t_started = time.perf_counter()
        polls = 0
        next_at = t_started
        while True:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at = max(next_at + tick, time.perf_counter())
            e = self.ssm.get_automation_execution(AutomationExecutionId=eid)["AutomationExecution"]
            polls += 1
            status = e["AutomationExecutionStatus"]
            if status in AUTOMATION_TERMINAL:
                t_done = time.perf_counter()
                break
            if time.perf_counter() - t0 > timeout:
                return {"execution_id": eid, "status": f"still {status} after {timeout:.0f} s", "polls": polls}
        out = {"execution_id": eid, "status": status, "total_ms": (t_done - t0) * 1000,
               "start_rtt_ms": (t_started - t0) * 1000, "polls": polls}
        # The server's own view (boto3 parses these into datetimes): start -> end of the execution.
        s, f = e.get("ExecutionStartTime"), e.get("ExecutionEndTime")
        if hasattr(s, "timestamp") and hasattr(f, "timestamp"):
            out["server_start_to_end_ms"] = (f.timestamp() - s.timestamp()) * 1000
        if status != "Success":
            out["failure"] = e.get("FailureMessage") or ""
        elif [str(x).lower() for x in (e.get("Outputs") or {}).get("ok.ok", [])] != ["true"]:
            out["status"] = "Success with unexpected outputs"
            out["failure"] = repr(e.get("Outputs"))
        return out

    def python_baselines(self, n: int) -> dict:
        """n x `python3 -c pass` and n x `python3 -c "import json"`, with the PATH the server sees."""
        path = self.env.get("PATH", os.defpath)
        py3 = shutil.which("python3", path=path)
        if not py3:
            raise BenchError("(d) python3 is not on PATH")
        real = run_text([py3, "-c", "import sys; print(sys.executable)"]) or py3
        info = {
            "python3": py3,
            "python3_executable": real,  # differs from python3 when python3 is a shim (pyenv, asdf)
            "python3_version": run_text([py3, "-c", "import sys; print(sys.version.split()[0])"]),
            # What the server runs for Runtime python3.11: python3.11 from PATH if present, else python3.
            "server_runtime_interpreter": shutil.which("python3.11", path=path) or py3,
        }
        for _ in range(3):
            python_start_ms([py3, "-c", "pass"], self.env)
        passes = [python_start_ms([py3, "-c", "pass"], self.env) for _ in range(n)]
        imports = [python_start_ms([py3, "-c", "import json"], self.env) for _ in range(n)]
        info["python3_c_pass_ms"] = summary(passes)
        info["python3_c_import_json_ms"] = summary(imports)
        if real != py3 and os.path.realpath(real) != os.path.realpath(py3):
            # python3 is a shim: also time the interpreter behind it, for reference.
            info["python3_executable_c_pass_ms"] = summary(
                [python_start_ms([real, "-c", "pass"], self.env) for _ in range(n)])
        return info

    def phase_d(self) -> dict:
        n, warm = self.args.runbooks, 3
        name = f"fleetrun-bench-ok-{os.getpid()}"
        self.ssm.create_document(Name=name, Content=RUNBOOK_YAML, DocumentType="Automation", DocumentFormat="YAML")
        log(f"(d) baseline: {n} x python3 -c pass, {n} x python3 -c 'import json'")
        base = self.python_baselines(n)
        log(f"(d) runbook {name}: {warm} warm-up + {n} sequential executions")
        for k in range(warm):
            w = self.runbook_once(name)
            if w["status"] != "Success":
                raise BenchError(f"(d) warm-up execution {w['execution_id']} ended {w['status']}: {w.get('failure', '')}")
        cpu0 = cpu_seconds(self.server.pid)
        runs = [self.runbook_once(name) for _ in range(n)]
        cpu1 = cpu_seconds(self.server.pid)
        ok = [r for r in runs if r["status"] == "Success"]
        failed = [r for r in runs if r["status"] != "Success"]
        lat = [r["total_ms"] for r in ok]
        result = {
            "document": name,
            "runbooks": n,
            "warmup": warm,
            "poll_interval_ms": 2,
            "failures": len(failed),
            "failure_examples": [{k: r.get(k) for k in ("execution_id", "status", "failure")} for r in failed[:3]],
            "start_to_success_visible_ms": summary(lat),
            "start_automation_rtt_ms": summary([r["start_rtt_ms"] for r in ok]),
            "server_start_to_end_ms": summary([r["server_start_to_end_ms"] for r in ok if "server_start_to_end_ms" in r]),
            "polls_per_run": summary([float(r["polls"]) for r in ok]),
            # Server CPU (own + reaped children, i.e. the Python processes) per execution, incl. answering the polls.
            "server_cpu_ms_per_run": round(((cpu1[0] + cpu1[1]) - (cpu0[0] + cpu0[1])) * 1000 / n, 2),
            "baseline": base,
        }
        if lat:
            result["overhead_p50_ms"] = round(pct(lat, 50) - base["python3_c_pass_ms"]["p50"], 3)
        log(f"(d) p50 {result['start_to_success_visible_ms'].get('p50')} ms, python3 -c pass p50 "
            f"{base['python3_c_pass_ms']['p50']} ms, {len(failed)} failures")
        return result

    # ---- (c) ----------------------------------------------------------------------------------

    def rss_snapshot(self, label: str) -> dict:
        time.sleep(self.args.settle)
        srv = proc_status(self.server.pid)
        ags = [proc_status(a["proc"].pid) for a in self.agents]
        rss = [s["VmRSS"] / 1024 for s in ags if "VmRSS" in s]
        a0 = ags[0] if ags else {}
        return {
            "label": label,
            "agents_connected": len(rss),
            "server_rss_mib": round(srv.get("VmRSS", 0) / 1024, 2),
            "server_hwm_mib": round(srv.get("VmHWM", 0) / 1024, 2),
            "server_threads": srv.get("Threads"),
            "agent0_rss_mib": round(a0.get("VmRSS", 0) / 1024, 2),
            "agent0_hwm_mib": round(a0.get("VmHWM", 0) / 1024, 2),
            "agent_threads": a0.get("Threads"),
            "agent_rss_mib": summary(rss),
            # RssFile (+RssShmem when the binary copy sits on tmpfs) is mostly the shared, file-backed
            # binary; RssAnon is heap and stacks.
            "agent_rss_anon_mib": summary([s["RssAnon"] / 1024 for s in ags if "RssAnon" in s]),
            "agent_rss_file_mib": summary([(s["RssFile"] + s.get("RssShmem", 0)) / 1024 for s in ags if "RssFile" in s]),
            # PSS splits shared pages (the binary is shared by all agents); USS = private pages only.
            "agent_pss_mib": summary([s["Pss"] / 1024 for s in ags if "Pss" in s]),
            "agent_uss_mib": summary([s["Uss"] / 1024 for s in ags if "Uss" in s]),
            "server_pss_mib": round(srv.get("Pss", 0) / 1024, 2),
            "server_uss_mib": round(srv.get("Uss", 0) / 1024, 2),
            "server_rss_anon_mib": round(srv.get("RssAnon", 0) / 1024, 2),
            "server_rss_file_mib": round((srv.get("RssFile", 0) + srv.get("RssShmem", 0)) / 1024, 2),
        }

    # ---- optional evidence: syscall counts under strace ---------------------------------------

    STRACE_SYSCALLS = ("fsync", "fdatasync", "sync_file_range", "clone", "clone3", "execve", "fork", "vfork",
                       "wait4", "rename", "renameat", "renameat2", "openat", "pwrite64", "pread64", "write",
                       "futex", "epoll_wait", "sendto", "recvfrom", "clock_nanosleep", "nanosleep")

    def _traced(self, targets: dict[str, int], action, per: int) -> dict:
        """Runs `action()` with `strace -f -c` attached to each pid; returns the syscall counts."""
        files = {name: self.work / f"strace-{name}-{time.monotonic_ns()}.txt" for name in targets}
        tracers = [self.procs.start(f"strace-{name}", ["strace", "-f", "-c", "-o", str(files[name]), "-p", str(pid)],
                                    self.work / f"strace-{name}.log", self.env)
                   for name, pid in targets.items()]
        try:
            time.sleep(1.0)
            if any(t.poll() is not None for t in tracers):
                return {"skipped": "strace could not attach (ptrace restricted?)"}
            action()
            time.sleep(0.5)
        finally:
            for t in tracers:
                if t.poll() is None:
                    os.kill(t.pid, signal.SIGINT)
                    try:
                        t.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
        out = {}
        for name, path in files.items():
            calls = {}
            try:
                for line in path.read_text().splitlines():
                    parts = line.split()
                    if len(parts) >= 5 and parts[-1] in self.STRACE_SYSCALLS and parts[0][0].isdigit():
                        # % time, seconds, usecs/call, calls, [errors], syscall
                        calls[parts[-1]] = {"calls": int(parts[3]), "seconds": float(parts[1]),
                                            "per_unit": round(int(parts[3]) / per, 2)}
            except (OSError, ValueError):
                pass
            out[name] = dict(sorted(calls.items(), key=lambda kv: -kv[1]["calls"]))
        return out

    def strace_evidence(self, agent: dict, n: int = 20) -> dict:
        if not shutil.which("strace"):
            return {"skipped": "strace not installed"}
        iid = agent["iid"]

        def sequential():
            for _ in range(n):
                r = self.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[iid],
                                          Parameters={"commands": ["date +%s%N"]}, MaxConcurrency="100%")
                self.wait_command(r["Command"]["CommandId"], timeout=30, first_delay=0.02)

        fan = {}

        def fanout():
            fan.update(self.fanout_once(len(self.agents)))

        out = {
            "note": ("strace -f -c attached after the timed phases; strace slows the traced process a lot, "
                     "so only the counts matter, not the times. per_unit = calls per command (sequential) "
                     "or per invocation (fan-out); -f includes the agent's script children."),
            "sequential_commands": n,
            "sequential": self._traced({"server": self.server.pid, "agent": agent["proc"].pid}, sequential, n),
        }
        out["fanout_server"] = self._traced({"server": self.server.pid}, fanout, len(self.agents)).get("server")
        out["fanout_total_ms_under_strace"] = round(fan.get("total_ms", 0), 1)
        return out

    # ---- driver -------------------------------------------------------------------------------

    database_url: str | None = None

    def idle_db_rate(self, window: float) -> dict:
        """Transactions PostgreSQL commits per second with every agent connected and no work: each agent's
        long poll plus each replica's timer. Read from pg_stat_database over `window` seconds; the two psql
        reads themselves are subtracted."""
        sql = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"

        def read() -> int:
            return int(run_text(["psql", self.database_url, "-At", "-c", sql], timeout=30).strip())

        log(f"idle database rate: {len(self.agents)} agents connected, {window:.0f} s window")
        time.sleep(2.0)
        first = read()
        time.sleep(window)
        last = read()
        per_s = (last - first - 1) / window
        return {"window_s": window, "agents": len(self.agents), "transactions": last - first - 1,
                "transactions_per_s": round(per_s, 2), "per_agent_per_s": round(per_s / max(1, len(self.agents)), 3)}

    def run(self) -> dict:
        t_start = time.monotonic()
        self.start_server()
        first = self.start_agent(0)
        self.wait_agents_ready([first], timeout=30)
        log(f"agent 0 enrolled as {first['iid']}")
        time.sleep(1.0)

        results = {"a": self.phase_a(first)}
        if not self.args.skip_runbook:
            # Before the other agents enrol: the runbook runs on the server alone.
            results["d"] = self.phase_d()

        log(f"starting {self.args.agents - 1} more agents (batches of {self.args.enrol_batch})")
        t_enrol = time.monotonic()
        rest = []
        for i in range(1, self.args.agents):
            rest.append(self.start_agent(i))
            if i % self.args.enrol_batch == 0:
                time.sleep(self.args.enrol_pause)
        self.wait_agents_ready(rest, timeout=self.args.enrol_timeout)
        enrol_s = time.monotonic() - t_enrol
        log(f"{len(self.agents)} agents Online ({enrol_s:.1f} s)")

        rss_before = self.rss_snapshot("after enrolment, before (b)")
        results["b"] = self.phase_b()
        rss_after = self.rss_snapshot("after (b), idle")
        results["c"] = {"before_b": rss_before, "after_b": rss_after}
        if self.database_url:
            results["idle_db"] = self.idle_db_rate(self.args.idle_window)
        results["enrolment_s"] = round(enrol_s, 1)
        if self.args.strace:
            log("evidence: strace -c on server and agent 0 during 20 commands")
            results["strace"] = self.strace_evidence(first)
        results["fsync_probe_ms"] = fsync_cost_ms(self.work)
        results["fsync_storm_100"] = fsync_storm_ms(self.work)
        results["elapsed_s"] = round(time.monotonic() - t_start, 1)
        return results


def verdicts(res: dict) -> dict:
    a = res["a"]["accepted_to_started_ms"]
    b = res["b"]
    c = res["c"]["after_b"]
    agent_rss = c["agent_rss_mib"].get("p50", 0)
    out = {
        "a_p50": {"value_ms": a["p50"], "target_ms": TARGETS["a_p50_ms"], "pass": a["p50"] <= TARGETS["a_p50_ms"]},
        "a_p99": {"value_ms": a["p99"], "target_ms": TARGETS["a_p99_ms"], "pass": a["p99"] <= TARGETS["a_p99_ms"]},
        "b_median": {"value_ms": b["total_ms_median"], "target_ms": b["target_ms"],
                     "ratio_vs_baseline_plus_50": b["ratio_median_vs_baseline_plus_50"],
                     "pass": b["total_ms_median"] <= b["target_ms"]},
        "c_agent_rss": {"value_mib": agent_rss, "max_mib": c["agent_rss_mib"].get("max"),
                        "target_mib": TARGETS["c_agent_rss_mib"], "pass": agent_rss <= TARGETS["c_agent_rss_mib"]},
    }
    d = res.get("d")
    if d is not None:
        over = d.get("overhead_p50_ms")
        out["d_overhead"] = {"value_ms": over, "runbook_p50_ms": d["start_to_success_visible_ms"].get("p50"),
                             "python3_c_pass_p50_ms": d["baseline"]["python3_c_pass_ms"]["p50"],
                             "target_ms": TARGETS["d_overhead_ms"], "failures": d["failures"],
                             "pass": over is not None and over <= TARGETS["d_overhead_ms"] and d["failures"] == 0}
    return out


def print_report(doc: dict) -> None:
    r, v, m = doc["results"], doc["verdicts"], doc["machine"]
    ok = lambda x: "PASS" if x else "MISS"
    a = r["a"]
    print()
    print(f"machine: {m['nproc']} x {m['cpu_model']}, {m['mem_total_gib']} GiB, kernel {m['kernel']}, "
          f"{m['rustc']}, {m['build_profile']} build, tmp on {m['tmp_fs']}, load {m['loadavg_start']} -> {m['loadavg_end']}")
    print(f"(a) accepted -> script started, {a['commands']} cmds: p50 {a['accepted_to_started_ms']['p50']:.2f} ms "
          f"[{ok(v['a_p50']['pass'])} <= 5], p99 {a['accepted_to_started_ms']['p99']:.2f} ms [{ok(v['a_p99']['pass'])} <= 20]; "
          f"send_command RTT p50 {a['send_command_rtt_ms']['p50']:.2f} / p99 {a['send_command_rtt_ms']['p99']:.2f} ms")
    print(f"    CPU ms per command: {a['cpu_ms_per_command']}")
    bd = a["breakdown_ms"]
    if bd.get("matched_commands"):
        print("    stage p50/p99 ms: " + ", ".join(
            f"{k} {bd[k]['p50']:.2f}/{bd[k]['p99']:.2f}" for k in bd if k != "matched_commands" and bd[k].get("n")))
    b = r["b"]
    print(f"(b) {b['agents']} agents, send -> all Success: median {b['total_ms_median']:.1f} ms, min {b['total_ms_min']:.1f} ms; "
          f"baseline 100x true {b['baseline_100_true_ms_median']:.1f} ms; target <= {b['target_ms']:.1f} ms "
          f"(ratio {b['ratio_median_vs_baseline_plus_50']:.2f} vs 3.00) [{ok(v['b_median']['pass'])}]")
    mid = sorted(b["runs"], key=lambda x: x["total_ms"])[len(b["runs"]) // 2] if b["runs"] else {}
    st = mid.get("breakdown_ms_from_send", {}).get("per_invocation_stage_ms", {})
    if st:
        print("    per-invocation stage p50/max ms (median run): " + ", ".join(
            f"{k} {x['p50']:.1f}/{x['max']:.1f}" for k, x in st.items() if x.get("n")))
    print(f"    CPU per fan-out (median): {b['cpu_s_median']} = {b['cpu_s_total_median']} s of "
          f"{b['cpu_capacity_s_median']} s available (wall x nproc)")
    c = r["c"]["after_b"]
    print(f"(c) idle RSS: agent p50 {c['agent_rss_mib'].get('p50')} MiB (max {c['agent_rss_mib'].get('max')}, "
          f"{c['agent_threads']} threads) [{ok(v['c_agent_rss']['pass'])} <= 10]; server {c['server_rss_mib']} MiB "
          f"with {c['agents_connected']} agents")
    print(f"    agent p50: RssAnon {c['agent_rss_anon_mib'].get('p50')} + RssFile {c['agent_rss_file_mib'].get('p50')} MiB; "
          f"PSS {c['agent_pss_mib'].get('p50')} MiB, USS {c['agent_uss_mib'].get('p50')} MiB")
    if "d" in r:
        d, bl = r["d"], r["d"]["baseline"]
        p50 = d["start_to_success_visible_ms"].get("p50")
        p99 = d["start_to_success_visible_ms"].get("p99")
        y = bl["python3_c_pass_ms"]["p50"]
        if p50 is None:
            print(f"(d) runbook start -> Success visible: no successful run of {d['runbooks']} "
                  f"({d['failures']} failures) [MISS]")
        else:
            print(f"(d) runbook start -> Success visible p50 {p50:.1f} ms; python3 -c pass p50 {y:.1f} ms; "
                  f"overhead {p50 - y:.1f} ms [{ok(v['d_overhead']['pass'])} <= 15]")
            print(f"    {d['runbooks']} runs, p99 {p99:.1f} ms, {d['failures']} failures; StartAutomationExecution RTT p50 "
                  f"{d['start_automation_rtt_ms']['p50']:.1f} ms; server start->end p50 "
                  f"{d['server_start_to_end_ms'].get('p50', float('nan')):.1f} ms; python3 -c 'import json' p50 "
                  f"{bl['python3_c_import_json_ms']['p50']:.1f} ms; server CPU {d['server_cpu_ms_per_run']} ms/run")
            if "python3_executable_c_pass_ms" in bl:
                print(f"    note: {bl['python3']} is a shim for {bl['python3_executable']} "
                      f"(-c pass p50 {bl['python3_executable_c_pass_ms']['p50']:.1f} ms without the shim)")
    if "idle_db" in r:
        d = r["idle_db"]
        print(f"(idle) PostgreSQL with {d['agents']} agents connected and no work: {d['transactions_per_s']} "
              f"transactions/s ({d['per_agent_per_s']} per agent) over {d['window_s']:.0f} s")
    print(f"fsync probe on {m['tmp_fs']}: one write+fsync+rename p50 {r['fsync_probe_ms']['p50']:.2f} ms, "
          f"100 concurrent {r['fsync_storm_100']['median_ms']:.1f} ms; total {r['elapsed_s']} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release-binary", dest="binary", type=Path, default=DEFAULT_BINARY,
                    help=f"fleetrun binary (default {DEFAULT_BINARY})")
    ap.add_argument("--build", action="store_true", help="run `cargo build --release` first (not timed)")
    ap.add_argument("--commands", type=int, default=200, help="(a) sequential commands measured (default 200)")
    ap.add_argument("--warmup", type=int, default=5, help="(a) warm-up commands not measured (default 5)")
    ap.add_argument("--agents", type=int, default=100, help="(b,c) agent processes (default 100)")
    ap.add_argument("--repeats", type=int, default=5, help="(b) measured fan-out runs (default 5)")
    ap.add_argument("--settle", type=float, default=2.0, help="(c) idle seconds before reading RSS (default 2)")
    ap.add_argument("--enrol-batch", type=int, default=10, help="agents started per batch (default 10)")
    ap.add_argument("--enrol-pause", type=float, default=0.3, help="pause between batches, s (default 0.3)")
    ap.add_argument("--enrol-timeout", type=float, default=120, help="max wait for all agents Online, s")
    ap.add_argument("--strace", action="store_true",
                    help="after the timed phases, count syscalls (fsync, execve, ...) with strace -c")
    ap.add_argument("--tmp-dir", type=Path, default=None, help="parent of the private work dir (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, databases) afterwards")
    ap.add_argument("--time-limit", type=int, default=290, help="abort everything after this many seconds")
    ap.add_argument("--out", type=Path, default=None, help="write the full results as JSON here")
    ap.add_argument("--runbooks", type=int, default=100,
                    help="(d) sequential runbook executions measured, and python3 starts in its baseline (default 100)")
    ap.add_argument("--skip-runbook", action="store_true", help="skip (d), the runbook start -> Success measurement")
    ap.add_argument("--postgres", metavar="ADMIN_URL", default=None,
                    help="run the server on PostgreSQL: a fresh database is created through ADMIN_URL "
                         "(e.g. postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards")
    ap.add_argument("--idle-window", type=float, default=40.0,
                    help="with --postgres: seconds over which the idle database rate is measured (default 40)")
    args = ap.parse_args()
    if args.commands < 1 or args.agents < 1 or args.repeats < 1 or args.runbooks < 1:
        ap.error("--commands, --agents, --repeats and --runbooks must be >= 1")

    if args.build:
        log("cargo build --release")
        subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True, timeout=3600)
    args.binary = args.binary.resolve()
    if not args.binary.is_file():
        print(f"error: {args.binary} not found; run `cargo build --release` (or pass --build)", file=sys.stderr)
        return 2
    try:
        import boto3  # noqa: F401
    except ImportError:
        print("error: boto3 is required (pip install boto3)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="fleetrun-bench-", dir=args.tmp_dir))
    machine = machine_info(args.binary, work)
    # Run a private copy: a concurrent `cargo build` replacing the binary mid-run would otherwise
    # mix two builds between the server and agents started later.
    copy = work / "fleetrun"
    shutil.copy2(args.binary, copy)
    machine["binary_sha256"] = hashlib.sha256(copy.read_bytes()).hexdigest()[:16]
    args.binary = copy
    bench = Bench(args, work)
    pg_database = None
    if args.postgres:
        pg_database = f"fleetrun_bench_{os.getpid()}_{int(time.time())}"
        subprocess.run(["psql", args.postgres, "-q", "-c", f"CREATE DATABASE {pg_database}"], check=True, timeout=30)
        bench.database_url = args.postgres.rsplit("/", 1)[0] + "/" + pg_database
        machine["database"] = "PostgreSQL " + run_text(["psql", args.postgres, "-At", "-c", "SHOW server_version"]).strip()
    else:
        machine["database"] = "SQLite (bundled), WAL"

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    def on_alarm(_signum, _frame):
        raise OverallTimeout(f"overall time limit of {args.time_limit}s exceeded")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.time_limit)
    rc = 0
    try:
        results = bench.run()
        signal.alarm(0)
        machine["loadavg_end"] = _loadavg()
        doc = {
            "benchmark": "fleetrun dispatch latency / fan-out / idle RSS / runbook latency",
            "command": " ".join([Path(sys.executable).name, "bench/run.py"] + sys.argv[1:]),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "targets": TARGETS,
            "results": results,
        }
        doc["verdicts"] = verdicts(results)
        print_report(doc)
        if args.out:
            args.out.write_text(json.dumps(doc, indent=2) + "\n")
            log(f"wrote {args.out}")
    except (Exception, OverallTimeout, KeyboardInterrupt, SystemExit) as e:
        signal.alarm(0)
        rc = 1
        log(f"FAILED: {type(e).__name__}: {e}")
        for p in [bench.server_log] + [a["log"] for a in bench.agents[:1]]:
            try:
                tail = p.read_text(errors="replace").splitlines()[-15:]
                log(f"--- tail of {p} ---\n" + "\n".join(tail))
            except OSError:
                pass
    finally:
        signal.alarm(0)
        bench.procs.stop_all()
        if pg_database:
            subprocess.run(["psql", args.postgres, "-q", "-c", f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)"],
                           timeout=60)
        if args.keep:
            log(f"kept work dir {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
