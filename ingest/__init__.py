"""Ingest: turn source files into a verified, atomically written index.

Stages, one module each: ``loader`` (files to text), ``cleaner`` (canonical text),
``structure`` (blocks and sections), ``sentences`` (sentence spans), ``chunker`` (passages),
``embed_cache`` (reuse and resume of embeddings), ``indexers`` (FAISS and BM25) and
``pipeline`` (runs them and writes the build).
"""
