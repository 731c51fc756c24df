"""``verbatim ingest``: build the index of the given paths (or the default corpus)."""

from __future__ import annotations

import argparse
import sys

from ingest.pipeline import run_ingest
from qa.calibration import MODEL_HASH_KEY, Calibration
from verbatim.index_format import read_manifest
from verbatim.settings import Settings

RAY_EXTRA_MISSING = "error: --ray needs the optional extra: pip install 'verbatim[ray]'"


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Build the index of the given paths (or the default corpus); no-op when up to date."""
    if args.shards < 1:
        print("error: --shards must be at least 1", file=sys.stderr)
        return 2
    if args.ray:
        return _ingest_on_ray(args, settings)
    report = run_ingest(
        paths=args.paths or None, settings=settings, force=args.force, shards=args.shards, export=args.export_model
    )
    print(report.summary())
    if report.ok:
        _report_calibration_mismatch(settings)
    return 0 if report.ok else 1


def _ingest_on_ray(args: argparse.Namespace, settings: Settings) -> int:
    """``verbatim ingest --ray ADDRESS``: the same build, its stages run on a Ray cluster."""
    try:
        # Optional extra: Ray is imported only when --ray is given.
        from ingest import distributed
    except ImportError:
        print(RAY_EXTRA_MISSING, file=sys.stderr)
        return 2
    try:
        cluster = distributed.connect(args.ray)
        print(f"Ray cluster at {cluster.address}: {cluster.nodes} node(s), {cluster.cpus} CPU(s)", file=sys.stderr)
        stages = distributed.RayStages(actors=args.ray_actors, save_every=args.ray_save_every)
        report = run_ingest(
            paths=args.paths or None, settings=settings, force=args.force, stages=stages, shards=args.shards,
        )
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
    built = ((read_manifest(settings.index_dir) or {}).get("model") or {}).get("weights_hash")
    fitted = Calibration.load().provenance.get(MODEL_HASH_KEY)
    if built and fitted != built:
        print(
            f"note: qa/calibration.toml was fitted with embedding model {fitted or '(not recorded)'}, this index is "
            f"embedded by {built}; answers are not calibrated for it. Refit with: "
            f"verbatim eval --calibrate --index {settings.index_dir}",
            file=sys.stderr,
        )
