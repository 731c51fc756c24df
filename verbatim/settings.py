"""All runtime settings in one place, read from the environment with sensible defaults.

Every setting has an environment variable so the server, the CLI and the tests configure
Verbatim the same way; command-line flags override the environment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

# Models must never be fetched from a hub at run time; the packaged weights are used.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Loading the packaged weights needs no progress bar on every start.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    # oneDNN keeps a compiled kernel per input shape (up to 1,024 by default), which reads as
    # slow memory growth under varied load; a smaller cache bounds it (see docs/reliability.md).
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64",
}


# glibc gives each thread that allocates its own malloc arena (up to 8 per core) and keeps their
# freed memory; the server's worker threads took turns filling new ones, which read as +9-12 % of
# memory after warm-up under `make loadtest`. Two arenas held it to +5-7 % at the same throughput
# (docs/reliability.md).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads created from now on (call before serving).

    Args:
        arenas: Most arenas glibc may create.

    Returns:
        Whether the cap was applied (False off glibc, e.g. macOS or musl).
    """
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def force_offline() -> None:
    """Set the Hugging Face offline switches before any model library is imported."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut into passages for retrieval.

    Attributes:
        max_tokens: Upper bound of a chunk in model tokens, special tokens included
            (all-MiniLM-L6-v2 truncates at 256).
        overlap_sentences: Sentences repeated at the start of the next chunk of the same section.
        max_sentence_chars: Longer "sentences" (huge single lines) are hard-split at this length.
    """

    max_tokens: int = 256
    overlap_sentences: int = 1
    max_sentence_chars: int = 1500


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration.

    Attributes:
        index_dir: Folder holding the built index (``--index``).
        corpus_dir: Default corpus ingested when no path is given.
        host: Interface the server binds; loopback unless deliberately opened.
        port: TCP port of the server.
        max_file_bytes: Ingest skips larger files.
        max_body_bytes: Requests with larger bodies get 413.
        admin_token: Enables ``POST /api/admin/reload`` when set.
        rate_limit_per_minute: Per-client request budget for the API; 0 disables it.
        chunking: Passage cutting parameters (part of the index fingerprint).
    """

    index_dir: Path = Path("index")
    corpus_dir: Path = Path("corpus")
    host: str = "127.0.0.1"
    port: int = 8000
    max_file_bytes: int = 20 * 1024 * 1024
    max_body_bytes: int = 16 * 1024
    admin_token: str | None = None
    rate_limit_per_minute: int = 0
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from ``VERBATIM_*`` environment variables.

        Args:
            **overrides: Values that win over the environment (``None`` values are ignored).

        Returns:
            The resolved settings.
        """
        env = os.environ
        values: dict[str, object] = {}
        if "VERBATIM_INDEX" in env:
            values["index_dir"] = Path(env["VERBATIM_INDEX"])
        if "VERBATIM_CORPUS" in env:
            values["corpus_dir"] = Path(env["VERBATIM_CORPUS"])
        if "VERBATIM_HOST" in env:
            values["host"] = env["VERBATIM_HOST"]
        if "VERBATIM_PORT" in env:
            values["port"] = int(env["VERBATIM_PORT"])
        if "VERBATIM_MAX_FILE_MB" in env:
            values["max_file_bytes"] = int(float(env["VERBATIM_MAX_FILE_MB"]) * 1024 * 1024)
        if "VERBATIM_MAX_BODY_BYTES" in env:
            values["max_body_bytes"] = int(env["VERBATIM_MAX_BODY_BYTES"])
        if env.get("VERBATIM_ADMIN_TOKEN"):
            values["admin_token"] = env["VERBATIM_ADMIN_TOKEN"]
        if "VERBATIM_RATE_LIMIT" in env:
            values["rate_limit_per_minute"] = int(env["VERBATIM_RATE_LIMIT"])
        values.update({key: value for key, value in overrides.items() if value is not None})
        for key in ("index_dir", "corpus_dir"):
            if key in values:
                values[key] = Path(values[key])
        return replace(cls(), **values)
