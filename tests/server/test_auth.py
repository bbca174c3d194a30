"""Accounts, sessions and CSRF over real HTTP (uvicorn on loopback, httpx as the browser)."""

import re

import httpx
import pytest

from server.auth.accounts import Accounts
from server.auth.errors import AccountError
from server.auth.passwords import hash_password, verify_password
from server.auth.throttle import FREE_FAILURES
from server.datadir import DataDir
from server.web.serve import start_review_api
from tests.server._frames import PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in


@pytest.fixture
def site(tmp_path, backend):
    image, = clip_frames(PETS, (0,))
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header_for(image, "cam", 0, track_id=4), encode(image))])
    add_accounts(tmp_path, "alice")
    add_accounts(tmp_path, "root", role="admin")
    server = start_review_api(tmp_path, "127.0.0.1:0")
    yield server
    server.stop()


def test_password_hash_round_trip():
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery") != stored  # salted
    assert not verify_password("x", "scrypt$bad") and not verify_password("x", "md5$1$2$3$4$5")


def test_account_rules(tmp_path, database):
    DataDir.open(tmp_path, database=database).close()
    with Accounts.open(tmp_path, database=database) as accounts:
        accounts.add("alice", "reviewer", "long enough")
        for name, role, password, message in [("alice", "reviewer", "long enough", "exists"),
                                              ("bob", "boss", "long enough", "role"),
                                              ("bob", "admin", "short", "password"),
                                              ("<b>", "admin", "long enough", "account name")]:
            with pytest.raises(AccountError, match=message):
                accounts.add(name, role, password)
        assert [a["name"] for a in accounts.list()] == ["alice"]
        token, _ = accounts.login("alice", "long enough")
        assert accounts.session(token).account == "alice"
        accounts.remove("alice")
        assert accounts.session(token) is None


def test_every_route_but_login_needs_a_session(site):
    with httpx.Client(base_url=site.url, timeout=10) as anonymous:
        for route in site.app.routes:
            path = getattr(route, "path", "")
            if path in ("/login", "/static"):
                continue
            concrete = path.replace("{frame_id:int}", "1").replace("{sha256}", "0" * 64)
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method == "HEAD":
                    continue
                answer = anonymous.request(method, concrete)
                assert answer.status_code in (401, 303), (method, concrete, answer.status_code)
                if concrete.startswith("/api/"):
                    assert answer.json()["error"] == "not_authenticated"
                elif answer.status_code == 303:
                    assert answer.headers["location"] == "/login"
        assert anonymous.get("/login").status_code == 200


def test_state_changes_need_the_csrf_token(site):
    with logged_in(site.url, "alice") as alice:
        token = alice.headers.pop("X-CSRF-Token")
        for path in ("/api/queue/claim", "/api/track/accept", "/logout"):
            answer = alice.post(path, json={})
            assert answer.status_code == 403 and answer.json()["error"] == "csrf"
        assert alice.post("/api/queue/claim", json={}, headers={"X-CSRF-Token": token[:-1] + "x"}).status_code == 403
        assert alice.post("/api/queue/claim", json={}, headers={"X-CSRF-Token": token}).json()["frame"]["id"] == 1


def test_login_form_csrf_wrong_password_lockout_and_logout(site):
    with httpx.Client(base_url=site.url, timeout=10) as browser:
        assert browser.post("/login", data={"name": "alice", "password": "alice-passphrase"}).status_code == 403
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
        form = {"name": "alice", "csrf_token": token}
        wrong = browser.post("/login", data={**form, "password": "guess"})
        assert wrong.status_code == 401 and "wrong name or password" in wrong.text
        unknown = browser.post("/login", data={**form, "name": "mallory", "password": "guess"})
        assert unknown.status_code == 401 and "wrong name or password" in unknown.text
        for _ in range(FREE_FAILURES["pair"] - 1):
            browser.post("/login", data={**form, "password": "guess"})
        locked = browser.post("/login", data={**form, "password": "alice-passphrase"})
        assert locked.status_code == 401 and "too many failed logins" in locked.text
    with logged_in(site.url, "root") as root:
        cookie = root.cookies.get("edgelabel_session")
        assert root.get("/api/dashboard").json()["queue"] == {"pending": 1}
        assert root.post("/logout").status_code == 200
    with httpx.Client(base_url=site.url, timeout=10, cookies={"edgelabel_session": cookie}) as replay:
        assert replay.get("/api/queue").status_code == 401  # the session ended on the server


def test_session_cookie_flags_and_security_headers(site):
    with httpx.Client(base_url=site.url, timeout=10) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
        answer = browser.post("/login", data={"name": "alice", "password": "alice-passphrase", "csrf_token": token})
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("edgelabel_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # plain http here
        assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_reviewers_are_refused_the_dashboard_and_media_ids_are_checked(site):
    with logged_in(site.url, "alice") as alice:
        assert alice.get("/dashboard").status_code == 403 and alice.get("/api/dashboard").status_code == 403
        frame = alice.get("/api/frames/1").json()["frame"]
        assert alice.get(f"/media/{frame['media_sha256']}").content[:2] == b"\xff\xd8"
        for bad in ("..%2F..%2Fedgelabel.db", "0" * 63 + "G", frame["media_sha256"].upper()):
            assert alice.get(f"/media/{bad}").status_code == 404


def test_accept_track_finalises_frames_whose_boxes_all_have_a_verdict(site):
    with logged_in(site.url, "alice") as alice:
        result = alice.post("/api/track/accept", json={"device": "cam", "track_id": 4, "class_name": "car"}).json()
        assert result["finalised"] == [1]
        frame = alice.get("/api/frames/1").json()["frame"]
        assert frame["status"] == "corrected" and [a["class_name"] for a in frame["annotations"]] == ["car"]
        assert frame["verdicts"]["4"]["class_name"] == "car"
        assert alice.post("/api/track/accept", json={"device": "cam", "track_id": 99}).status_code == 404
