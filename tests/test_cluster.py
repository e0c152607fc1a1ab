"""tipline cluster's balancer configuration: HAProxy holds as many connections as the machine's
open-files limit lets it (two descriptors each), whatever that limit is."""

from __future__ import annotations

import resource

import pytest

from tipline import cluster


def test_maxconn_follows_the_open_files_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        assert 2 * cluster.haproxy_maxconn() + 200 <= max(hard, 2_200)
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 20_000))
    assert cluster.haproxy_maxconn() == 9_900
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1_048_576))
    assert cluster.haproxy_maxconn() == 500_000  # (1,048,576 - 200) / 2, capped
    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 1024))
    assert cluster.haproxy_maxconn() == 1_000
    config = cluster.haproxy_config(port=9000, node_ports=[9001, 9002], maxconn=12_345)
    assert "    maxconn 12345\n" in config and "server node2 127.0.0.1:9002 check" in config
