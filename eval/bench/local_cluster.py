"""A real multi-node Ray cluster on this one machine, for the cluster tests and benchmark.

Each node is a ``ray start --block`` process in its own process group, bound to loopback and
bounded in CPUs and memory; :meth:`LocalCluster.stop` ends exactly the processes it started
(each node's process group and their descendants, found through ``/proc``), never another
user's Ray. Each node also gets SIGTERM from the kernel when the process that started it
dies, however it dies (``PR_SET_PDEATHSIG``), so a killed test run leaves no cluster behind.
It runs under ``nice`` because the machine is shared.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"
NODE_MEMORY_BYTES = 3 * 1024**3
OBJECT_STORE_BYTES = 256 * 1024**2
START_TIMEOUT_SECONDS = 90.0


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGTERM when the parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def nice_command(niceness: int) -> list[str]:
    """The ``nice`` prefix that runs a command at ``niceness``, or at this process's own niceness
    when that is higher: a caller already run under ``nice`` (a niced test session) does not push
    its nodes and commands further down (``nice -n 10`` under ``nice -n 10`` is 19, where a loaded
    machine gives them almost no CPU while the caller waits for them).

    Args:
        niceness: The niceness wanted (0: the caller's own).

    Returns:
        ``["nice", "-n", N]`` with N the increment needed (0 when none).
    """
    return ["nice", "-n", str(max(0, niceness - os.nice(0)))]


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def replica_healths(url: str, wanted: int = 2, tries: int = 200) -> dict[str, dict]:
    """Each Serve replica's ``/healthz`` body by its replica id, as reached through the ingress.

    The ingress picks a replica per request, so ``/healthz`` is asked until ``wanted`` distinct
    replicas answered or ``tries`` requests were made.

    Args:
        url: The ingress's base URL (loopback).
        wanted: How many distinct replicas to wait for.
        tries: The most requests made.

    Returns:
        The bodies seen, by replica id: fewer than ``wanted`` when no more answered in ``tries``.
    """
    seen: dict[str, dict] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(tries):
            health = client.get("/healthz").json()
            seen[health["replica"]] = health
            if len(seen) >= wanted:
                break
    return seen


def _ray_executable() -> str:
    candidate = Path(sys.executable).with_name("ray")
    return str(candidate) if candidate.exists() else "ray"


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the ppid follows the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Ray's workers leave their parent's process group)."""
    tree, found, stack = _children(), [], [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def haproxy_env(folder: Path) -> dict[str, str]:
    """Ray Serve's HAProxy ingress settings that keep one cluster's HAProxy to itself.

    Ray's defaults put HAProxy's config, admin socket and server state under the fixed folder
    ``/tmp/haproxy-serve`` and its stats and Prometheus listeners on the fixed ports 8404 and
    9101, which two clusters on one machine (another session's, a test's) would share.

    Args:
        folder: The cluster's own temporary folder.

    Returns:
        Environment variables for every node of the cluster.
    """
    state = folder / "haproxy"
    state.mkdir(exist_ok=True)
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(state / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(state / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(state),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(state / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(state / "metrics.sock"),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
    }


@dataclass
class LocalCluster:
    """Start ``nodes`` Ray nodes on this machine and stop them, whatever happens.

    Args:
        nodes: Number of nodes (the first is the head).
        cpus_per_node: Logical CPUs each node offers.
        env: Environment of the nodes (their workers inherit it).
        nice: Niceness of the nodes, or the caller's own when that is higher (0: the caller's
            own, as a benchmark comparing the cluster with single-process runs of the same
            niceness needs; :func:`nice_command`).
    """

    nodes: int = 2
    cpus_per_node: int = 1
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    nice: int = 10
    port: int = 0
    temp_dir: Path | None = None
    _processes: list[subprocess.Popen] = field(default_factory=list)
    _orphans: set[int] = field(default_factory=set)  # workers of a killed raylet
    _logs: list = field(default_factory=list)
    _gcs: object | None = None  # Ray's GCS client of this cluster, once asked
    _killed_sockets: set[str] = field(default_factory=set)  # socket paths of killed raylets
    _restoring: int | None = None  # nodes to wait for after add_node(wait=False)

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the head, for ``--ray`` and ``ray.init``."""
        return f"{LOOPBACK}:{self.port}"

    def _start_node(self, head: bool) -> subprocess.Popen:
        command = [
            *nice_command(self.nice), _ray_executable(), "start", "--block",
            "--num-cpus", str(self.cpus_per_node),
            "--memory", str(NODE_MEMORY_BYTES),
            "--object-store-memory", str(OBJECT_STORE_BYTES),
            "--node-ip-address", LOOPBACK,
            "--disable-usage-stats",
            "--dashboard-agent-listen-port", str(free_port()),
        ]
        if head:
            command += [
                "--head", "--port", str(self.port), "--include-dashboard=false",
                "--temp-dir", str(self.temp_dir),
                "--ray-client-server-port", str(free_port()),
                "--dashboard-port", str(free_port()),
            ]
        else:
            command += ["--address", self.address]
        log = (self.temp_dir / f"node{len(self._processes)}.log").open("wb")
        self._logs.append(log)
        env = dict(self.env, RAY_USAGE_STATS_ENABLED="0")
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )
        self._processes.append(process)
        return process

    def launch(self) -> LocalCluster:
        """Start the head's process and return at once (:meth:`start` then waits for it and
        starts the other nodes): the caller may do other work while the head boots. Idempotent."""
        if self._processes:
            return self
        self.port = self.port or free_port()
        # A short path: Ray's socket paths live under it and must stay under 108 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="vray-", dir="/tmp"))
        # Whether or not a deployment asks for HAProxy (`verbatim serve --ingress haproxy`).
        self.env = {**self.env, **haproxy_env(self.temp_dir)}
        try:
            self._start_node(head=True)
        except BaseException:
            self.stop()
            raise
        return self

    def start(self) -> LocalCluster:
        """Start the head (unless :meth:`launch` did) and the other nodes, and wait until every
        node is alive."""
        self.launch()
        try:
            self._wait_for_port()
            for _ in range(self.nodes - 1):
                self._start_node(head=False)
            self.wait_for_nodes(self.nodes)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._processes[0].poll() is not None:
                raise RuntimeError(f"the Ray head exited: see {self._logs[0].name}")
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, self.port), timeout=1):
                return
            time.sleep(0.5)
        raise TimeoutError(f"the Ray head did not open port {self.port} in {START_TIMEOUT_SECONDS:.0f} s")

    def alive_nodes(self) -> int:
        """Nodes the cluster counts as alive: asked from the head's GCS directly (no driver, a
        fraction of a second), or from a separate, short-lived driver when that fails."""
        try:
            return self._alive_from_gcs()
        except Exception:  # noqa: BLE001 - Ray's internal client: any failure falls back
            return self._alive_from_driver()

    def _alive_from_gcs(self) -> int:
        # Ray's own GCS client (ray._raylet, as `ray status` and Serve use it); made only once the
        # head's port answers, since it blocks while the GCS is unreachable.
        from ray._raylet import GcsClient
        from ray.core.generated import gcs_pb2

        if self._gcs is None:
            self._gcs = GcsClient(address=self.address)
        nodes = self._gcs.get_all_node_info(timeout=30)
        return sum(
            1 for node in nodes.values()
            if node.state == gcs_pb2.GcsNodeInfo.ALIVE and node.raylet_socket_name not in self._killed_sockets
        )

    def _alive_from_driver(self) -> int:
        script = (
            f"import ray; ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False);"
            f"print(sum(1 for node in ray.nodes() if node['Alive'] and node['RayletSocketName'] not in {sorted(self._killed_sockets)!r}))"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], env=dict(self.env, RAY_USAGE_STATS_ENABLED="0"),
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            return 0
        # Ray may print its own warnings ("raylet has lagging heartbeats") around the count.
        counts = [line.strip() for line in result.stdout.splitlines() if line.strip().isdigit()]
        return int(counts[-1]) if counts else 0

    def wait_for_nodes(self, count: int) -> None:
        """Block until ``count`` nodes are alive."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.alive_nodes() >= count:
                return
            time.sleep(1)
        raise TimeoutError(f"fewer than {count} Ray nodes came up in {START_TIMEOUT_SECONDS:.0f} s")

    def add_node(self, wait: bool = True) -> None:
        """Start one more worker node (e.g. after one was killed) and wait for it.

        A killed node is not counted even while the head still lists it as alive (its health
        checks have not failed yet), so the new node starts at once.

        Args:
            wait: False: return once the node's process is started, and let the caller go on
                with work that does not need it; :meth:`wait_restored` waits for it (and
                :meth:`live_worker` calls that first).
        """
        self.wait_restored()
        live = sum(1 for node in range(len(self._processes)) if self.raylet_pid(node) is not None)
        self._start_node(head=False)
        self._restoring = live + 1
        if wait:
            self.wait_restored()

    def wait_restored(self) -> None:
        """Wait until a node :meth:`add_node` started without waiting is alive (at once when none)."""
        if self._restoring is not None:
            self.wait_for_nodes(self._restoring)
            self._restoring = None

    def raylet_pid(self, node: int) -> int | None:
        """The raylet process of node ``node`` (0 is the head), or None if it is gone."""
        for pid in descendants(self._processes[node].pid):
            if "/raylet/raylet " in _command(pid) or _command(pid).split(" ")[0].endswith("/raylet"):
                return pid
        return None

    def live_worker(self) -> int:
        """The number of the newest worker node whose raylet runs (a killed node stays in the
        numbering and :meth:`add_node` appends, so "node 1" is not always alive).

        Returns:
            The node's number (0 is the head, never returned).

        Raises:
            RuntimeError: When no worker node's raylet runs.
        """
        self.wait_restored()
        for node in range(len(self._processes) - 1, 0, -1):
            if self.raylet_pid(node) is not None:
                return node
        raise RuntimeError("no worker node of this cluster has a raylet running")

    def kill_raylet(self, node: int) -> int:
        """Kill a node's raylet (SIGKILL), as a machine failure would; returns its pid."""
        pid = self.raylet_pid(node)
        if pid is None:
            raise RuntimeError(f"node {node} has no raylet running")
        socket_name = next((part.split("=", 1)[1] for part in _command(pid).split() if part.startswith("--raylet_socket_name=")), "")
        if socket_name:
            self._killed_sockets.add(socket_name)  # counted dead before the head notices
        self._orphans.update(descendants(pid))
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        """Stop every process this cluster started (idempotent)."""
        victims: set[int] = set(self._orphans)
        for process in self._processes:
            victims.update(descendants(process.pid))
            victims.add(process.pid)
        for process in reversed(self._processes):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for pid in victims | {pid for process in self._processes for pid in descendants(process.pid)}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self._processes.clear()
        self._gcs = None
        self._restoring = None
        self._killed_sockets.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
