"""All runtime settings in one place, validated at start-up with pydantic-settings.

Every setting has an environment variable (also read from a ``.env`` file in the working
folder) so the server, the CLI and the tests configure Verbatim the same way; command-line flags
override both. A bad value stops the program with one line naming the variable, the value and
what is allowed (:class:`SettingsError`). The README's configuration table is checked against
:func:`settings_table` by a test.

Adding a setting is one line in :class:`Settings`: ``name: type = setting("ENV_SUFFIX", default,
"meaning", **constraints)``, then its row in the README (``python -m verbatim.settings`` prints
the table).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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


def default_model_cache_dir() -> Path:
    """Where adapted models are cached when ``VERBATIM_MODEL_CACHE`` is unset: the user's cache
    folder (``$XDG_CACHE_HOME/verbatim/models``), so every index folder and checkout shares it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "verbatim" / "models"


@dataclass(frozen=True)
class AdaptationConfig:
    """How ingest fine-tunes the embedder on a corpus's training pairs (part of the model's key).

    Attributes:
        enabled: Adapt when the corpus has pairs (``VERBATIM_ADAPT=false`` keeps the base model).
        epochs: Passes over the pairs.
        learning_rate: AdamW peak learning rate (linear warm-up over the first tenth, then decay).
        batch_size: Pairs per step; the other pairs' answers are each question's negatives.
        hard_negatives: Also give each question a sentence of its answer's section that does not
            hold the answer.
        scale: Inverse temperature of the ranking loss over cosine similarities.
        seed: Seeds the shuffling, dropout and initialisation.
        threads: Torch threads while training (fixed: the sums' order, hence the weights,
            depends on it).
        out_of_scope_weight: Weight of the term pushing the corpus's out-of-scope training
            questions away from its sentences (0: off).
        out_of_scope_margin: Cosine under which an out-of-scope question costs nothing.
        out_of_scope_per_step: Out-of-scope questions pushed at each step.
        out_of_scope_nearest: Corpus sentences (nearest by the base model) each one is pushed from,
            besides the answers of its batch.
    """

    enabled: bool = True
    epochs: int = 1
    learning_rate: float = 2e-5
    batch_size: int = 16
    hard_negatives: bool = True
    scale: float = 20.0
    seed: int = 13
    threads: int = 2
    out_of_scope_weight: float = 0.0
    out_of_scope_margin: float = 0.3
    out_of_scope_per_step: int = 4
    out_of_scope_nearest: int = 3


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


ENV_PREFIX = "VERBATIM_"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message is one line for the operator."""


def setting(env: str, default: Any, meaning: str, **constraints: Any) -> Any:
    """A settings field read from ``VERBATIM_<env>`` (or given by its attribute name).

    Args:
        env: Environment variable without the ``VERBATIM_`` prefix.
        default: Value when unset.
        meaning: One line for the README's table and error messages.
        **constraints: pydantic ``Field`` constraints (``ge``, ``le``, ...), or
            ``default_factory`` for a default computed at start-up.

    Returns:
        The pydantic field.
    """
    name = ENV_PREFIX + env
    if "default_factory" in constraints:  # a default computed at start-up (pass default=None)
        return Field(validation_alias=AliasChoices(name), description=meaning, **constraints)
    return Field(default, validation_alias=AliasChoices(name), description=meaning, **constraints)


# Comma-separated in the environment ("a, b"); NoDecode stops pydantic-settings reading it as JSON.
CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Process-wide configuration; every field is one ``VERBATIM_*`` variable (see the README).

    Build it with :meth:`from_env`; ``Settings()`` gives the same (environment and ``.env`` read).
    Instances are frozen: derive a changed copy with :meth:`replace`.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True, populate_by_name=True,
        validate_default=True,
    )

    index_dir: Path = setting("INDEX", Path("index"), "index folder (`--index`)")
    corpus_dir: Path = setting("CORPUS", Path("corpus"), "corpus ingested when no path is given")
    data_dir: Path = setting("DATA", Path("data"), "local data that is not committed: the feedback store and the pairs made from it (`--data`)")
    feedback_days: int = setting(
        "FEEDBACK_DAYS", 90, "feedback records older than this many days are purged automatically (0: kept until purged or deleted)", ge=0
    )
    model_cache_dir: Path = setting(
        "MODEL_CACHE", None, "adapted embedding models, shared by every index folder (default `~/.cache/verbatim/models`)",
        default_factory=default_model_cache_dir,
    )
    adapt: bool = setting("ADAPT", True, "adapt the embedding model to the corpus's training pairs (`*.pairs.jsonl`) at ingest")
    host: str = setting("HOST", "127.0.0.1", "interface `serve` binds (`--host`); loopback unless you open it", min_length=1)
    port: int = setting("PORT", 8000, "TCP port of `serve` (`--port`)", ge=1, le=65535)
    max_file_mb: float = setting("MAX_FILE_MB", 20.0, "ingest skips larger files, in MB (`--max-file-mb`)", gt=0)
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", 64 * 1024,
        "larger request bodies get 413 (room for a question with five earlier turns of 1000 characters)", ge=1,
    )
    admin_token: str | None = setting("ADMIN_TOKEN", None, "enables `POST /api/admin/reload` (bearer token)")
    rate_limit_per_minute: int = setting(
        "RATE_LIMIT", 0, "requests per minute per client to the API and the chat form (0: off); 429 beyond", ge=0
    )
    forwarded_allow_ips: CommaList = setting(
        "FORWARDED_ALLOW_IPS", (), "proxies whose `X-Forwarded-For` is trusted (IPs or CIDRs, comma-separated; empty: none)"
    )
    cors_origins: CommaList = setting("CORS_ORIGINS", (), "origins allowed to call the API from a browser (comma-separated; empty: CORS off)")
    log_format: Literal["auto", "json", "text"] = setting("LOG_FORMAT", "auto", "`json` (one line per request), `text`, or `auto` (text on a terminal)")
    log_questions: bool = setting("LOG_QUESTIONS", False, "also log each question's text (off: only its length and a keyed hash)")
    log_hash_key: str | None = setting("LOG_HASH_KEY", None, "key of the questions' hash in logs (unset: a new random key per process)")
    metrics: bool = setting("METRICS", False, "serve Prometheus metrics at `GET /metrics`")
    metrics_token: str | None = setting("METRICS_TOKEN", None, "bearer token `/metrics` requires (needed when `serve` binds beyond loopback)")

    @property
    def max_file_bytes(self) -> int:
        """Ingest skips files larger than this many bytes."""
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def adaptation(self) -> AdaptationConfig:
        """Fine-tuning of the embedder on the corpus's training pairs (part of the model's key)."""
        return AdaptationConfig(enabled=self.adapt)

    @property
    def chunking(self) -> ChunkingConfig:
        """Passage cutting parameters (part of the index fingerprint; not configurable)."""
        return ChunkingConfig()

    @field_validator("admin_token", "log_hash_key", "metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("forwarded_allow_ips", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or network; give addresses or CIDRs, or '*'") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest:
                raise ValueError(f"'{origin}' is not an origin like https://example.org (scheme and host, no path)")
        return value

    @model_validator(mode="after")
    def _metrics_protected(self) -> Settings:
        if self.metrics and self.metrics_token is None and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"metrics on a server that listens on {self.host} need VERBATIM_METRICS_TOKEN "
                "(or bind to 127.0.0.1, or VERBATIM_METRICS=false)"
            )
        return self

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from ``VERBATIM_*`` variables and ``.env``, then ``overrides``.

        Args:
            **overrides: Values by attribute name that win over the environment (command-line
                flags; ``None`` values are ignored). ``max_file_bytes`` is accepted too.

        Returns:
            The validated settings.

        Raises:
            SettingsError: A value is not allowed (one line naming it and what is allowed).
        """
        values = {key: value for key, value in overrides.items() if value is not None}
        if "max_file_bytes" in values:
            values["max_file_mb"] = int(values.pop("max_file_bytes")) / (1024 * 1024)
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:  # a typo in a caller, not an operator's mistake
            raise TypeError(f"unknown settings: {', '.join(unknown)}")
        try:
            return cls(**values)
        except ValidationError as error:
            raise SettingsError(describe_error(error, given=set(values))) from None

    def replace(self, **changes: object) -> Settings:
        """A validated copy with some attributes changed (``dataclasses.replace`` of old)."""
        return type(self).from_env(**{**self.values(), **changes})

    def values(self) -> dict[str, object]:
        """Every setting by attribute name."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def env_name(field: str) -> str:
    """The environment variable of a settings attribute."""
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices)
    return str(alias.choices[0])


def describe_error(error: ValidationError, given: set[str] = frozenset()) -> str:
    """One line per problem (usually one): the variable, its value and what is allowed."""
    problems = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if not isinstance(part, int)]
        field = location[0] if location else ""
        if field in Settings.model_fields and field not in given:
            name = env_name(field)
        elif field.startswith(ENV_PREFIX) or field in given:
            name = field
        else:
            name = ""
        allowed = str(problem.get("msg", "invalid value")).removeprefix("Value error, ")
        if not name:
            problems.append(allowed)
        elif "input" in problem:
            problems.append(f"{name}={problem['input']!r}: {allowed}")
        else:
            problems.append(f"{name}: {allowed}")
    return "invalid setting: " + "; ".join(problems)


def settings_table() -> str:
    """The README's configuration table (Markdown), made from :class:`Settings`."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        default = info.default
        if info.default_factory is not None:
            shown = "computed"
        elif default is None:
            shown = "unset"
        elif isinstance(default, tuple):
            shown = "empty" if not default else ",".join(default)
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = str(default)
        rows.append(f"| `{env_name(name)}` | `{shown}` | {info.description} |" if shown not in ("unset", "empty", "computed")
                    else f"| `{env_name(name)}` | {shown} | {info.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
