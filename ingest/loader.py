"""Find source files and decode them, with a reason for every file that is skipped."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
JSONL_SUFFIX = ".jsonl"
# Training pairs ship beside a corpus's documents but are read by ingest/pairs.py, never as text.
PAIRS_SUFFIX = ".pairs.jsonl"
# The adapted model shipped beside a pairs file (ingest/adapt.py): weights, not documents.
SHIPPED_MODEL_SUFFIX = ".model"
PAIRS_SKIP_REASON = "training pairs, not a source document"

_DECLARED_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)


@dataclass
class SourceText:
    """A decoded source document, before cleaning.

    Attributes:
        doc_id: Identifier derived from the file name (or the JSONL record id).
        source: Path (and record number for JSONL) it came from.
        kind: ``text``, ``markdown``, ``html`` or ``record``.
        text: Decoded text.
        content_hash: SHA-256 of the source bytes.
        encoding: The decoding that succeeded.
        title: Title given by the source itself (JSONL records), if any.
    """

    doc_id: str
    source: str
    kind: str
    text: str
    content_hash: str
    encoding: str
    title: str | None = None


@dataclass
class SkippedSource:
    """A file that was not ingested, and why."""

    source: str
    reason: str


def _slug(stem: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug or "document"


def _in_shipped_model(relative: Path) -> bool:
    """Whether a path inside a corpus folder lies in a shipped adapted model (``<name>.model/``)."""
    return any(part.lower().endswith(SHIPPED_MODEL_SUFFIX) for part in relative.parts[:-1])


def is_pairs_file(path: Path) -> bool:
    """Whether a file holds training pairs (``*.pairs.jsonl``) rather than documents."""
    return path.name.lower().endswith(PAIRS_SUFFIX)


def pairs_files(paths: Iterable[Path]) -> list[Path]:
    """Every training-pairs file under the given files or folders, in a stable order.

    Args:
        paths: Files or folders given to ingest.

    Returns:
        The ``*.pairs.jsonl`` files (hidden folders skipped, as for documents).
    """
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(
                child
                for child in sorted(path.rglob("*"))
                if child.is_file() and is_pairs_file(child)
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
                and not _in_shipped_model(child.relative_to(path))
            )
        elif path.is_file() and is_pairs_file(path):
            found.append(path)
    return found


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[SkippedSource]]:
    """Expand folders into supported files, in a stable order.

    Args:
        paths: Files or folders given on the command line.

    Returns:
        The files to read and the paths skipped up front (missing, unsupported type).
    """
    files: list[Path] = []
    skipped: list[SkippedSource] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                if _in_shipped_model(child.relative_to(path)):
                    continue  # the corpus's adapted model (ingest/adapt.py), not a document
                if not child.is_file():
                    if child.is_symlink() and not child.exists():
                        skipped.append(SkippedSource(str(child), "unreadable: broken or looping symbolic link"))
                    continue
                if child.stem.upper() == "README":
                    # A folder's README describes the corpus; it is not one of its documents.
                    skipped.append(SkippedSource(str(child), "folder README, not a source document"))
                elif is_pairs_file(child):
                    skipped.append(SkippedSource(str(child), PAIRS_SKIP_REASON))
                elif child.suffix.lower() in {*SUPPORTED_SUFFIXES, JSONL_SUFFIX}:
                    files.append(child)
                else:
                    skipped.append(SkippedSource(str(child), f"unsupported file type '{child.suffix or '(none)'}'"))
        elif path.is_file():
            if is_pairs_file(path):
                skipped.append(SkippedSource(str(path), PAIRS_SKIP_REASON))
            elif path.suffix.lower() in {*SUPPORTED_SUFFIXES, JSONL_SUFFIX}:
                files.append(path)
            else:
                skipped.append(SkippedSource(str(path), f"unsupported file type '{path.suffix or '(none)'}'"))
        elif path.exists():
            skipped.append(SkippedSource(str(path), "not a regular file"))
        else:
            skipped.append(SkippedSource(str(path), "no such file or folder"))
    return files, skipped


def _mixed_decode(data: bytes) -> str:
    """Decode UTF-8, reading any byte that is not valid UTF-8 as Windows-1252."""

    def fallback(error: UnicodeDecodeError) -> tuple[str, int]:
        bad = error.object[error.start : error.end]
        return bad.decode("cp1252", errors="replace").replace("\ufffd", ""), error.end

    codecs.register_error("verbatim-cp1252", fallback)
    return data.decode("utf-8", errors="verbatim-cp1252")


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes: UTF-8 first, then a BOM or declared charset, then mixed UTF-8/cp1252.

    Args:
        data: File contents.

    Returns:
        The text and the name of the decoding used.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    for bom, name in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(name, errors="replace"), name
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _DECLARED_CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii", errors="ignore")
        try:
            return data.decode(name), name.lower()
        except (LookupError, UnicodeDecodeError):
            pass
    return _mixed_decode(data), "utf-8+cp1252"


def looks_binary(data: bytes) -> bool:
    """Heuristic: NUL bytes or many control characters mean this is not a text document."""
    sample = data[:8192]
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # UTF-16 text is half NUL bytes: judge the characters, not the bytes.
        characters = sample[: len(sample) // 2 * 2].decode("utf-16", errors="replace")
        controls = sum(1 for char in characters if char < "\t" or "\r" < char < " ")
        return bool(characters) and controls / len(characters) > 0.05
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 9 or 13 < byte < 32)
    return bool(sample) and controls / len(sample) > 0.05


def read_sources(
    files: Iterable[Path], max_bytes: int
) -> Iterator[SourceText | SkippedSource]:
    """Read and decode files, yielding documents or skip reasons.

    Args:
        files: Paths from :func:`discover`.
        max_bytes: Files larger than this are skipped.

    Yields:
        One :class:`SourceText` per document (several per JSONL file) or a
        :class:`SkippedSource` with the reason.
    """
    used_ids: set[str] = set()
    for path in files:
        source = str(path)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                yield SkippedSource(source, f"file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit (--max-file-mb)")
                continue
            data = path.read_bytes()
        except OSError as error:
            yield SkippedSource(source, f"unreadable: {error.strerror or error}")
            continue
        if not data.strip():
            yield SkippedSource(source, "empty file")
            continue
        if looks_binary(data):
            yield SkippedSource(source, "binary file, not text")
            continue
        text, encoding = decode(data)
        suffix = path.suffix.lower()
        if suffix == JSONL_SUFFIX:
            yield from _read_jsonl(path, text, encoding, used_ids)
            continue
        doc_id = _unique(_slug(path.stem), used_ids)
        yield SourceText(
            doc_id=doc_id,
            source=source,
            kind=SUPPORTED_SUFFIXES[suffix],
            text=text,
            content_hash=hashlib.sha256(data).hexdigest(),
            encoding=encoding,
        )


def _unique(doc_id: str, used: set[str]) -> str:
    candidate, number = doc_id, 2
    while candidate in used:
        candidate = f"{doc_id}-{number}"
        number += 1
    used.add(candidate)
    return candidate


def _read_jsonl(path: Path, text: str, encoding: str, used_ids: set[str]) -> Iterator[SourceText | SkippedSource]:
    """One document per line: ``{"id": ..., "title": ..., "text": ...}``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except ValueError:
            yield SkippedSource(where, "not a JSON object")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            yield SkippedSource(where, "record has no 'text'")
            continue
        raw_id = str(record.get("id") or f"{path.stem}-{number}")
        yield SourceText(
            doc_id=_unique(raw_id, used_ids),
            source=where,
            kind="record",
            text=record["text"],
            content_hash=hashlib.sha256(line.encode("utf-8")).hexdigest(),
            encoding=encoding,
            title=str(record["title"]) if record.get("title") else None,
        )
