"""`portrait-edge apply`: run a task's network on photos through portrait_edge.pipelines.

    portrait-edge apply --task parsing photo.jpg folder/ --out results/ [--backend litert --precision int8]
    portrait-edge apply --task facial_shadow photo.jpg --out results/ --fill 0.7

Folders are searched recursively for images. A file that cannot be read, or has no face, is reported
in one line and skipped; the others go on. Exit status 0 when every photo worked, 2 when some failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from portrait_edge.commands import add_model_arguments, positive_int
from portrait_edge.errors import PortraitEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--task", required=True, help="the network to run (see `portrait-edge tasks`)")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="photos, or folders of photos")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    add_model_arguments(parser)
    parser.add_argument("--faces", choices=("largest", "all"), default="largest", help="which faces to process")
    parser.add_argument("--threads", type=positive_int, default=2, help="CPU threads of the runtime (default 2)")
    parser.add_argument("--max-pixels", type=positive_int, default=None, help="refuse larger photos (default: the reader's limit)")
    parser.add_argument("--no-progress", action="store_true")
    for option, helps in task_options().items():  # each task's own options (TaskSpec.pipeline_options)
        parser.add_argument(f"--{option.replace('_', '-')}", dest=f"option_{option}", default=None, metavar="VALUE",
                            help="; ".join(helps))


def task_options() -> dict[str, list[str]]:
    """Pipeline option name -> what it means to each task that takes it, from the registry."""
    from portrait_edge.tasks import all_tasks

    options: dict[str, list[str]] = {}
    for task in all_tasks():
        for name, option in task.pipeline_options.items():
            options.setdefault(name, []).append(f"{task.id}: {option.meaning}, {option.minimum:g} to "
                                                f"{option.maximum:g} (default {option.default:g})")
    return options


def photos_of(inputs: list[str]) -> list[Path]:
    from portrait_edge.data.pool import iter_photos

    found: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found.extend(iter_photos(path))
        elif path.exists():
            found.append(path)
        else:
            raise PortraitEdgeError(f"{path} does not exist")
    if not found:
        raise PortraitEdgeError(f"no images in {', '.join(inputs)}")
    return found


def _stems(paths: list[Path]) -> list[str]:
    """Output names: the file stem, made unique with -2, -3 ... when two photos share one."""
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        count = seen.get(path.stem, 0) + 1
        seen[path.stem] = count
        stems.append(path.stem if count == 1 else f"{path.stem}-{count}")
    return stems


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from portrait_edge.io import read_image
    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.pipelines.outputs import write_result

    options = {name: getattr(args, f"option_{name}") for name in task_options()
               if getattr(args, f"option_{name}", None) is not None}
    from portrait_edge.tasks import get_task

    if get_task(args.task).pipeline_class:
        raise PortraitEdgeError(f"{args.task} edits a photo with a reference photo or an edited mask: use "
                                f"`portrait-edge edit` (see its --help)")
    photos = photos_of(args.inputs)
    pipe = load_pipeline(args.task, role=args.role, backend=args.backend, precision=args.precision,
                         checkpoint=args.checkpoint, model_file=args.model_file, threads=args.threads, **options)
    out = Path(args.out)
    failed = 0
    read_options = {"max_pixels": args.max_pixels} if args.max_pixels else {}
    bar = tqdm(list(zip(photos, _stems(photos))), desc=f"apply {args.task}", unit="photo", disable=args.no_progress)
    for path, stem in bar:
        try:
            image = read_image(path, **read_options)
            result = pipe(image, faces=args.faces)
            write_result(result, image, out, stem)
        except PortraitEdgeError as error:
            failed += 1
            message = str(error) if str(path) in str(error) else f"{path}: {error}"
            tqdm.write(f"portrait-edge apply: skipped {message}", file=sys.stderr)
    bar.close()
    done = len(photos) - failed
    print(f"{args.task} ({pipe.role}, {pipe.backend} {pipe.precision}): {done} of {len(photos)} photos -> {out}")
    return 0 if failed == 0 else 2
