"""``verbatim serve``: the chat page and the JSON API under uvicorn, or on Ray Serve."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from ingest.ensure import ensure_index
from verbatim.cli.ingest_cmd import RAY_EXTRA_MISSING
from verbatim.logs import configure_logging
from verbatim.settings import Settings, limit_malloc_arenas
from web.app import create_app


def server_config(app, settings: Settings, log_level: str = "info", access_log: bool = False) -> uvicorn.Config:
    """uvicorn's configuration of ``verbatim serve``.

    uvicorn's own proxy-header handling is off: it trusts ``X-Forwarded-For`` from 127.0.0.1 by
    default, which would let any local client pick its rate-limit key. The app applies the same
    middleware with only ``VERBATIM_FORWARDED_ALLOW_IPS`` trusted (``web/app.py``). Logging is
    left to :func:`verbatim.logs.configure_logging` (``log_config=None``).

    Args:
        app: The ASGI app.
        settings: Host and port.
        log_level: uvicorn's log level.
        access_log: Also write uvicorn's access log (the app already logs one line per request).

    Returns:
        The ``uvicorn.Config``.
    """
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log,
        proxy_headers=False, log_config=None,
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the web app and API (building the default index first if there is none)."""
    limit_malloc_arenas()
    configure_logging(settings.log_format, args.log_level)
    if args.ray:
        return _serve_on_ray(args, settings)
    if not ensure_index(settings):
        return 1
    app = create_app(settings)
    logging.getLogger("verbatim").info("Verbatim on http://%s:%d  (API docs at /docs)", settings.host, settings.port)
    uvicorn.Server(server_config(app, settings, args.log_level, args.access_log)).run()
    return 0


def _serve_on_ray(args: argparse.Namespace, settings: Settings) -> int:
    """``verbatim serve --ray ADDRESS --replicas N``: deploy (or update) the app on Ray Serve."""
    try:
        # Optional extra: Ray is imported only when --ray is given.
        from ingest import distributed
        from web import ray_serve
    except ImportError:
        print(RAY_EXTRA_MISSING, file=sys.stderr)
        return 2
    try:
        if args.undeploy:
            ray_serve.undeploy(args.ray)
            print(f"Verbatim removed from the Ray cluster at {args.ray}", file=sys.stderr)
            return 0
        if not ensure_index(settings):
            return 1
        deployment = ray_serve.deploy(args.ray, settings, args.replicas, args.replica_cpus, args.ingress)
    except distributed.ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except distributed.ray.exceptions.RayError as error:
        last = str(error).strip().splitlines()[-1][:300] if str(error).strip() else type(error).__name__
        print(f"error: the deployment failed ({type(error).__name__}: {last})", file=sys.stderr)
        return 1
    finally:
        distributed.disconnect()
    print(
        f"Verbatim on {deployment.url} via Ray Serve: {deployment.replicas} replica(s) serving build {deployment.build}\n"
        f"  after an ingest, run this command again to move every replica to the new build;\n"
        f"  remove it with: verbatim serve --ray {args.ray} --undeploy",
        file=sys.stderr,
    )
    return 0
