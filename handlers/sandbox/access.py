"""Who may use the sandbox page: anyone on this machine, or, once it listens beyond loopback
(``SANDBOX_PUBLIC_TOKEN``, see ``bot.sandbox_settings.sandbox_problems``), only a visitor with the token.

The token is given once as ``/?token=…`` (a link to share); the answer keeps it in an HttpOnly,
SameSite=Strict cookie and redirects to the same page without it, so that it leaves the address
bar and the history. Every later request of the page and of ``/sandbox/ui/…`` brings the cookie.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import redirect, request

from handlers.http_errors import error
from handlers.sandbox.common import same, secret, settings

COOKIE = "sandbox_token"


def visitor_has_the_token():
    """A ``before_request`` of the page's blueprint: None lets the request through."""
    expected = secret(settings().sandbox_public_token)
    if not expected:
        return None  # loopback only (start-up made sure): whoever reaches it is on this machine
    if request.method == "GET" and "token" in request.args:
        if not same(request.args["token"], expected):
            return error(403, "wrong sandbox token")
        return _keep_in_cookie(expected)
    if same(request.cookies.get(COOKIE), expected):
        return None
    return error(401, "this sandbox needs its token: open the link you were given (/?token=…) once")


def _keep_in_cookie(token: str):
    rest = [(key, value) for key, value in request.args.items(multi=True) if key != "token"]
    path = "/" + request.path.lstrip("/")  # never "//host": a redirect stays on this server
    response = redirect(path + (f"?{urlencode(rest)}" if rest else ""), code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/")
    return response
