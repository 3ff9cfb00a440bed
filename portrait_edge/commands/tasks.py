"""`portrait-edge tasks`: list the task registry."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def _describe(task) -> dict:
    return {
        "id": task.id,
        "title": task.title,
        "inputs": [f"{g.name}[{g.channels}]" for g in task.inputs],
        "output": f"{task.output.name}[{task.output.channels}]",
        "teacher": task.teacher.arch,
        "student": task.student.arch,
        "primary_metric": task.primary_metric,
    }


def run(args: argparse.Namespace) -> int:
    from portrait_edge.tasks import all_tasks

    rows = [_describe(task) for task in all_tasks()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['id']:<14} {row['title']}")
        print(f"{'':<14} in: {' + '.join(row['inputs'])}  out: {row['output']}  "
              f"teacher: {row['teacher']}  student: {row['student']}  metric: {row['primary_metric']}")
    return 0
