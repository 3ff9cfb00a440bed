"""Runs a training recipe on the fake data of fake_data.py, for subprocess and torchrun tests.

    python fake_run.py RECIPE OUT [--resume]
    torchrun --standalone --nproc_per_node 2 fake_run.py RECIPE OUT

Each rank also writes OUT/rank<R>.pt with its final model state, so a test can compare ranks.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_data  # noqa: E402
import torch  # noqa: E402

fake_data.install()

from portrait_edge.train.recipe import load_recipe  # noqa: E402
from portrait_edge.train.trainer import Trainer  # noqa: E402

recipe_path, out = sys.argv[1], Path(sys.argv[2])
trainer = Trainer(load_recipe(recipe_path), out, resume="--resume" in sys.argv, device="cpu", show_progress=False)
trainer.run()
torch.save(trainer.model.state_dict(), out / f"rank{trainer.context.rank}.pt")
