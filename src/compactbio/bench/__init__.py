"""Benchmarks: inference cost of the architectures (``efficiency``) and score per cost (``score_cost``)."""
