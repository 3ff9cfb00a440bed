"""`portrait-edge pool build|label|preview`: the real-portrait pool (portrait_edge.data.pool).

    portrait-edge pool build --from PHOTOS --source-name "owner/repo@commit" --licence "research only" \\
        [--from MORE --source-name ... --licence ... --tasks shadow,retouch] --out POOL
    portrait-edge pool label --pool POOL --teacher portrait_edge/weights/parsing_teacher.safetensors
    portrait-edge pool preview --pool POOL --task parsing --out sheet.png

--source-name, --licence, --tasks and --identity apply to the --from given just before them; given
before the first --from, they are every source's default.
"""

from __future__ import annotations

import argparse
import json

from portrait_edge.commands import positive_int
from portrait_edge.errors import PortraitEdgeError


class _PerSource(argparse.Action):
    """Options that belong to the --from before them: stored as (index of that --from, value)."""

    def __call__(self, parser, namespace, values, option_string=None):
        folders = getattr(namespace, "folders", None) or []
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((len(folders) - 1, values))
        setattr(namespace, self.dest, items)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="folders of photos -> a pool of framed face crops",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--from", dest="folders", action="append", required=True, metavar="FOLDER",
                       help="a folder of photos (searched recursively); repeatable")
    build.add_argument("--source-name", action=_PerSource, metavar="NAME",
                       help="the source's name, e.g. 'owner/repo@commit' (default: the folder's name)")
    build.add_argument("--licence", action=_PerSource, metavar="TEXT", help="the upstream licence (default 'unstated')")
    build.add_argument("--tasks", action=_PerSource, metavar="LIST",
                       help="tasks this source may train: 'all' (default) or e.g. shadow,facial_shadow,retouch")
    build.add_argument("--identity", action=_PerSource, choices=("photo", "parent-folder", "name-prefix"),
                       help="what names the person: each photo its own (default), the folder it is in, or the "
                            "file name up to its first '_' (CelebA's <identity>_<image>.jpg)")
    build.add_argument("--out", required=True, help="the pool folder to create (must not exist)")
    build.add_argument("--sizes", default="256", help="crop sizes, comma separated (default 256; e.g. 256,512)")
    build.add_argument("--val-percent", type=float, default=5.0, help="share of identities in val (default 5)")
    build.add_argument("--workers", type=positive_int, default=2, help="processes (default 2)")
    build.add_argument("--limit", type=positive_int, default=None, help="stop after this many photos")
    build.add_argument("--no-progress", action="store_true")

    label = actions.add_parser("label", help="parsing pseudo-labels for a pool (Face Mesh + selfie segmentation + a teacher)")
    label.add_argument("--pool", required=True, help="a built pool folder")
    label.add_argument("--teacher", required=True, help="a parsing checkpoint for the classes Face Mesh does not outline")
    label.add_argument("--name", default="pseudo", help="label set name: POOL/labels/<name> (default pseudo)")
    label.add_argument("--limit", type=positive_int, default=None,
                       help="label N train photos (a fixed subset spread over the sources; default all)")
    label.add_argument("--val-limit", type=positive_int, default=None, help="label N val photos (default all)")
    label.add_argument("--rules", choices=("pseudo", "model"), default="pseudo",
                       help="pseudo: Face Mesh + selfie segmentation + the checkpoint, with an ignore mask (training "
                            "parsing); model: the checkpoint's own complete masks (masks as inputs: maskedit)")
    label.add_argument("--no-progress", action="store_true")

    preview = actions.add_parser("preview", help="a contact sheet of a task's real-photo pairs")
    preview.add_argument("--pool", required=True)
    preview.add_argument("--task", required=True, help="parsing | shadow | retouch")
    preview.add_argument("--out", required=True, help="PNG file to write")
    preview.add_argument("--n", type=positive_int, default=8)
    preview.add_argument("--split", choices=("train", "val"), default="val")
    preview.add_argument("--labels", default="pseudo", help="label set for parsing (default pseudo)")


def _per_source(args, name: str, count: int, default) -> list:
    """Per --from values: one given before the first --from is every source's default."""
    given = getattr(args, name, None) or []
    values = [default(i) for i in range(count)]
    for index, value in given:
        if index < 0:
            values = [value] * count
    for index, value in given:
        if index >= 0:
            values[index] = value
    return values


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args)
    if args.action == "label":
        from portrait_edge.data.pseudo_labels import label_pool

        summary = label_pool(args.pool, args.teacher, args.name, args.limit, not args.no_progress,
                             val_limit=args.val_limit, rules=args.rules)
        print(json.dumps(summary, indent=2))
        return 0
    from portrait_edge.data.real_pairs import preview_sheet

    path = preview_sheet(args.pool, args.task, args.out, args.n, args.split, args.labels)
    print(f"wrote {path}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from portrait_edge.data.pool import Source, build_pool, parse_tasks

    count = len(args.folders)
    names = _per_source(args, "source_name", count, lambda i: Path(args.folders[i]).name)
    licences = _per_source(args, "licence", count, lambda i: "unstated")
    tasks = _per_source(args, "tasks", count, lambda i: "all")
    identities = _per_source(args, "identity", count, lambda i: "photo")
    if len(set(names)) != count:
        raise PortraitEdgeError("each --from needs its own --source-name (two sources share a name)")
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        raise PortraitEdgeError(f"--sizes must be comma-separated integers, not {args.sizes!r}") from None
    if not 0 <= args.val_percent <= 100:
        raise PortraitEdgeError(f"--val-percent must be between 0 and 100, not {args.val_percent}")
    sources = [Source(folder, name, licence, parse_tasks(task), identity)
               for folder, name, licence, task, identity in zip(args.folders, names, licences, tasks, identities)]
    summary = build_pool(sources, args.out, sizes, args.val_percent, args.workers, args.limit, not args.no_progress)
    counts = summary["counts"]
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(counts["rejected"].items())) or "none"
    print(f"{args.out}: kept {counts['kept']} of {counts['seen']} photos ({summary['photos_per_second']}/s); "
          f"rejected: {rejected}")
    return 0
