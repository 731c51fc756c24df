"""Where the cluster tests' time goes: an opt-in pytest plugin (``-p tests.cluster.step_times``).

It logs, to ``$VERBATIM_STEP_TIMES`` (default ``cluster-step-times.txt``), each test phase's
duration, the duration of the steps the tests spend their time in (a ``verbatim`` command, an
ingest, a load run, an answerer's warm-up, the answers compared, the cluster's start and node
restores), the 1-minute load average every 15 s, and the CPU seconds of this process's whole tree
(the cluster's nodes and workers and the commands included; a process that leaves the tree,
such as a killed raylet's workers, keeps what it had used). docs/scale.md, "Tests on a real
cluster", reads its output.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from pathlib import Path

LOG = Path(os.environ.get("VERBATIM_STEP_TIMES", "cluster-step-times.txt"))
_LOCK = threading.Lock()
_START = time.monotonic()
_TICK = os.sysconf("SC_CLK_TCK")


def _write(line: str) -> None:
    with _LOCK, LOG.open("a", encoding="utf-8") as out:
        out.write(f"{time.monotonic() - _START:8.1f} {line}\n")


def _test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "-").split("::")[-1]


def _label(name: str, args: tuple) -> str:
    if name == "run_cli":
        flags = [flag for flag in ("--shards", "--undeploy") if flag in args]
        return " ".join([name, *args[:1], *flags])
    if name == "run_phase":
        return f"{name} total={args[2]}"
    return name


def _timed(owner, name: str) -> None:
    original = getattr(owner, name)
    method = isinstance(owner, type)

    if asyncio.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapper(*args, **kwargs):
            start = time.monotonic()
            try:
                return await original(*args, **kwargs)
            finally:
                _write(f"{time.monotonic() - start:7.1f}s  {_label(name, args)}  [{_test()}]")
    else:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                _write(f"{time.monotonic() - start:7.1f}s  {_label(name, args[1:] if method else args)}  [{_test()}]")
    setattr(owner, name, wrapper)


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system, reaped children included) of ``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = sum(int(value) for value in fields[11:15]) / _TICK
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def _watch() -> None:
    previous, lost, ticks = None, 0.0, 0
    while True:
        total = _tree_cpu(os.getpid())
        if previous is not None and total < previous:
            lost += previous - total  # processes that left the tree: what they used still counts
        previous = total
        _watch.cpu = total + lost
        if ticks % 15 == 0:
            with open("/proc/loadavg", encoding="ascii") as loadavg:
                _write(f"load {loadavg.read().split()[0]}  cpu {_watch.cpu:.1f}s")
        ticks += 1
        time.sleep(1)


_watch.cpu = 0.0


def pytest_collection(session) -> None:
    from eval.bench import loadtest, local_cluster
    from ingest import distributed, pipeline
    from qa import pipeline as qa_pipeline
    from tests.cluster import helpers

    for name in ("run_cli", "assert_same_build", "assert_same_answers", "responses"):
        _timed(helpers, name)
    _timed(pipeline, "run_ingest")
    _timed(loadtest, "run_phase")
    _timed(distributed, "connect")
    _timed(qa_pipeline.Answerer, "warm_up")
    for name in ("start", "add_node", "wait_for_nodes", "stop", "kill_raylet"):
        _timed(local_cluster.LocalCluster, name)
    threading.Thread(target=_watch, daemon=True).start()


def pytest_runtest_logreport(report) -> None:
    _write(f"{report.duration:7.1f}s  == {report.when} {report.nodeid.split('::')[-1]} {report.outcome}")


def pytest_sessionfinish(session) -> None:
    time.sleep(2)  # one more poll after the cluster's stop
    _write(f"session CPU seconds of the process tree: {_watch.cpu:.1f}")
