"""Model definitions: wav2vec 1.0, frame classifier, wav2vec 2.0-family backbones, heads."""
