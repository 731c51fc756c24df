"""A sharded index answered in this process (every shard in a :class:`qa.sharded.LocalShardPool`):
single questions, whole conversations and the document view give what the whole index gives.

The same over shard actors on a real Ray cluster is in ``tests/cluster/test_shards.py``.
"""

from __future__ import annotations

import shutil

import pytest

from ingest.pipeline import run_ingest
from qa.sharded import ShardedAnswerer, StoreView, translate_sentences, view_of
from tests.cluster.helpers import conversation_responses, dialog_questions, eval_questions, responses
from verbatim import index_format

SHARDS = 2


@pytest.fixture(scope="module")
def sharded(corpus_settings, embedder, tmp_path_factory) -> ShardedAnswerer:
    """The seed corpus built in 2 shards (a copy of the session's index: nothing re-embedded)."""
    index_dir = tmp_path_factory.mktemp("sharded") / "index"
    shutil.copytree(corpus_settings.index_dir, index_dir)
    settings = corpus_settings.replace(index_dir=index_dir)
    report = run_ingest(settings=settings, embedder=embedder, show_progress=False, shards=SHARDS)
    assert report.status == "built", report.summary()
    assert index_format.sharding(index_format.read_manifest(index_dir))["count"] == SHARDS
    answerer = ShardedAnswerer(settings, embedder=embedder)
    answerer.warm_up()
    assert answerer.pool.count() == SHARDS
    return answerer


def test_every_eval_question_gets_the_whole_index_response(answerer, sharded):
    questions = eval_questions()
    assert responses(sharded, questions) == responses(answerer, questions)


def test_every_dialog_gets_the_whole_index_responses(answerer, sharded):
    """Follow-ups (carried, more, sources, repeats) read earlier answers' documents from the shards."""
    dialogs = dialog_questions()
    assert len(dialogs) > 50
    kinds = set()
    for name, turns in dialogs:
        expected = conversation_responses(answerer, turns)
        assert conversation_responses(sharded, turns) == expected, name
        kinds |= {response["followup"] for response in expected}
    assert {"carried", "more", "sources"} <= kinds  # every kind of follow-up was compared


def test_documents_come_from_their_shards(answerer, sharded):
    assert sharded.document_entries() == answerer.document_entries()
    for entry in answerer.document_entries():
        whole_store, whole_number = answerer.document_view(entry.doc_id)
        store, number = sharded.document_view(entry.doc_id)
        assert store.documents[number] == whole_store.documents[whole_number]
        whole_sentences, sentences = whole_store.document_sentences(whole_number), store.document_sentences(number)
        assert len(sentences) == len(whole_sentences)
        assert [store.sentence_evidence(s) for s in sentences] == [whole_store.sentence_evidence(s) for s in whole_sentences]
    assert sharded.document_view("no-such-document") is None


def test_sentences_keep_their_identity_from_one_view_to_another(sharded):
    base = sharded._base()
    pieces = sharded._cache.fetch(base.store.path.name, [0, 1], base.pool, SHARDS)
    both, _ = view_of(pieces, base.statistics.manifest, base.store.path, base.store.corpus)
    second, _ = view_of(pieces[1:], base.statistics.manifest, base.store.path, base.store.corpus)
    assert isinstance(second, StoreView) and second.global_docs == [1]
    in_second = frozenset(second.document_sentences(0)[:3])
    in_both = translate_sentences(in_second, second, both)
    assert [both.sentence_text(s) for s in sorted(in_both)] == [second.sentence_text(s) for s in sorted(in_second)]
    assert min(in_both) >= both.document_sentences(1).start
    # Sentences of a document the other view does not hold are dropped.
    assert translate_sentences(frozenset(both.document_sentences(0)), both, second) == frozenset()
