"""`portrait-edge report`: the quantization accuracy report (report.md, report.json, PNG plots)."""

from __future__ import annotations

import argparse

from portrait_edge.edge.cli_common import add_build_arguments, add_bundle_dir_arguments, quiet_libraries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Without --all: writes the report from what export/verify/bench left in the build folder.\n"
                     "With --all: the whole edge pipeline from the shipped checkpoints: for every task with a shipped "
                     "student it exports (when the checkpoint changed), verifies and benchmarks, then writes the "
                     "report and regenerates android_assets/ and ios_assets/.\n"
                     "Example: portrait-edge report --all --out reports/edge")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for report.md, report.json and the plots")
    parser.add_argument("--all", action="store_true", help="run export/verify/bench for every task with shipped weights first, and bundle")
    parser.add_argument("--task", action="append", metavar="ID", help="only these tasks (repeatable)")
    parser.add_argument("--rebuild", action="store_true", help="with --all: redo every stage even when current")
    parser.add_argument("--no-bundle", action="store_true", help="with --all: do not regenerate the bundles")
    parser.add_argument("--no-memory", action="store_true", help="with --all: skip peak-memory measurement")
    add_build_arguments(parser)
    add_bundle_dir_arguments(parser)


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    from pathlib import Path

    from portrait_edge.edge.models import has_shipped
    from portrait_edge.edge.pipeline import built_task_dirs, make_job
    from portrait_edge.errors import PortraitEdgeError
    from portrait_edge.report.report import write_report
    from portrait_edge.tasks import get_task, task_ids

    wanted = args.task or None
    for task_id in wanted or ():
        get_task(task_id)  # unknown task -> one-line error
    failed = False
    if args.all:
        candidates = wanted or task_ids()
        shipped = [t for t in candidates if has_shipped(t, "student")]
        if not shipped:
            raise PortraitEdgeError("no shipped student checkpoints in portrait_edge/weights/ (nothing to convert)")
        skipped = [t for t in candidates if t not in shipped]
        if skipped:
            print(f"no shipped student for: {', '.join(skipped)} (skipped)")
        from portrait_edge.edge.recipe import load_recipe

        for task_id in shipped:
            for size in load_recipe(task_id).resolutions():  # e.g. retouch at 256 and at 512
                job = make_job(task_id, args.build_dir, resolution=size)
                job.export(rebuild=args.rebuild)
                verified = job.verify(rebuild=args.rebuild)
                failed |= not verified["all_passed"]
                job.bench(memory=not args.no_memory, rebuild=args.rebuild)
        wanted = shipped
    from portrait_edge.edge.artifacts import EXPORT_JSON, read_json

    dirs = [d for d in built_task_dirs(args.build_dir)
            if wanted is None or read_json(d / EXPORT_JSON, "export manifest")["task"] in wanted]
    if not dirs:
        raise PortraitEdgeError(f"no exported tasks in {args.build_dir}: run `portrait-edge export` or `report --all`")
    report = write_report(dirs, Path(args.out))
    print(f"wrote {Path(args.out) / 'report.md'}, report.json ({len(report['records'])} records) and "
          f"{sum(len(t['plots']) for t in report['tasks'])} plots")
    if args.all and not args.no_bundle:
        from portrait_edge.report.bundle import build_bundles

        # every built task, not only --task ones: the bundle folders are regenerated whole
        written = build_bundles(built_task_dirs(args.build_dir), Path(args.android_dir), Path(args.ios_dir))
        print("bundles: " + "; ".join(f"{platform} {', '.join(names)}" for platform, names in written.items()))
    return 1 if failed else 0
