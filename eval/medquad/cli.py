"""``verbatim eval --benchmark DIR``: the MedQuAD benchmark from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from eval.arguments import DEFAULT_BENCHMARK_INDEX
from eval.medquad import data as medquad
from eval.medquad.pairs import build_pairs, write_pairs
from eval.medquad.run import run_benchmark
from eval.medquad.tune import run_tuning
from eval.report import markdown_table, new_report_dir, replace_marked_block
from eval.stats import EVAL_README as README
from eval.stats import command_line, source_revision
from ingest.loader import is_pairs_file
from qa.pipeline import Answerer
from verbatim.embedding import Embedder
from verbatim.settings import Settings

SYSTEM_ORDER = ("bm25", "dense", "hybrid-rrf", "hybrid-minmax")


def ranking_table(result) -> str:
    """Markdown table of the ranking metrics of every system."""
    rows = [
        [name, f"{m.ndcg_at_10:.3f}", f"{m.recall_at_10:.3f}", f"{m.recall_at_100:.3f}", f"{m.mrr_at_10:.3f}"]
        for name, m in result.systems.items()
    ]
    return markdown_table(["system", "nDCG@10", "recall@10", "recall@100", "MRR@10"], rows)


def qtype_table(result) -> str:
    """nDCG@10 per dataset question type."""
    if not result.by_qtype:
        return ""
    systems = [name for name in next(iter(result.by_qtype.values())) if name != "questions"]
    rows = [
        [qtype, str(int(values["questions"])), *(f"{values[name]:.3f}" for name in systems)]
        for qtype, values in sorted(result.by_qtype.items(), key=lambda item: -item[1]["questions"])
    ]
    return markdown_table(["question type", "n", *systems], rows)


def render_markdown(result, status, command: str, revision: str | None = None, heading: bool = True) -> str:
    """The benchmark's report (``medquad.md``; without the heading, the README block)."""
    answer = result.answer
    latency = result.latency
    lines = [f"# MedQuAD benchmark — {result.split} split", ""] if heading else []
    lines += [
        f"- command: `{command}` (revision {revision or 'unknown'}, {result.seconds / 60:.0f} min)",
        f"- {result.questions} questions, {status.documents} documents ({status.chunks} chunks, {status.sentences} sentences); "
        "titles are metadata only: not embedded, not BM25-indexed",
        f"- index `{status.index_dir}` ({status.action}): ingest {_seconds(status.build_seconds)}, "
        f"{status.size_bytes / 1e6:.0f} MB on disk, {status.vector_index} vector index",
        f"- parameters: {asdict(result.params)}",
    ]
    if status.skipped or result.unreachable:
        lines.append(
            f"- ingest skipped {status.skipped} corpus record(s) (reasons in the index manifest); "
            f"{result.unreachable} question(s) have no indexed relevant document and count as misses"
        )
    if status.pairs:
        lines.append(
            f"- embedder adapted on {status.pairs} training pairs (ingest/adapt.py); {status.pairs_left_out} pair(s) "
            "left out by ingest (reasons in the index manifest; a subset index leaves out the pairs of its missing documents)"
        )
    if status.note:
        lines.append(f"- note: {status.note}")
    sub = "##" if heading else "####"
    lines += ["", f"{sub} Document ranking ({result.split} split)", "", ranking_table(result), ""]
    lines += [f"- **{name}**: {text}" for name, text in result.descriptions.items()]
    if answer:
        lines += [
            "",
            f"{sub} Extractive answer",
            "",
            f"- answer sentence from a relevant document: **{answer.from_relevant:.3f}** of questions "
            "(the sentence the pipeline chose, before the abstention decision)",
            f"- answered (not abstained) from a relevant document: {answer.answered_from_relevant:.3f}",
            f"- abstained: {answer.abstained:.3f} (the abstention model is calibrated on the glutamine eval set)",
        ]
    lines += [
        "",
        f"{sub} Latency at this scale (shared 2-core machine; indicative)",
        "",
        f"- answer, embedding included ({latency.answer_questions} questions one by one): "
        f"p50 {_ms(latency.answer_p50_ms)}, p95 {_ms(latency.answer_p95_ms)}",
        f"- shipped hybrid retrieval only: p50 {_ms(latency.retrieval_p50_ms)}, p95 {_ms(latency.retrieval_p95_ms)}",
        "",
        f"{sub} nDCG@10 per question type",
        "",
        qtype_table(result),
        "",
    ]
    return "\n".join(lines)


def _seconds(value) -> str:
    return "unknown" if value is None else f"{value:.0f} s ({value / 60:.1f} min)"


def _ms(value) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def write_pairs_command(folder: Path, path: Path, settings: Settings) -> int:
    """``--write-pairs FILE``: the dev split's training pairs (see :mod:`eval.medquad.pairs`)."""
    if not is_pairs_file(path):
        print(f"error: {path}: a pairs file must be named *.pairs.jsonl", file=sys.stderr)
        return 2
    embedder = Embedder()
    embedder.warm_up()
    built = build_pairs(folder, embedder, settings)
    write_pairs(built.pairs, path)
    print(
        f"wrote {len(built.pairs)} pairs from {built.questions} dev questions to {path} "
        f"({built.unanswerable} without an indexed relevant document; {built.embedded_chunks} chunks embedded to choose)"
    )
    return 0


def run_benchmark_command(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest (or reuse) the benchmark index, score the split, write and print the report."""
    folder = Path(args.benchmark)
    if not (folder / medquad.CORPUS_FILE).exists():
        print(f"error: {folder / medquad.CORPUS_FILE} not found", file=sys.stderr)
        return 2
    split = args.split or "test"
    if split not in ("dev", "test"):
        print("error: the benchmark has dev and test splits only", file=sys.stderr)
        return 2
    if args.write_pairs:
        return write_pairs_command(folder, args.write_pairs, settings)
    if args.benchmark_pairs and not args.benchmark_pairs.is_file():
        print(f"error: {args.benchmark_pairs} not found", file=sys.stderr)
        return 2
    questions = medquad.sample_questions(medquad.load_questions(folder, split), args.limit)
    corpus = medquad.read_corpus_lines(folder)
    full = args.distractors is None
    lines = list(corpus.values()) if full else medquad.subset_corpus(corpus, questions, args.distractors)
    index_dir = Path(args.benchmark_index or DEFAULT_BENCHMARK_INDEX)

    embedder = Embedder()
    embedder.warm_up()
    status = medquad.ensure_index(
        lines, index_dir, embedder, rebuild=args.rebuild, source=folder / medquad.CORPUS_FILE if full else None,
        pairs=args.benchmark_pairs,
    )
    if status.note:
        print(f"note: {status.note}", file=sys.stderr)
    answerer = Answerer(Settings.from_env(index_dir=index_dir), embedder=embedder)
    answerer.warm_up()
    if args.tune:
        return run_tuning(answerer, folder, args.limit)
    fit_questions = questions if split == "dev" else medquad.sample_questions(medquad.load_questions(folder, "dev"), args.limit)
    result = run_benchmark(answerer, questions, split, answers=not args.no_answers, fit_questions=fit_questions)
    command = command_line()
    revision = source_revision()
    out = args.out or new_report_dir()
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "command": command,
        "revision": revision,
        "index": {**asdict(status), "index_dir": str(status.index_dir)},
        **result.as_dict(),
    }
    (out / "medquad.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    report = render_markdown(result, status, command, revision)
    (out / "medquad.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"wrote {out / 'medquad.json'}\nwrote {out / 'medquad.md'}")
    if args.update_readme:
        block = render_markdown(result, status, command, revision, heading=False)
        README.write_text(replace_marked_block(README.read_text(encoding="utf-8"), f"medquad-{split}", block), encoding="utf-8")
        print(f"updated {README}")
    return 0
