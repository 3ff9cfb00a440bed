"""The Space's cold start (import, build, launch, first request) and per-image time per tab, through
gradio_client as a visitor: `python benchmarks/space_timing.py [--repeats 5]`."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    from gradio_client import Client, handle_file

    from portrait_edge.space import CONCURRENCY, build_app, demo_tasks
    from portrait_edge.train.visualize import real_portraits

    app = build_app()
    app.queue(default_concurrency_limit=CONCURRENCY)
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    launched = time.perf_counter() - started
    client = Client(app.local_url, verbose=False)
    photo = Path(tempfile.mkdtemp()) / "astronaut.png"
    Image.fromarray(real_portraits()["astronaut"]).save(photo)
    for task in demo_tasks():
        for runtime in ("LiteRT int8", "ExecuTorch int8"):
            first = time.perf_counter()
            client.predict(handle_file(str(photo)), runtime, [], api_name=f"/run_{task.id}")
            first = time.perf_counter() - first
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                client.predict(handle_file(str(photo)), runtime, [], api_name=f"/run_{task.id}")
                times.append(time.perf_counter() - t0)
            print(f"{task.id} ({runtime}): first request {first:.2f} s (loads the pipelines), then median "
                  f"{statistics.median(times):.2f} s per 512x512 photo (three models + upload/download)")
    print(f"cold start to a running app: {launched:.1f} s")
    app.close()


if __name__ == "__main__":
    main()
