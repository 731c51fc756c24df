"""What a "tell me more" / "why?" follow-up costs against its conversation's first question, same
run: every dev and train conversation whose second turn the writer marked ``more`` is answered
with the history a client would send (the system's own first answer), ``--rounds`` times each,
beside that first question asked alone.

    PYTHONPATH=$PWD python -m eval.bench.followup_latency LABEL [--rounds 3]

Run it from a checkout with a built index; to compare two revisions, run it alternately from
each checkout (absolute times drift on this host, the ratio is the figure). The first question is
asked again in every round, so its embedding comes from the answerer's cache for both columns:
the figures are the answer path's own work past the model.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from eval.dialogs import DEFAULT_DIALOGS, DEFAULT_TRAIN_DIALOGS, load_dialogs, turn_of
from qa.pipeline import Answerer
from verbatim.settings import Settings


@dataclass(frozen=True)
class FollowupLatency:
    """Figures of one run, in milliseconds.

    Attributes:
        followups: "more" follow-ups timed (each ``rounds`` times).
        single_p50: Median of the first questions asked alone.
        followup_p50 / followup_p90: Median and 90th percentile of the follow-ups.
    """

    followups: int
    single_p50: float
    followup_p50: float
    followup_p90: float

    @property
    def ratio(self) -> float:
        """Follow-up p50 over single-question p50."""
        return self.followup_p50 / self.single_p50


def summarise(followups: int, single: list[float], followup: list[float]) -> FollowupLatency:
    """The figures of the timings (seconds) of one run.

    Args:
        followups: Follow-ups timed.
        single: Seconds of each first question asked alone.
        followup: Seconds of each follow-up.

    Returns:
        The figures in milliseconds.
    """
    return FollowupLatency(
        followups=followups,
        single_p50=statistics.median(single) * 1000,
        followup_p50=statistics.median(followup) * 1000,
        followup_p90=statistics.quantiles(followup, n=10, method="inclusive")[-1] * 1000,
    )


def measure(answerer: Answerer, pairs: list[tuple[str, str]], rounds: int) -> FollowupLatency:
    """Time each follow-up with its history beside its first question alone, ``rounds`` times."""
    single: list[float] = []
    followup: list[float] = []
    for first, then in pairs:
        history = [turn_of(first, answerer.run(first))]
        for _ in range(rounds):
            start = time.perf_counter()
            answerer.run(first)
            single.append(time.perf_counter() - start)
            start = time.perf_counter()
            answerer.run(then, history=history)
            followup.append(time.perf_counter() - start)
    return summarise(len(pairs), single, followup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", help="what this checkout is, for the printed line")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    conversations = load_dialogs(DEFAULT_DIALOGS, "dev") + load_dialogs(DEFAULT_TRAIN_DIALOGS, "train")
    pairs = [(d.turns[0].question, d.turns[1].question) for d in conversations if d.turns[1].followup == "more"]
    answerer = Answerer(Settings())
    answerer.warm_up()
    figures = measure(answerer, pairs, args.rounds)
    print(
        f"{args.label}: {figures.followups} 'more' follow-ups x{args.rounds}; first question alone p50 "
        f"{figures.single_p50:.1f} ms; follow-up p50 {figures.followup_p50:.1f} ms, p90 {figures.followup_p90:.1f} ms; "
        f"ratio of p50s {figures.ratio:.2f}x"
    )


if __name__ == "__main__":
    main()
