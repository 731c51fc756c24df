"""The bridge between HTTP handlers and the answerer: one answerer per process, answers computed
off the event loop, concurrent questions embedded together in one batch, and embedding
overlapped with answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from qa.followup import Turn
from qa.pipeline import Answerer
from qa.types import Answer, Query
from web.metrics import ServiceMetrics
from web.request_log import note_answer

MAX_BATCH = 32


@dataclass
class _Pending:
    question: str
    top_k: int
    future: asyncio.Future = field(repr=False)
    query: Query | None = None


class AnswerService:
    """Answers questions for the web app in two overlapping stages.

    Stage one embeds: questions that arrive while the model is busy are queued and embedded
    together in one forward pass (dynamic batching), so a lone question costs one embedding and
    a crowd costs far less per question. Stage two answers the embedded questions (retrieval,
    extraction, safety: plain Python). The stages run in separate threads, so the next batch is
    being embedded (in torch, which releases the GIL) while the previous one is answered and
    the event loop reads and writes HTTP: under load every core has work.

    Args:
        answerer: A warm answerer.
        metrics: Where to count answers, batch sizes, queue depths and embedding time (optional).
    """

    def __init__(self, answerer: Answerer, metrics: ServiceMetrics | None = None) -> None:
        self.answerer = answerer
        self.metrics = metrics
        self._to_embed: asyncio.Queue[_Pending] | None = None
        self._to_answer: asyncio.Queue[_Pending] | None = None
        self._workers: list[asyncio.Task] = []

    async def start(self) -> None:
        """Start both stages (call from the app's lifespan)."""
        self._to_embed, self._to_answer = asyncio.Queue(), asyncio.Queue()
        to_embed, to_answer = self._to_embed, self._to_answer
        if self.metrics is not None:
            self.metrics.watch_queue("embed", to_embed.qsize)
            self.metrics.watch_queue("answer", to_answer.qsize)
        self._workers = [
            asyncio.create_task(self._stage("embed", to_embed, self._embed_batch, to_answer), name="verbatim-embed"),
            asyncio.create_task(self._stage("answer", to_answer, self._answer_batch, None), name="verbatim-answer"),
        ]

    async def stop(self) -> None:
        """Stop both stages; queued questions are cancelled."""
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []

    async def ask(self, question: str, top_k: int, history: list[Turn] | None = None) -> Answer:
        """Answer one question (waits for its batch).

        Args:
            question: Validated question.
            top_k: Passages to return.
            history: Validated earlier turns; a follow-up is answered on its own (it needs a
                few embeddings of its readings), a question without history joins a batch.

        Returns:
            The answer (also counted in the metrics and noted for the request's log line).
        """
        if history:
            answer = await asyncio.to_thread(self.answerer.run, question, top_k, history=history)
        elif self._to_embed is None:
            answer = await asyncio.to_thread(self.answerer.run, question, top_k)
        else:
            future = asyncio.get_running_loop().create_future()
            await self._to_embed.put(_Pending(question, top_k, future))
            answer = await future
        if self.metrics is not None:
            self.metrics.observe_answer(answer)
        note_answer(question, answer)
        return answer

    async def _stage(
        self, stage: str, inbox: asyncio.Queue[_Pending], work, outbox: asyncio.Queue[_Pending] | None
    ) -> None:
        """Take everything waiting in ``inbox`` (up to MAX_BATCH), process it in a thread, and
        pass it on to ``outbox`` or, in the last stage, resolve the callers' futures."""
        while True:
            batch = [await inbox.get()]
            while not inbox.empty() and len(batch) < MAX_BATCH:
                batch.append(inbox.get_nowait())
            batch = [item for item in batch if not item.future.done()]  # callers that gave up
            if not batch:
                continue
            if self.metrics is not None:
                self.metrics.observe_batch(stage, len(batch))
            try:
                results = await asyncio.to_thread(work, batch)
            except Exception as error:  # one bad batch must not stop the stage
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            if outbox is not None:
                for item in batch:
                    outbox.put_nowait(item)
                continue
            for item, answer in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(answer)

    def _embed_batch(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        queries = self.answerer.prepare_many([item.question for item in batch])
        if self.metrics is not None:
            self.metrics.embed_seconds.observe(time.perf_counter() - started)
        for item, query in zip(batch, queries, strict=True):
            item.query = query

    def _answer_batch(self, batch: list[_Pending]) -> list[Answer]:
        return [self.answerer.trace(item.query, item.top_k, question=item.question)[0] for item in batch]
