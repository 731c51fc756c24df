"""The question path embeds exactly as sentence-transformers does, only faster."""

import numpy as np

QUESTIONS = [
    "How much glutamine should I take for gut health?",
    "is it safe",
    "What foods contain glutamine naturally, and does cooking destroy it? " * 3,
    "glutamine " * 400,  # longer than the model's 256 tokens: truncated the same way
]


def test_question_vectors_match_sentence_transformers(embedder):
    model = embedder._require()
    ours = embedder.encode_queries(QUESTIONS)
    reference = model.encode(QUESTIONS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (len(QUESTIONS), embedder.dimensions)
    assert np.abs(ours - reference).max() < 1e-5
    # One at a time (no padding) gives the same vectors as the padded batch.
    singles = np.stack([embedder.encode_query(question) for question in QUESTIONS])
    assert np.abs(singles - reference).max() < 1e-5


def test_the_question_path_runs_the_verified_trace(embedder):
    import torch

    embedder.warm_up_queries()
    assert isinstance(embedder._forward, torch.jit.ScriptModule)  # the trace, not the eager fallback


def test_a_trace_that_disagrees_with_the_model_is_not_used(embedder, monkeypatch):
    import torch

    monkeypatch.setattr(torch, "allclose", lambda *args, **kwargs: False)
    assert embedder._traced_forward() is None
