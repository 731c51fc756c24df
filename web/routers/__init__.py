"""One small router per capability: ask, documents, health, pages, admin."""
