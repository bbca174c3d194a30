"""An httpx client logged in to a running review UI, sending the session's CSRF token."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from server.auth.accounts import Accounts


def add_accounts(data_dir, *names: str, role: str = "reviewer", database: str | None = None) -> None:
    with Accounts.open(data_dir, database=database) as accounts:
        for name in names:
            accounts.add(name, role, f"{name}-passphrase")


@contextmanager
def logged_in(url: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as client:
        _log_in(client, name)
        yield client


def _log_in(client: httpx.Client, name: str) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/login", data={"name": name, "password": f"{name}-passphrase", "csrf_token": token})
    assert answer.status_code == 303, answer.text
    page = client.get("/review").text
    client.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
