"""The FastAPI application factory.

``create_app()`` wires the routers; the lifespan loads the model and the index once per
process (never at import) and builds the index of the default corpus when none exists.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from qa.pipeline import Answerer
from verbatim.settings import Settings, force_offline
from web.errors import api_error_responses, common_error_responses, install_error_handlers
from web.limits import install_limits
from web.routers import admin, ask, documents, health, pages
from web.security import SecurityHeadersMiddleware
from web.service import AnswerService


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

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service_answerer = answerer or Answerer(settings)
        service_answerer.warm_up()
        app.state.service = AnswerService(service_answerer)
        await app.state.service.start()
        try:
            yield
        finally:
            await app.state.service.stop()

    app = FastAPI(
        title="Verbatim",
        version="0.1.0",
        summary="Answers health questions only with verbatim, cited quotes from its source documents.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    install_error_handlers(app)
    install_limits(app, settings)

    app.include_router(ask.router, responses=api_error_responses())
    app.include_router(documents.router, responses=api_error_responses())
    app.include_router(health.router, responses=common_error_responses())
    app.include_router(admin.router, responses=api_error_responses())
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    # Added last so it is the outermost layer: every response, errors included, gets the headers.
    app.add_middleware(SecurityHeadersMiddleware, api_docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url))
    return app
