"""Shared test settings: keep torch on few threads, the machine has 2 cores."""

import torch

torch.set_num_threads(1)
