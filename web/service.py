"""The bridge between HTTP handlers and the answerer: one answerer per process, answers computed
off the event loop, and concurrent questions embedded together in one batch."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from qa.pipeline import Answerer
from qa.types import Answer
from web.schemas import AskResponse, PassageOut

MAX_BATCH = 32


@dataclass
class _Pending:
    question: str
    top_k: int
    future: asyncio.Future = field(repr=False)


class AnswerService:
    """Answers questions for the web app.

    Questions that arrive while the model is busy are queued and embedded together in one
    forward pass (dynamic batching), so throughput under load is far above one question per
    embedding time, while a lone question still costs one embedding.

    Args:
        answerer: A warm answerer.
    """

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None

    async def start(self) -> None:
        """Start the batching worker (call from the app's lifespan)."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="verbatim-batcher")

    async def stop(self) -> None:
        """Stop the worker; queued questions are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._worker = None

    async def ask(self, question: str, top_k: int) -> Answer:
        """Answer one question (waits for its batch).

        Args:
            question: Validated question.
            top_k: Passages to return.

        Returns:
            The answer.
        """
        if self._queue is None:
            return await asyncio.to_thread(self.answerer.run, question, top_k)
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(question, top_k, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                answers = await asyncio.to_thread(self._answer_batch, batch)
            except Exception as error:  # one bad batch must not stop the worker
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            for item, answer in zip(batch, answers, strict=True):
                if not item.future.done():
                    item.future.set_result(answer)

    def _answer_batch(self, batch: list[_Pending]) -> list[Answer]:
        queries = self.answerer.prepare_many([item.question for item in batch])
        return [
            self.answerer.answer_query(query, item.top_k, question=item.question)
            for query, item in zip(queries, batch, strict=True)
        ]


def answer_to_response(answer: Answer) -> AskResponse:
    """The API shape of an answer."""
    return AskResponse(
        question=answer.question,
        answer=answer.answer,
        abstained=answer.abstained,
        confidence=max(0.0, min(1.0, answer.confidence)),
        passages=[
            PassageOut(
                doc_id=p.doc_id, title=p.title, section=p.section, quote=p.quote, start=p.start, end=p.end,
                score=p.score, highlight_start=p.highlight_start, highlight_end=p.highlight_end,
            )
            for p in answer.passages
        ],
        disclaimer=answer.disclaimer,
        safety_topics=answer.safety_topics,
        reason=answer.reason,
    )
