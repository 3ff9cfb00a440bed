"""PNG plots of the report: accuracy vs latency and accuracy vs size, one point per variant (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMAT_MARKERS = {"pytorch": "o", "executorch": "s", "litert": "^", "coreml": "D"}


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scatter(records: list[dict[str, Any]], x_key, x_label: str, metric: str, title: str, path: Path,
             log_x: bool = True) -> Path | None:
    """Students only, so their variants spread over the plot; the teacher is a dashed reference line
    (named in the legend with its value) rather than a point that squashes the students together."""
    plt = _figure()
    points = [(x_key(r), r["metrics"]["vs_gt"].get(metric), r) for r in records
              if r.get("metrics", {}).get("vs_gt") and x_key(r) is not None and r.get("role") != "teacher"]
    points = [(x, y, r) for x, y, r in points if y is not None]
    if not points:
        return None
    teacher = next((r for r in records if r.get("role") == "teacher" and r.get("metrics", {}).get("vs_gt")), None)
    figure, axis = plt.subplots(figsize=(8, 4.8), dpi=110)
    colors = plt.get_cmap("tab10").colors
    for index, (x, y, record) in enumerate(points):
        color = colors[index % len(colors)]
        hollow = bool(record.get("simulated"))
        axis.scatter([x], [y], marker=FORMAT_MARKERS.get(record["format"], "o"), s=60, edgecolors=[color],
                     facecolors="none" if hollow else [color], linewidths=1.5,
                     label=record["variant"] + (" (simulated)" if hollow else ""))
    if teacher is not None and teacher["metrics"]["vs_gt"].get(metric) is not None:
        value = teacher["metrics"]["vs_gt"][metric]
        low, high = min(y for _, y, _ in points), max(y for _, y, _ in points)
        margin = max((high - low) * 0.4, 0.002)
        if value <= high + 3 * margin:
            axis.axhline(value, color="0.4", linestyle="--", linewidth=1, label=f"teacher (PyTorch fp32): {value:.4f}")
        else:  # far above the students: keep the students' scale, say where the teacher is
            axis.plot([], [], color="0.4", linestyle="--", label=f"teacher (PyTorch fp32): {value:.4f}, above this plot")
        axis.set_ylim(low - margin, max(high + margin, value + margin) if value <= high + 3 * margin else high + margin)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                title="student variant (marker = format)", title_fontsize=7)
    if log_x:
        axis.set_xscale("log")
    axis.set_xlabel(x_label)
    axis.set_ylabel(f"{metric} vs ground truth")
    axis.set_title(title, fontsize=10)
    axis.grid(True, alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temp)
    plt.close(figure)
    temp.replace(path)
    return path


def write_plots(task_id: str, metric: str, records: list[dict[str, Any]], out_dir: Path, threads: str | None = None) -> list[Path]:
    """Latency is taken at `threads` (default: the largest thread count measured)."""
    if threads is None:
        counts = {t for r in records for t in (r.get("latency_ms") or {})}
        threads = max(counts, key=int) if counts else "2"
    def latency(r):
        return (r.get("latency_ms") or {}).get(threads)

    def size(r):
        return r["bytes"] / 1024 if r.get("bytes") else None

    written = [
        _scatter(records, latency, f"median latency, batch 1, {threads} thread(s) (ms, log scale)", metric,
                 f"{task_id} student: {metric} vs latency",
                 out_dir / f"{task_id}_accuracy_vs_latency.png"),
        _scatter(records, size, "file size (KiB, log scale)", metric,
                 f"{task_id} student: {metric} vs file size (hollow = simulated in torch)",
                 out_dir / f"{task_id}_accuracy_vs_size.png"),
    ]
    return [p for p in written if p is not None]
