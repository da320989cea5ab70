"""ptapt: task-adaptive pretraining of wav2vec 2.0 for speech emotion recognition."""

__version__ = "0.1.0"
