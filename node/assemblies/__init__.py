"""Open assemblies: agenda, proposals and amendments, decision methods, quorum, the open record."""

# Connects the members' export and erase signals to this package's data.
from node.assemblies import member_data as _member_data  # noqa: F401
