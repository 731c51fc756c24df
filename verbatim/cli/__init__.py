"""The ``verbatim`` command: ingest, serve, ask, eval, bench, feedback.

The top of the layers (core ``verbatim/`` <- ``ingest/`` <- ``qa/`` <- ``web/`` / ``eval/`` <- this
package): nothing below imports it. Each subcommand lives in its own module (``ingest_cmd``,
``serve_cmd``, ``ask_cmd``, ``feedback``; ``eval`` and ``bench`` in ``eval/``) and is imported
only when it runs, so ``verbatim --version`` or ``verbatim feedback`` never loads the model
libraries. Every subcommand that reads or writes an index takes ``--index DIR`` (default:
``index/`` or ``$VERBATIM_INDEX``), so several indexes can live side by side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval.arguments import add_eval_arguments
from eval.bench.arguments import add_bench_arguments
from verbatim import __version__
from verbatim.cli.feedback import add_feedback_arguments, run_feedback_command
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


# Each subcommand's module is imported when it runs (start-up time: the model libraries, the
# web app and the eval code load only for the subcommand that needs them).


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Build the index of the given paths (or the default corpus); no-op when up to date."""
    from verbatim.cli.ingest_cmd import cmd_ingest as run  # start-up time (see above)

    return run(args, settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the web app and API (building the default index first if there is none)."""
    from verbatim.cli.serve_cmd import cmd_serve as run  # start-up time (see above)

    return run(args, settings)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question in the terminal."""
    from verbatim.cli.ask_cmd import cmd_ask as run  # start-up time (see above)

    return run(args, settings)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score the QA pipeline on the eval set (or fit the calibration on its dev split)."""
    from eval.cli import run_eval_command  # start-up time (see above)

    return run_eval_command(args, settings)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Measure latency, throughput, ingest and scale against their floors."""
    from eval.bench.cli import run_bench_command  # start-up time (see above)

    return run_bench_command(args, settings)


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    """Review, export, purge or delete people's feedback on answers."""
    return run_feedback_command(args, settings)


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
    ingest.add_argument(
        "--export-model",
        action="store_true",
        help="also write the adapted model to <name>.model/ beside the corpus's pairs file, for ingest to use "
        "instead of training (after changing the pairs or the training settings; see docs/adaptation.md)",
    )
    ingest.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at HOST:PORT ('auto': this machine's); needs verbatim[ray]")
    ingest.add_argument("--ray-actors", type=int, metavar="N", help="embedding actors on the cluster (default: one per CPU)")
    ingest.add_argument(
        "--ray-save-every", type=int, metavar="N",
        help="vectors saved to the embedding cache at a time on the cluster, what a re-run resumes from (default 2048)",
    )
    ingest.add_argument(
        "--shards", type=int, default=1, metavar="N",
        help="split the build into N shards by document, each served by its own Ray actor (default 1: one whole build)",
    )
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
    serve.add_argument(
        "--replica-cpus", type=float, default=1, metavar="N",
        help="CPUs each Ray Serve replica reserves (and threads it embeds with; default 1)",
    )
    serve.add_argument(
        "--ingress", choices=["proxy", "haproxy"], default="proxy",
        help="Ray Serve's HTTP ingress (with --ray): its Python proxy (default) or HAProxy, which "
        "costs less CPU per request but does not pass client addresses (docs/scale.md)",
    )
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
    add_eval_arguments(evaluate)
    evaluate.set_defaults(handler=cmd_eval)

    bench = commands.add_parser("bench", help="latency, throughput, ingest and scale benchmark")
    index_option(bench)
    add_bench_arguments(bench)
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
        return int(args.handler(args, _settings(args)) or 0)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
