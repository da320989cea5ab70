"""Corpora, manifests, folds and audio input."""
