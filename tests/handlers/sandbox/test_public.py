"""The sandbox told to listen beyond loopback (``SANDBOX_PUBLIC_TOKEN``): its page and every
``/sandbox/ui`` request need the token, given once as ``/?token=…``; the page never holds a secret."""

from __future__ import annotations

import json
import re

import requests

from bot.sandbox_settings import SANDBOX_CREDENTIALS
from bot.settings import SECRET_FIELDS
from handlers.sandbox.people import PATIENTS
from tests.handlers.sandbox.conftest import PUBLIC_TOKEN
from tests.support import wait_for

#: What the review's unauthenticated visitor posted: a made-up citizen ID and a phishing "clinic".
PHISHING = {"appointment_id": "X-1", "cid": PATIENTS[2].cid, "date": "2027-01-05", "time": "09:00",
            "clinic": "กรุณาโอนเงินมัดจำ https://evil.example"}


def _page_routes(sandbox) -> list[tuple[str, str]]:
    """Every (method, URL) of the page's blueprint, as the app has them: a new route is covered too."""
    values = {"key": PATIENTS[0].key, "conversation_id": "1", "filename": "sandbox.js",
              "message_id": "1", "attachment_id": "1"}
    routes = []
    for rule in sandbox.app.url_map.iter_rules():
        if rule.endpoint.startswith("sandbox_page."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)
            routes += [(method, sandbox.url + path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def _visitor(sandbox) -> requests.Session:
    """A browser that opened the shared link once."""
    session = requests.Session()
    first = session.get(f"{sandbox.url}/?token={PUBLIC_TOKEN}", allow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"] == "/", first.text  # the token leaves the URL
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return session


def test_without_the_token_no_page_route_answers(public_sandbox):
    routes = _page_routes(public_sandbox)
    paths = {url.removeprefix(public_sandbox.url) for _, url in routes}
    assert {"/", "/sandbox/ui/state", "/sandbox/ui/his/api", "/sandbox/ui/his/upload"} <= paths
    stranger = requests.Session()
    stranger.cookies.set("sandbox_token", "a-guess-of-the-token-that-is-long-enough-000")
    for method, url in routes:
        for client in (requests, stranger):
            answer = client.request(method, url, timeout=10, allow_redirects=False)
            assert answer.status_code == 401 and "token" in answer.json()["error"], (method, url)
            assert PATIENTS[0].name not in answer.text
    wrong = requests.get(f"{public_sandbox.url}/?token=wrong", allow_redirects=False, timeout=10)
    assert wrong.status_code == 403 and "Set-Cookie" not in wrong.headers
    assert public_sandbox.get("/healthz").status_code == 200  # the rest of the service is unchanged


def test_an_unauthenticated_his_post_queues_nothing(public_sandbox, redis):
    answer = requests.post(public_sandbox.url + "/sandbox/ui/his/api", data=json.dumps([PHISHING]), timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert public_sandbox.store.items("his:uploads") == []
    assert not redis.keys("appt:*") and not redis.keys("rq:job:*")  # no appointment, no notice, no reminder


def test_the_shared_link_opens_the_page_and_its_actions(public_sandbox):
    visitor = _visitor(public_sandbox)
    page = visitor.get(public_sandbox.url + "/", timeout=10)
    assert page.status_code == 200 and "SANDBOX" in page.text
    body = json.dumps([{**PHISHING, "appointment_id": "T-1", "clinic": "OPD"}])
    answer = visitor.post(public_sandbox.url + "/sandbox/ui/his/api", data=body, timeout=10,
                          headers={"Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json()["status"] == 202
    state = wait_for(lambda: visitor.get(public_sandbox.url + "/sandbox/ui/state", timeout=10).json()["panels"],
                     what="the page state")
    assert "T-1" in state["his"]
    sent = visitor.post(f"{public_sandbox.url}/sandbox/ui/patients/{PATIENTS[0].key}/messages",
                        json={"text": "เปิดกี่โมง"}, timeout=10)
    assert sent.status_code == 202


def test_the_page_never_holds_a_secret(public_sandbox):
    settings = public_sandbox.settings
    secrets = {name: value.get_secret_value() for name in (*SECRET_FIELDS, "sandbox_public_token")
               if (value := getattr(settings, name, None)) is not None}
    visitor = requests.Session()
    visitor.get(f"{public_sandbox.url}/?token={PUBLIC_TOKEN}", timeout=10)  # the shared link, once
    bodies = [visitor.get(public_sandbox.url + path, timeout=10) for path in
              ("/", "/sandbox/ui/state", "/sandbox/static/sandbox.js")]
    assert all(body.status_code == 200 for body in bodies)
    for name, value in secrets.items():
        for body in bodies:
            assert value not in body.text, name
    # Every secret the sandbox can hold was set: its made-up provider credentials, and the token (a real
    # secret of any other kind stops it from starting: tests/bot/test_sandbox_settings.py).
    assert set(secrets) == {*SANDBOX_CREDENTIALS, "sandbox_public_token"} & {*SECRET_FIELDS, "sandbox_public_token"}
    assert len(secrets) >= 15
