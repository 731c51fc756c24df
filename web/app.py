"""The FastAPI application factory.

``create_app()`` wires the routers; the lifespan loads the model and the index once per
process (never at import) and builds the index of the default corpus when none exists.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.pipeline import Answerer
from verbatim.settings import Settings, force_offline
from web.routers import ask, documents, health, pages
from web.security import SecurityHeadersMiddleware
from web.service import AnswerService


def _validation_message(error: dict) -> dict:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return {"field": location or "body", "message": message, "type": error.get("type", "")}


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

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_validation_message(error) for error in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
        return JSONResponse(status_code=422, content={"error": summary, "detail": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": str(exc.detail)}, headers=getattr(exc, "headers", None))

    app.include_router(ask.router)
    app.include_router(documents.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware, api_docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url))
    return app
