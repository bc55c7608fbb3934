"""Benchmarks of the studio: page script times and success-to-playable. Run `python -m bench.run`."""
