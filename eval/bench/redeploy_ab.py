"""The redeploy after an ingest, timed on one 2-node local cluster: this checkout's `verbatim serve
--ray` against another checkout's (``BEFORE_CODE``, e.g. the code before the replicas' Serve
version was fixed, whose every redeploy replaced the replicas), each after a new build, in the
order branch, before, before, branch-after-before, branch (docs/scale.md, "Replicated serving").

    cp -r corpus ROOT/corpus && verbatim ingest ROOT/corpus --index ROOT/index
    BEFORE_CODE=/path/to/old/checkout PYTHONPATH=$PWD python -m eval.bench.redeploy_ab ROOT

Each step adds or removes one document (a new build), times the ingest and the redeploy command,
and checks through ``/healthz`` that both replicas serve the new build and whether they are the
same processes as before (reconfigured in place) or new ones (replaced).
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from eval.bench.local_cluster import LocalCluster, free_port, nice_command, replica_healths

EXTRA = "Glutamine storage\n\nKeep glutamine powder in a cool, dry place with the lid closed tightly after each use.\n"


def cli(code: Path, *args: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(code), RAY_USAGE_STATS_ENABLED="0")
    start = time.monotonic()
    result = subprocess.run([*nice_command(19), sys.executable, "-m", "verbatim.cli", *args], cwd=code, env=env,
                            capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return time.monotonic() - start


def health(url: str) -> dict[str, int]:
    """Documents served, by replica id."""
    return {replica: body["documents"] for replica, body in replica_healths(url).items()}


def load1() -> float:
    return os.getloadavg()[0]


def main() -> None:
    before_code, root = Path(os.environ["BEFORE_CODE"]), Path(sys.argv[1])  # root: corpus/ and its index/
    index, corpus = root / "index", root / "corpus"
    env = dict(os.environ, RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING="0")
    with LocalCluster(nodes=2, cpus_per_node=1, env=env, nice=19) as cluster:
        cluster.start()
        port = str(free_port())
        serve = ("serve", "--index", str(index), "--ray", cluster.address, "--replicas", "2", "--port", port)
        url = f"http://127.0.0.1:{port}"
        print("first deploy (branch)", round(cli(Path.cwd(), *serve), 1), "s", flush=True)
        rows = []
        for number, label in enumerate(["branch", "before", "before", "branch-after-before", "branch"]):
            extra = corpus / "glutamine-storage.txt"
            if extra.exists():
                extra.unlink()
            else:
                extra.write_text(EXTRA, encoding="utf-8")
            ingest_s = cli(Path.cwd(), "ingest", str(corpus), "--index", str(index))
            before, load_before = health(url), load1()
            seconds = cli(before_code if label == "before" else Path.cwd(), *serve)
            after = health(url)
            row = {"step": number, "code": label, "redeploy_s": round(seconds, 1), "ingest_s": round(ingest_s, 1),
                   "load_before": round(load_before, 1), "load_after": round(load1(), 1),
                   "same_replicas": set(after) == set(before), "documents": sorted(after.values())}
            rows.append(row)
            print(json.dumps(row), flush=True)
        cli(Path.cwd(), "serve", "--ray", cluster.address, "--undeploy")


if __name__ == "__main__":
    main()
