"""Security headers on every response: the content security policy and its companions."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g

# Everything a page uses is served by the node itself; nothing inline runs without a nonce.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'{nonce}; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "manifest-src 'self'"
)
# A response whose page asked for no nonce allows no inline style at all.
NO_NONCE_POLICY = POLICY.format(nonce="")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(self), payment=()",
}
HSTS = "max-age=31536000; includeSubDomains"
# Every response passes here: names are compared once, in lower case, against what the view set.
_STATIC = tuple((name.lower(), name, value) for name, value in HEADERS.items())


def csp_nonce() -> str:
    """A per-response nonce for the rare inline style block (the API documentation page).

    Made only when a page asks for it; the policy names it only then."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    value: str = g.csp_nonce
    return value


def add_headers(response: Response, secure: bool) -> Response:
    """Set the security headers that the view did not set itself."""
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    if "content-security-policy" not in present:
        nonce = g.get("csp_nonce")
        headers.add("Content-Security-Policy", POLICY.format(nonce=f" 'nonce-{nonce}'") if nonce
                    else NO_NONCE_POLICY)
    for lower, name, value in _STATIC:
        if lower not in present:
            headers.add(name, value)
    if secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    if "cache-control" not in present and response.mimetype == "text/html":
        # Pages show a member's own data: never keep them in a shared cache.
        headers.add("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of the app."""
    secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
    app.after_request(lambda response: add_headers(response, secure))
    app.jinja_env.globals["csp_nonce"] = csp_nonce
