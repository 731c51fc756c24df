"""The FastAPI application factory.

``create_app()`` wires the routers and the middleware; the lifespan loads the model and the
index once per process (never at import), computes a first answer, and only then reports ready
(``GET /readyz``).

Middleware, outermost first: trusted-proxy addresses (``VERBATIM_FORWARDED_ALLOW_IPS``), request
id + log line + HTTP metrics, security headers, CORS (when origins are named), rate limit, body
guard. The client address every inner layer sees is therefore the one the trusted proxies vouch
for, and every response (errors and 429s included) gets its request id and headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qa.pipeline import Answerer
from verbatim import __version__
from verbatim.feedback_store import PURGE_EVERY_SECONDS, FeedbackStore, FeedbackStoreUnavailable
from verbatim.settings import Settings, force_offline
from web.errors import api_error_responses, common_error_responses, install_error_handlers
from web.limits import install_limits
from web.metrics import ServiceMetrics
from web.request_log import QuestionPrivacy, RequestLogMiddleware
from web.routers import admin, api_docs, ask, documents, feedback, health, metrics, pages
from web.security import SecurityHeadersMiddleware
from web.service import AnswerService

# Answered once at start-up so the first real question does not pay for lazy initialisation;
# readiness waits for it.
FIRST_QUESTION = "What is it?"

logger = logging.getLogger("verbatim.web")


async def _apply_feedback_retention(store: FeedbackStore) -> None:
    """Purge feedback older than the retention (``VERBATIM_FEEDBACK_DAYS``).

    A store that does not exist yet is left alone (the first feedback sent creates it); a data
    folder that cannot be written only disables feedback (503), never answering.
    """
    if not store.path.exists():
        return
    try:
        await asyncio.to_thread(store.purge_expired)
    except FeedbackStoreUnavailable as error:
        logger.warning("feedback is disabled until the data folder is writable: %s", error)


async def _retention_loop(store: FeedbackStore) -> None:
    """Apply the retention hourly while the server runs (it was applied at start-up)."""
    while True:
        await asyncio.sleep(PURGE_EVERY_SECONDS)
        await _apply_feedback_retention(store)


def create_app(settings: Settings | None = None, answerer: Answerer | None = None) -> FastAPI:
    """Build the application.

    Args:
        settings: Settings; defaults to the environment.
        answerer: A ready (warm) answerer to use instead of loading one at start-up (tests,
            benchmarks).

    Returns:
        The FastAPI app.
    """
    force_offline()
    settings = settings or Settings.from_env()
    service_metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service_answerer = answerer or Answerer(settings)
        service_answerer.warm_up()
        app.state.service = AnswerService(service_answerer, service_metrics)
        service_metrics.watch_index(lambda: service_answerer.store)
        await app.state.service.start()
        await _apply_feedback_retention(app.state.feedback_store)
        retention = asyncio.create_task(_retention_loop(app.state.feedback_store), name="verbatim-feedback-retention")
        await asyncio.to_thread(service_answerer.run, FIRST_QUESTION, 1)  # not counted in the metrics
        app.state.ready = True
        service_metrics.ready.set(1)
        try:
            yield
        finally:
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
            app.state.ready = False
            service_metrics.ready.set(0)
            await app.state.service.stop()
            app.state.feedback_store.close()

    app = FastAPI(
        title="Verbatim",
        version=__version__,
        summary="Answers health questions only with verbatim, cited quotes from its source documents.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by web/routers/api_docs.py, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = service_metrics
    app.state.ready = False
    app.state.feedback_store = FeedbackStore(settings.data_dir, settings.feedback_days)

    install_error_handlers(app)
    install_limits(app, settings)

    app.include_router(ask.router, responses=api_error_responses())
    app.include_router(documents.router, responses=api_error_responses())
    app.include_router(health.router, responses=common_error_responses())
    app.include_router(admin.router, responses=api_error_responses())
    app.include_router(metrics.router)
    app.include_router(api_docs.router)
    app.include_router(feedback.router, responses=api_error_responses())
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.mount(api_docs.ASSETS_URL, StaticFiles(directory=api_docs.ASSETS_DIR), name="api-docs-assets")
    # add_middleware puts each layer outside the previous ones: inner layers first.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    privacy = QuestionPrivacy.from_settings(settings.log_hash_key, settings.log_questions)
    app.add_middleware(RequestLogMiddleware, privacy=privacy, metrics=service_metrics, routes=app.router.routes)
    # Only the proxies named in the settings may set the client's address (uvicorn's own
    # ProxyHeadersMiddleware, which `verbatim serve` turns off in uvicorn itself).
    if settings.forwarded_allow_ips:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.forwarded_allow_ips))
    return app
