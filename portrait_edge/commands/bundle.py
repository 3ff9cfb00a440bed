"""`portrait-edge bundle`: regenerate android_assets/ and ios_assets/, or check them (--check)."""

from __future__ import annotations

import argparse

from portrait_edge.edge.cli_common import add_build_arguments, add_bundle_dir_arguments, quiet_libraries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Copies the verified files of every exported task (recipe keys bundle.android / bundle.ios) "
                     "with metadata.json (I/O layout, normalisation, int8 scale/zero point, sha256), labels.txt, a "
                     "manifest of checksums and Kotlin / Swift usage examples. --check recomputes every checksum "
                     "and names the first corrupt, missing or unexpected file.\n"
                     "Examples: portrait-edge bundle   |   portrait-edge bundle --check")
    parser.add_argument("--check", action="store_true", help="only verify the existing bundles against their manifests")
    parser.add_argument("--platform", choices=("android", "ios", "both"), default=None,
                        help="which bundle to regenerate (default: those the recipes export formats for); a "
                             "platform left with no verified model is an error and nothing is replaced")
    add_build_arguments(parser)
    add_bundle_dir_arguments(parser)


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    from pathlib import Path

    from portrait_edge.edge.pipeline import built_task_dirs
    from portrait_edge.report.bundle import build_bundles, check_bundle

    if args.check:
        for root in (Path(args.android_dir), Path(args.ios_dir)):
            count = check_bundle(root)
            print(f"{root}: {count} entries, all checksums match")
        return 0
    platforms = {None: None, "both": ("android", "ios")}.get(args.platform, (args.platform,))
    written = build_bundles(built_task_dirs(args.build_dir), Path(args.android_dir), Path(args.ios_dir),
                            platforms=platforms)
    for platform, names in written.items():
        print(f"{platform}: {', '.join(names)} -> {args.android_dir if platform == 'android' else args.ios_dir}")
    return 0
