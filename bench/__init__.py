"""Reproducible benchmarks of Switchboard against named peers: `python -m bench [NAME...]`."""
