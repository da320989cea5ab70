"""The training loop, its schedule and resumable checkpoints."""
