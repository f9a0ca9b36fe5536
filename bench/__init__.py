"""Benchmarks for cti: run each as `python -m bench.<name> --help` (see bench/README.md)."""
