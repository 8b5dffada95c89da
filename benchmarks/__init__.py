"""Benchmarks run on demand (`python benchmarks/run.py MODE`), each printing a table; never
run by the test suite. docs/performance.md has their figures."""
