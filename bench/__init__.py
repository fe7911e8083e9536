"""Benchmarks: they print figures and never fail on a timing. See bench/README.md."""
