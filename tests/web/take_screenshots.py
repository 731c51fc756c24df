"""Take the README screenshots of the chat page (desktop and phone width).

    .venv/bin/python -m tests.web.take_screenshots            # writes docs/screenshots/chat-*.png

Builds the seed corpus index in a temporary folder, serves it with uvicorn, asks three
questions (a normal answer, a safety question with its disclaimer, an out-of-scope question)
in headless Chromium and saves the whole conversation.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.web.browser_support import DESKTOP, PHONE, ask, chromium_problem, launch_chromium, serve
from verbatim.settings import Settings, force_offline

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [
    "How much glutamine should I take for gut health?",
    "Can I take glutamine if I have liver disease?",
    "What is the capital of France?",
]


def take(out_dir: Path, color_scheme: str = "light") -> list[Path]:
    """Serve a fresh index of ``corpus/`` and save one screenshot per viewport.

    Args:
        out_dir: Folder for the PNG files.
        color_scheme: ``light`` or ``dark``.

    Returns:
        The files written.
    """
    force_offline()
    from playwright.sync_api import sync_playwright

    from ingest.pipeline import run_ingest
    from qa.pipeline import Answerer
    from verbatim.embedding import Embedder
    from web.app import create_app

    problem = chromium_problem()
    if problem:
        raise SystemExit(problem)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as index_dir:
        settings = Settings.from_env(index_dir=Path(index_dir), corpus_dir=REPO / "corpus")
        embedder = Embedder()
        embedder.warm_up()
        run_ingest(settings=settings, embedder=embedder, show_progress=False)
        answerer = Answerer(settings, embedder=embedder)
        answerer.warm_up()
        with serve(create_app(settings, answerer=answerer)) as url, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            suffix = "" if color_scheme == "light" else f"-{color_scheme}"
            for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                page = browser.new_page(viewport=viewport, device_scale_factor=1, color_scheme=color_scheme)
                page.goto(url)
                for question in QUESTIONS:
                    ask(page, question)
                page.locator("#question").blur()
                # Grow the viewport to the whole page so the sticky question box sits at the end.
                height = page.evaluate("() => document.documentElement.scrollHeight")
                page.set_viewport_size({"width": viewport["width"], "height": height})
                path = out_dir / f"chat-{name}{suffix}.png"
                page.screenshot(path=str(path))
                _shrink(path)
                written.append(path)
                page.close()
            browser.close()
    return written


def _shrink(path: Path) -> None:
    """Store the screenshot with a 256-colour palette (a third of the size, same look for UI text)."""
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    palette.save(path, optimize=True)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="output folder")
    parser.add_argument("--color-scheme", choices=["light", "dark"], default="light")
    arguments = parser.parse_args()
    for path in take(arguments.out, arguments.color_scheme):
        print(path)


if __name__ == "__main__":
    main()
