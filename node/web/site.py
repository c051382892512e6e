"""Every area's pages, gathered under the one `web` blueprint (done once, at import)."""

from __future__ import annotations

from node.web import account, assemblies, home, inventory, listings, matches, projects
from node.web.base import web

AREAS = (home, account, listings, matches, inventory, assemblies, projects)

for _area in AREAS:
    web.register_blueprint(_area.bp)
