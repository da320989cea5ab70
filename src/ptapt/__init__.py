"""ptapt: task-adaptive pretraining of wav2vec 2.0 for speech emotion recognition."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`ptapt.load_classifier` without importing torch for every `import ptapt`."""
    if name == "load_classifier":
        from ptapt.inference import load_classifier

        return load_classifier
    raise AttributeError(f"module 'ptapt' has no attribute {name!r}")
