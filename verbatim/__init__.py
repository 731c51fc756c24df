"""Verbatim: extractive, cited question answering over consumer-health documents.

Shared pieces live here: settings, the embedding model wrapper, the on-disk index format,
text tokenisation and the command line. The stages themselves live in the top-level packages
``ingest`` (builds an index), ``qa`` (answers from it), ``web`` (serves it) and ``eval``
(measures it).
"""

# The one place for the version: pyproject.toml, the API and `verbatim --version` read it.
__version__ = "0.1.0"
