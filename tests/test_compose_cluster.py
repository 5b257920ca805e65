"""The compose profile `cluster` describes the same topology as LocalCluster, on loopback only."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .compose import compose

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _command(svc: dict) -> str:
    return " ".join(svc["command"])


def _in_profile(name: str) -> dict:
    return {n: s for n, s in SERVICES.items() if name in s.get("profiles", [])}


def test_cluster_profile_has_six_cluster_nodes_and_an_init_job():
    cluster = _in_profile("cluster")
    nodes = {n: s for n, s in cluster.items() if "--cluster-enabled yes" in _command(s)}
    assert len(nodes) == 6
    ports = sorted(int(s["environment"]["NODE_PORT"]) for s in nodes.values())
    assert ports == list(range(7000, 7006))
    init = _command(cluster["cluster-init"])
    assert "--cluster-replicas 1" in init and "--cluster-yes" in init
    assert sorted(int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", init)) == ports
    assert set(cluster["cluster-init"]["depends_on"]) == set(nodes)


def test_cluster_nodes_are_password_protected_loopback_only_and_state_their_timeout():
    cluster = _in_profile("cluster")
    published = []
    for name, svc in cluster.items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
            published.append(int(port.split(":")[1]))
        if "--cluster-enabled yes" in _command(svc):
            cmd = _command(svc)
            assert "--requirepass" in cmd and "--masterauth" in cmd
            assert "--cluster-node-timeout" in cmd and "--cluster-announce-ip 127.0.0.1" in cmd
            assert "REDIS_PASSWORD" in svc["environment"]["REDIS_PASSWORD"]  # from .env
            if name != "cluster-node-0":  # one shared namespace: nodes meet on 127.0.0.1
                assert svc["network_mode"] == "service:cluster-node-0"
            assert svc["restart"] == "no"
    assert sorted(published) == list(range(7000, 7006))
    # The default services are untouched by the new profile.
    assert "profiles" not in SERVICES["redis"]


def test_compose_cluster_profile_parses_when_docker_is_present():
    out = compose("--profile", "cluster", "config", "--services")
    assert out.returncode == 0, out.stderr
    assert sum(s.startswith("cluster-node-") for s in out.stdout.split()) == 6
