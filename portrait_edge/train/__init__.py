"""Training: recipes, the trainer (teachers and distilled students), checkpoints, DDP, evaluation."""
