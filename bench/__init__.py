"""Benchmarks run by `make bench`; each prints rows of one table."""
