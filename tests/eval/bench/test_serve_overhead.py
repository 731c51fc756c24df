"""The CPU accounting of the serving-overhead measurement (eval/bench/serve_overhead.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eval.bench.local_cluster import descendants
from eval.bench.serve_overhead import cpu_by_name, process_cpu


def test_a_busy_child_process_is_counted_under_its_name():
    busy = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"])
    try:
        before = process_cpu([parent.pid])
        time.sleep(2.0)  # the grandchild spins for 0.5 s of CPU, then sleeps
        after = process_cpu([parent.pid])
        assert len(after) == 2  # the root and its child
        spent = cpu_by_name(before, after)
        assert set(spent) == {Path(sys.executable).name}
        assert 0.3 <= sum(spent.values()) <= 1.5, spent
    finally:
        for pid in descendants(parent.pid):  # the sleeping child, then its parent
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()
    assert cpu_by_name(after, after) == dict.fromkeys(spent, 0.0)


def test_each_local_cluster_gets_its_own_haproxy_files_and_ports(tmp_path):
    from eval.bench.local_cluster import haproxy_env

    (tmp_path / "a").mkdir()
    first, second = haproxy_env(tmp_path / "a"), haproxy_env(tmp_path)
    paths = [value for name, value in first.items() if not name.endswith("_PORT")]
    assert paths and all(value.startswith(str(tmp_path / "a" / "haproxy")) for value in paths)
    # Ray's fixed defaults (/tmp/haproxy-serve, ports 8404 and 9101) are never used.
    assert all("/tmp/haproxy-serve" not in value for value in (*first.values(), *second.values()))
    ports = {int(first[name]) for name in first if name.endswith("_PORT")} | {int(second[name]) for name in second if name.endswith("_PORT")}
    assert len(ports) == 4 and not ports & {8404, 9101}
