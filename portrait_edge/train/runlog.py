"""The run log a person can plot: train.csv (loss terms, lr, samples/s per logged step), eval.csv
(validation metrics), and log.jsonl (every row of both, with a "kind" field).

On resume, rows after the resumed step are dropped first, so the files read as one uninterrupted run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from portrait_edge.train.checkpoint import atomic_write


class RunLog:
    def __init__(self, directory: str | Path, enabled: bool = True, resume_step: int | None = None) -> None:
        self.directory = Path(directory)
        self.enabled = enabled
        self._columns: dict[str, list[str]] = {}
        if enabled:
            self.directory.mkdir(parents=True, exist_ok=True)
            if resume_step is None:
                for name in ("log.jsonl", "train.csv", "eval.csv"):
                    (self.directory / name).unlink(missing_ok=True)
            else:
                self._truncate(resume_step)

    def _truncate(self, step: int) -> None:
        jsonl = self.directory / "log.jsonl"
        if jsonl.is_file():
            kept = [line for line in jsonl.read_text().splitlines() if line.strip()
                    and json.loads(line).get("step", 0) <= step]
            atomic_write(jsonl, lambda temp: Path(temp).write_text("".join(f"{line}\n" for line in kept)))
        for name in ("train.csv", "eval.csv"):
            path = self.directory / name
            if not path.is_file():
                continue
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle))
            if not rows:
                continue
            header, body = rows[0], [r for r in rows[1:] if r and int(float(r[0])) <= step]
            self._columns[name] = header

            def write(temp: str, header=header, body=body) -> None:
                with open(temp, "w", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(header)
                    writer.writerows(body)

            atomic_write(path, write)

    def write(self, kind: str, row: dict[str, Any]) -> None:
        """kind: "train" or "eval"; row must contain "step"."""
        if not self.enabled:
            return
        with open(self.directory / "log.jsonl", "a") as handle:
            handle.write(json.dumps({"kind": kind, **row}, default=float) + "\n")
        name = f"{kind}.csv"
        path = self.directory / name
        columns = self._columns.get(name)
        new_file = not path.is_file() or path.stat().st_size == 0
        if columns is None:
            columns = ["step"] + [k for k in row if k != "step"]
            self._columns[name] = columns
        with open(path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(columns)
            writer.writerow([_format(row.get(c, "")) for c in columns])


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value
