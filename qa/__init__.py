"""Question answering over a built index.

Follow a question through: ``pipeline.Answerer.run`` embeds it once, ``retriever`` finds
passages (dense + BM25), ``extractor`` picks the answer sentences, ``abstention`` decides
whether the sources answer at all, ``safety`` adds the disclaimer. ``types`` holds the
dataclasses they exchange; ``store`` holds the loaded index.
"""
