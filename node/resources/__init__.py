"""Needs and offers, categories, the inventory and local matching."""

# Connects the members' export and erase signals to this package's data.
from node.resources import member_data as _member_data  # noqa: F401
