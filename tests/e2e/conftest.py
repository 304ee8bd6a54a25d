"""Fixtures for fleetrun's end-to-end suite: real `fleetrun` processes on random ports in private temporary
directories, killed (with every agent and every script they started) at teardown.

* `fleetrun_bin` (session): a private copy of target/debug/fleetrun, so a rebuild during the run changes nothing.
* `dev` (module): `fleetrun dev --listen 127.0.0.1:0 --instance-id i-abcd1234` (server + local agent).
* `server_cluster` (function): a standalone `fleetrun server --listen 127.0.0.1:0` with an activation for agents.
* `fleet` (session): `fleetrun dev` plus 10 extra tagged agents started in parallel (see FLEET_TAGS).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from e2e_support import (
    FLEET_TAGS,
    SESSION_MARK,
    DevCluster,
    Harness,
    ServerCluster,
    fleetrun_binary_source,
    kill_marked,
)


@pytest.fixture(scope="session")
def fleetrun_bin():
    source = fleetrun_binary_source()
    directory = Path(tempfile.mkdtemp(prefix="fleetrun-e2e-bin-"))
    binary = directory / "fleetrun"
    shutil.copy2(source, binary)
    yield binary
    # Last line of defence: nothing this session started may survive it.
    kill_marked(SESSION_MARK)
    shutil.rmtree(directory, ignore_errors=True)


def _harness(request, fleetrun_bin, label: str) -> Harness:
    h = Harness(label, fleetrun_bin)
    request.addfinalizer(h.close)
    return h


@pytest.fixture(scope="module")
def dev(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "dev-" + request.module.__name__.removeprefix("test_"))
    return DevCluster(h).start()


@pytest.fixture
def server_cluster(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "server")
    return ServerCluster(h).start()


class Fleet:
    def __init__(self, cluster: DevCluster, agents):
        self.cluster = cluster
        self.agents = agents
        self.dev_id = cluster.dev_instance_id

    @property
    def ids(self) -> list[str]:
        return [a.instance_id for a in self.agents]

    @property
    def all_ids(self) -> list[str]:
        return [self.dev_id, *self.ids]

    def with_tag(self, key: str, *values: str) -> set[str]:
        return {a.instance_id for a in self.agents if any(k == key and v in values for k, v in a.tags)}

    def with_tag_key(self, key: str) -> set[str]:
        return {a.instance_id for a in self.agents if any(k == key for k, _ in a.tags)}


@pytest.fixture(scope="session")
def fleet(request, fleetrun_bin):
    h = _harness(request, fleetrun_bin, "fleet")
    cluster = DevCluster(h).start()
    agents = cluster.start_agents([dict(name=f"a{i}", tags=tags) for i, tags in enumerate(FLEET_TAGS)])
    return Fleet(cluster, agents)
