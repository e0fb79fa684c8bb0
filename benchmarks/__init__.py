"""Benchmarks (``make bench``): measured ratios, not timed tests (``python -m benchmarks -h``)."""
