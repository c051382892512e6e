"""Security tests reuse the in-process network of the protocol tests."""

from tests.federation.conftest import network, node_database

__all__ = ["network", "node_database"]
