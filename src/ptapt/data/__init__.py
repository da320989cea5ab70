"""Manifests, folds, audio input, batching, pseudo-labels and synthetic corpora."""
