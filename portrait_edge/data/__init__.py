"""Training data: the synthetic portrait engine (synth), the per-task pair builders (pairs), readers of
real datasets (readers) and Face Mesh landmark helpers (landmarks)."""
