"""The ``verbatim`` command: ingest, serve, ask, eval, bench, feedback.

Every subcommand that reads or writes an index takes ``--index DIR`` (default: ``index/`` or
``$VERBATIM_INDEX``), so several indexes can live side by side.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from verbatim import __version__
from verbatim.feedback_cli import add_feedback_arguments, run_feedback_command
from verbatim.settings import Settings, SettingsError, force_offline


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "index_dir": getattr(args, "index", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "max_file_mb": getattr(args, "max_file_mb", None),
        "data_dir": getattr(args, "data", None),
    }
    return Settings.from_env(**overrides)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Build the index of the given paths (or the default corpus); no-op when up to date."""
    from ingest.pipeline import run_ingest

    settings = _settings(args)
    if args.ray:
        return _ingest_on_ray(args, settings)
    report = run_ingest(paths=args.paths or None, settings=settings, force=args.force)
    print(report.summary())
    if report.ok:
        _report_calibration_mismatch(settings)
    return 0 if report.ok else 1


RAY_EXTRA_MISSING = "error: --ray needs the optional extra: pip install 'verbatim[ray]'"


def _ingest_on_ray(args: argparse.Namespace, settings: Settings) -> int:
    """``verbatim ingest --ray ADDRESS``: the same build, its stages run on a Ray cluster."""
    from ingest.pipeline import run_ingest

    try:
        # Optional extra: Ray is imported only when --ray is given.
        from ingest import distributed
    except ImportError:
        print(RAY_EXTRA_MISSING, file=sys.stderr)
        return 2
    try:
        cluster = distributed.connect(args.ray)
        print(f"Ray cluster at {cluster.address}: {cluster.nodes} node(s), {cluster.cpus} CPU(s)", file=sys.stderr)
        stages = distributed.RayStages(actors=args.ray_actors)
        report = run_ingest(paths=args.paths or None, settings=settings, force=args.force, stages=stages)
    except distributed.ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except distributed.ray.exceptions.RayError as error:
        # A failure the cluster could not recover from (e.g. every node holding an actor died).
        last = str(error).strip().splitlines()[-1][:300] if str(error).strip() else type(error).__name__
        print(f"error: the distributed ingest failed ({type(error).__name__}: {last}); "
              f"the live index is unchanged, re-run to resume", file=sys.stderr)
        return 1
    finally:
        distributed.disconnect()
    print(report.summary())
    if report.ok:
        _report_calibration_mismatch(settings)
    return 0 if report.ok else 1


def _report_calibration_mismatch(settings: Settings) -> None:
    """Say so when qa/calibration.toml was fitted with another embedding model than the index's."""
    from qa.calibration import MODEL_HASH_KEY, Calibration
    from verbatim.index_format import read_manifest

    built = ((read_manifest(settings.index_dir) or {}).get("model") or {}).get("weights_hash")
    fitted = Calibration.load().provenance.get(MODEL_HASH_KEY)
    if built and fitted != built:
        print(
            f"note: qa/calibration.toml was fitted with embedding model {fitted or '(not recorded)'}, this index is "
            f"embedded by {built}; answers are not calibrated for it. Refit with: "
            f"verbatim eval --calibrate --index {settings.index_dir}",
            file=sys.stderr,
        )


def ensure_index(settings: Settings) -> bool:
    """Build the default corpus's index when the index folder has none (first run).

    Returns:
        Whether an index is available afterwards.
    """
    from ingest.pipeline import run_ingest
    from verbatim.index_format import IndexInvalidError, current_build

    # Any committed build counts, even a damaged one: start-up then refuses it with a message,
    # rather than silently replacing another corpus's index with the default corpus.
    try:
        if current_build(settings.index_dir) is not None:
            return True
    except IndexInvalidError:
        return True
    print(f"No index in {settings.index_dir}; building it from {settings.corpus_dir} ...", file=sys.stderr)
    report = run_ingest(settings=settings)
    print(report.summary(), file=sys.stderr)
    return report.ok


def server_config(app, settings: Settings, log_level: str = "info", access_log: bool = False):
    """uvicorn's configuration of ``verbatim serve``.

    uvicorn's own proxy-header handling is off: it trusts ``X-Forwarded-For`` from 127.0.0.1 by
    default, which would let any local client pick its rate-limit key. The app applies the same
    middleware with only ``VERBATIM_FORWARDED_ALLOW_IPS`` trusted (``web/app.py``). Logging is
    left to :func:`verbatim.logs.configure_logging` (``log_config=None``).

    Args:
        app: The ASGI app.
        settings: Host and port.
        log_level: uvicorn's log level.
        access_log: Also write uvicorn's access log (the app already logs one line per request).

    Returns:
        The ``uvicorn.Config``.
    """
    import uvicorn

    return uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log,
        proxy_headers=False, log_config=None,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app and API (building the default index first if there is none)."""
    import uvicorn

    from verbatim.logs import configure_logging
    from verbatim.settings import limit_malloc_arenas
    from web.app import create_app

    limit_malloc_arenas()
    settings = _settings(args)
    configure_logging(settings.log_format, args.log_level)
    if args.ray:
        return _serve_on_ray(args, settings)
    if not ensure_index(settings):
        return 1
    app = create_app(settings)
    logging.getLogger("verbatim").info("Verbatim on http://%s:%d  (API docs at /docs)", settings.host, settings.port)
    uvicorn.Server(server_config(app, settings, args.log_level, args.access_log)).run()
    return 0


def _serve_on_ray(args: argparse.Namespace, settings: Settings) -> int:
    """``verbatim serve --ray ADDRESS --replicas N``: deploy (or update) the app on Ray Serve."""
    try:
        # Optional extra: Ray is imported only when --ray is given.
        from ingest import distributed
        from web import ray_serve
    except ImportError:
        print(RAY_EXTRA_MISSING, file=sys.stderr)
        return 2
    try:
        if args.undeploy:
            ray_serve.undeploy(args.ray)
            print(f"Verbatim removed from the Ray cluster at {args.ray}", file=sys.stderr)
            return 0
        if not ensure_index(settings):
            return 1
        deployment = ray_serve.deploy(args.ray, settings, args.replicas)
    except distributed.ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except distributed.ray.exceptions.RayError as error:
        last = str(error).strip().splitlines()[-1][:300] if str(error).strip() else type(error).__name__
        print(f"error: the deployment failed ({type(error).__name__}: {last})", file=sys.stderr)
        return 1
    finally:
        distributed.disconnect()
    print(
        f"Verbatim on {deployment.url} via Ray Serve: {deployment.replicas} replica(s) serving build {deployment.build}\n"
        f"  after an ingest, run this command again to move every replica to the new build;\n"
        f"  remove it with: verbatim serve --ray {args.ray} --undeploy",
        file=sys.stderr,
    )
    return 0


def format_answer(answer) -> str:
    """Readable terminal rendering of an answer."""
    from qa.confidence import describe_confidence

    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines.append("I couldn't find this in my sources.")
        if answer.reason:
            lines.append(f"({answer.reason})")
    else:
        lines.append(f"A: {answer.answer}")
        lines.append("")
        lines.append(f"Confidence: {answer.confidence:.2f} ({describe_confidence(answer.confidence).words})")
        for number, passage in enumerate(answer.passages, start=1):
            label = "Source" if number == 1 else "Also"
            lines.append(f"{label}: {passage.title} — {passage.section} [{passage.doc_id} {passage.start}:{passage.end}]")
    if answer.disclaimer:
        lines.append("")
        lines.append(f"Note ({', '.join(answer.safety_topics)}): {answer.disclaimer}")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question in the terminal."""
    from qa.pipeline import Answerer
    from verbatim.index_format import IndexError_

    question = " ".join(args.question).strip()
    if not question or len(question) > 1000:
        print("error: the question must be 1 to 1000 characters", file=sys.stderr)
        return 2
    settings = _settings(args)
    answerer = Answerer(settings)
    try:
        answerer.warm_up()
    except IndexError_ as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    answer = answerer.run(question, top_k=args.top_k)
    if args.json:
        from web.service import answer_to_response

        print(json.dumps(answer_to_response(answer).model_dump(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score the QA pipeline on the eval set (or fit the calibration on its dev split)."""
    from eval.cli import run_eval_command

    return run_eval_command(args, _settings(args))


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure latency, throughput, ingest speed and scale against their floors."""
    from eval.bench.cli import run_bench_command

    return run_bench_command(args, _settings(args))


def cmd_feedback(args: argparse.Namespace) -> int:
    """Review, export, purge or delete people's feedback on answers."""
    return run_feedback_command(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``verbatim`` command."""
    parser = argparse.ArgumentParser(prog="verbatim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def index_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--index", type=Path, help="index folder (default: $VERBATIM_INDEX or index/)")

    ingest = commands.add_parser("ingest", help="build the index of PATHs (default: corpus/)")
    ingest.add_argument("paths", nargs="*", type=Path, help=".txt, .md, .html or .jsonl files or folders")
    index_option(ingest)
    ingest.add_argument("--force", action="store_true", help="rebuild even if the index is up to date")
    ingest.add_argument("--max-file-mb", type=float, help="skip files larger than this (default 20)")
    ingest.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at HOST:PORT ('auto': this machine's); needs verbatim[ray]")
    ingest.add_argument("--ray-actors", type=int, metavar="N", help="embedding actors on the cluster (default: one per CPU)")
    ingest.set_defaults(handler=cmd_ingest)

    serve = commands.add_parser("serve", help="serve the chat page and the JSON API")
    index_option(serve)
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument(
        "--access-log", action=argparse.BooleanOptionalAction, default=False,
        help="also write uvicorn's access log (the app logs one line per request anyway)",
    )
    serve.add_argument("--ray", metavar="ADDRESS", help="deploy on the Ray cluster at HOST:PORT ('auto': this machine's) with Ray Serve, then return")
    serve.add_argument("--replicas", type=int, default=2, metavar="N", help="Ray Serve replicas (with --ray; default 2)")
    serve.add_argument("--undeploy", action="store_true", help="remove the Ray Serve deployment (with --ray)")
    serve.set_defaults(handler=cmd_serve)

    ask = commands.add_parser("ask", help="answer one question in the terminal")
    ask.add_argument("question", nargs="+", help="the question")
    index_option(ask)
    ask.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    ask.add_argument("--top-k", type=int, default=3, choices=range(1, 11), metavar="1-10", help="passages (default 3)")
    ask.set_defaults(handler=cmd_ask)

    evaluate = commands.add_parser("eval", help="score answers on the eval set; see eval/README")
    index_option(evaluate)
    try:
        from eval.cli import add_eval_arguments

        add_eval_arguments(evaluate)
    except ImportError:  # pragma: no cover - the eval package is part of the install
        pass
    evaluate.set_defaults(handler=cmd_eval)

    bench = commands.add_parser("bench", help="latency, throughput, ingest and scale benchmark")
    index_option(bench)
    try:
        from eval.bench.cli import add_bench_arguments

        add_bench_arguments(bench)
    except ImportError:
        pass
    bench.set_defaults(handler=cmd_bench)

    feedback = commands.add_parser("feedback", help="review, export, purge or delete feedback on answers; see docs/feedback.md")
    add_feedback_arguments(feedback)
    feedback.set_defaults(handler=cmd_feedback)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``verbatim`` console script."""
    force_offline()
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
