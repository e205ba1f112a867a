"""Benchmarks of the running system (``python -m bench.lifecycle``)."""
