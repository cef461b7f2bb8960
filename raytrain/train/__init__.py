"""Training: the per-worker loop, optimizers and schedules, checkpoints, and launching."""
