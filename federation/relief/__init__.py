"""Disaster relief across nodes: the cross-node matching engine and the area map picture.

Everything here is pure (no database, no network), so the federation's inbox, its tasks and
its pages call the same code that the tests and the benchmark drive directly.
"""
