"""One module per pipeline stage: parse arguments -> run -> artifacts."""
