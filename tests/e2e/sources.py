"""Real servers for the remote-script tests, started on loopback by the tests themselves: `s3s-fs` (an
S3-compatible server with real SigV4 checks, objects stored as plain files) and `tests/fixtures/githost.py`
(git smart HTTP through `git http-backend`, the GitHub REST contents API answered from the same bare
repositories, and plain HTTP files)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import sys

import boto3

from e2e_support import Harness, Proc, Retry, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
S3_KEY = "AKIDFLEETRUNS3TEST"
S3_SECRET = "s3-secret-for-fleetrun-tests"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name) or str(Path.home() / ".cargo" / "bin" / name)
    assert Path(found).exists(), f"{name} is missing: run scripts/test (it runs cargo install s3s-fs@0.14.1 --locked --features binary)"
    return found


class S3Server:
    """`s3s-fs` on a free port; buckets are directories of `data`, objects plain files (so a test can create a
    bucket name S3 would refuse today, such as the legacy `RubyTest`)."""

    def __init__(self, h: Harness):
        self.data = h.path("s3-data")
        self.data.mkdir()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = h.logs / "s3s-fs.log"
        self.proc = Proc("s3s-fs", [_binary("s3s-fs"), "--host", "127.0.0.1", "--port", str(self.port),
                                    "--access-key", S3_KEY, "--secret-key", S3_SECRET, str(self.data)],
                         dict(os.environ), log)
        h.procs.append(self.proc)
        wait_for(self._listening, timeout=20, what="s3s-fs to listen")

    def _listening(self) -> bool:
        assert self.proc.alive(), self.proc.log_text()
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def put(self, bucket: str, key: str, body: bytes | str) -> None:
        path = self.data / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode() if isinstance(body, str) else body)

    def objects(self, bucket: str) -> dict[str, bytes]:
        root = self.data / bucket
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and not p.name.startswith(".")}

    def node_env(self) -> dict[str, str]:
        """What a node needs to reach this server as its S3 (the AWS SDKs' variables)."""
        return {"AWS_ENDPOINT_URL_S3": self.url, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


class MotoS3:
    """moto's S3 server (any credentials, no signature checks): for what s3s-fs refuses, such as creating the
    legacy mixed-case bucket names S3's us-east-1 once allowed (`RubyTest`)."""

    def __init__(self, h: Harness):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc("moto-s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                         dict(os.environ), h.logs / "moto-s3.log")
        h.procs.append(self.proc)
        self.client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="moto",
                                   aws_secret_access_key="moto")

        def ready():
            try:
                return self.client.list_buckets()
            except Exception as e:  # not listening yet
                raise Retry(str(e))

        wait_for(ready, 30, "moto's S3 server to answer", self.proc.log_text)

    def node_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.url, "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto",
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


class GitHost:
    """`tests/fixtures/githost.py` with a token; repositories are real bare git repositories."""

    def __init__(self, h: Harness, token: str):
        self.root = h.path("githost")
        self.root.mkdir()
        self.token = token
        log = h.logs / "githost.log"
        env = dict(os.environ, GITHOST_TOKEN=token)
        self.proc = Proc("githost", ["python3", "-u", str(REPO_ROOT / "tests/fixtures/githost.py"), str(self.root),
                                     "0"], env, log)
        h.procs.append(self.proc)

        def ready():
            assert self.proc.alive(), self.proc.log_text()
            for line in self.proc.log_text().splitlines():
                if line.startswith("READY "):
                    return int(line.split()[1])
            return None

        self.port = wait_for(ready, timeout=20, what="githost to be ready")
        self.url = f"http://127.0.0.1:{self.port}"

    def repository(self, owner: str, name: str, files: dict[str, str], private: bool = False,
                   branch: str = "main") -> str:
        """Creates (or adds a commit to) ROOT/owner/name.git on `branch`; returns the commit SHA."""
        bare = self.root / owner / f"{name}.git"
        work = self.root / "work" / owner / name / branch
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@e"}

        def run(*args, cwd=None):
            subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

        if not bare.exists():
            bare.parent.mkdir(parents=True, exist_ok=True)
            run("init", "--bare", "--initial-branch=main", str(bare))
        if private:
            (bare / "private").write_text("")
        if work.exists():
            shutil.rmtree(work)
        run("clone", str(bare), str(work))
        existing = subprocess.run(["git", "ls-remote", "--heads", str(bare), branch], env=env, capture_output=True,
                                  text=True).stdout
        if existing.strip():
            run("checkout", branch, cwd=work)
        else:
            run("checkout", "-B", branch, cwd=work)
        for path, text in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        run("add", "-A", cwd=work)
        run("commit", "-m", f"update {time.time()}", cwd=work)
        run("push", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def node_env(self) -> dict[str, str]:
        return {"FLEETRUN_GITHUB_API_URL": self.url}
