"""Fixtures for incidents: the protocol tests' in-process network of nodes."""

from tests.federation.conftest import network, node_database  # noqa: F401
