"""The one failure of this package: something refused under the mandate and council rules."""

from __future__ import annotations

from typing import Any

from node.errors import FieldError, Problem


class Refused(Problem):
    """A mandate, recall, act, proposal or decision is refused; `reason` is a stable slug.

    The same reasons come back from the API (as a problem) and from a node's inbox (as the
    envelope's rejection reason), so a delegate learns the same thing either way.
    """

    status, slug, title = 422, "refused", "Refused under the mandate and council rules"

    def __init__(self, reason: str, detail: str, field: str = "act") -> None:
        super().__init__(detail, [FieldError(field, reason)])
        self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        """The problem document, with the reason slug as its own member."""
        body = super().as_dict()
        body["reason"] = self.reason
        return body
