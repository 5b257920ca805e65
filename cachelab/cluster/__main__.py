"""``python -m cachelab.cluster run|status|stop [NAME]``: a local cluster from the shell."""

from __future__ import annotations

import argparse
import json
import time

from ._util import _clusters_home, _pid_alive, reap
from .local import LocalCluster


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m cachelab.cluster", description=__doc__)
    parser.add_argument("command", choices=["run", "status", "stop"],
                        help="run: start and keep running until Ctrl-C; status: list clusters; "
                             "stop: kill what an earlier run left behind")
    parser.add_argument("name", nargs="?", default="default")
    parser.add_argument("--node-timeout-ms", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "run":
        kwargs = {"node_timeout_ms": args.node_timeout_ms} if args.node_timeout_ms else {}
        with LocalCluster(args.name, **kwargs) as cluster:
            print(cluster)
            print("ports:", " ".join(map(str, cluster.ports)))
            print(f"try: redis-cli -c -p {cluster.ports[0]}    (Ctrl-C stops the cluster)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0
    if args.command == "stop":
        killed = reap(args.name)
        (_clusters_home() / args.name / "cluster.json").unlink(missing_ok=True)
        print(f"cluster {args.name!r}: stopped {len(killed)} leftover process(es)")
        return 0
    for state in sorted(_clusters_home().glob("*/cluster.json")):
        data = json.loads(state.read_text())
        alive = sum(_pid_alive(int(n.get("pid") or 0)) for n in data.get("nodes", []))
        print(f"{state.parent.name}: {alive}/{len(data.get('nodes', []))} nodes alive, owner pid "
              f"{data.get('owner_pid')}, ports {[n['port'] for n in data.get('nodes', [])]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
