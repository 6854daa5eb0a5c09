"""Login rate limits (issue #17) on the real API: per client address and per user name, a
sliding window answered 429 with Retry-After before any password is checked; another client
or name is not affected; the account lock-out still applies; the browser sign-in shares it.
Time is stepped with the throttle's clock, not slept."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from index.catalog.accounts import LockoutPolicy, create_user
from index.catalog.rows import AuditRow
from index.passwords import hash_password
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from search_api.login_throttle import LoginThrottle, LoginThrottlePolicy, client_key
from tests.api_support import BASE_URL, empty_context

PASSWORD = "correct horse battery"
NAMES = ("amy", "ben", "cat", "dan", "eve", "fay", "gus")


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@dataclasses.dataclass
class Env:
    context: ApiContext
    app: Any
    clock: Clock

    def limit(self, lockout_failures: int = 5, **policy: Any) -> None:
        """A fresh throttle with this policy (and a lock-out after `lockout_failures`)."""
        self.context.accounts = dataclasses.replace(
            self.context.accounts,
            throttle=LoginThrottle(LoginThrottlePolicy(**policy), self.clock),
            lockout=LockoutPolicy(max_failures=lockout_failures, window=timedelta(minutes=15)),
        )

    def login(self, address: str, name: str, password: str = PASSWORD) -> Any:
        client = TestClient(self.app, base_url=BASE_URL, client=(address, 40000))
        return client.post(f"{API_PREFIX}/auth/login", json={"name": name, "password": password})

    def actions(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        with self.context.sessions() as session:
            rows = session.execute(
                select(AuditRow.action, AuditRow.filters)
                .where(AuditRow.principal == name)
                .order_by(AuditRow.seq)
            ).all()
        return [(str(action), dict(filters or {})) for action, filters in rows]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root: Path = tmp_path_factory.mktemp("throttle")
    context = empty_context(root)
    password_hash = hash_password(PASSWORD)
    with context.sessions() as session:
        for name in NAMES:
            create_user(session, name, "investigator", password_hash)
        session.commit()
    yield Env(context, create_app(context), Clock())


def test_a_client_over_its_rate_is_refused_and_another_client_is_not(env: Env) -> None:
    env.limit(window_s=60, per_client=3, per_name=100)
    attacker, neighbour = "203.0.113.7", "198.51.100.20"
    for guess in ("nobody", "root", "administrator"):
        assert env.login(attacker, guess, "wrong guess here").status_code == 401
    refused = env.login(attacker, "amy")  # even the right password: not checked
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "60" and "client" in refused.json()["detail"]
    again = env.login(attacker, "ben")
    assert again.status_code == 429
    assert env.login(neighbour, "amy").status_code == 200  # another client is not affected
    throttled = [f for action, f in env.actions("amy") if action == "login_throttled"]
    assert len(throttled) == 1 and attacker in throttled[0]["reason"]  # once per spell
    assert [a for a, _ in env.actions("ben")] == []  # the refusal after it: not audited
    env.clock.now_s += 30
    assert env.login(attacker, "amy").headers["retry-after"] == "30"  # oldest leaves at 60 s
    env.clock.now_s += 31
    assert env.login(attacker, "amy").status_code == 200  # the window slid past


def test_a_name_over_its_rate_is_refused_from_every_client_and_other_names_are_not(
    env: Env,
) -> None:
    env.limit(window_s=120, per_client=100, per_name=3)
    for n, address in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        assert env.login(address, "cat", f"spread guess {n}").status_code == 401
    for variant in ("cat", " CAT "):  # one name however it is spelt
        refused = env.login("192.0.2.4", variant)
        assert refused.status_code == 429 and "name" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "120"
    assert env.login("192.0.2.4", "dan").status_code == 200  # another name is not affected
    env.clock.now_s += 121
    assert env.login("192.0.2.4", "cat").status_code == 200


def test_a_refused_attempt_never_reaches_the_password_check_or_the_lock_out(env: Env) -> None:
    env.limit(lockout_failures=2, window_s=60, per_client=100, per_name=1)
    assert env.login("192.0.2.10", "eve", "wrong password one").status_code == 401
    # a second wrong password would lock the account (2 failures); refused first, it counts
    # nowhere: no failure recorded, no login_failed entry, so the account stays open
    assert env.login("192.0.2.11", "eve", "wrong password two").status_code == 429
    assert [a for a, _ in env.actions("eve")] == ["login_failed", "login_throttled"]
    env.clock.now_s += 61
    assert env.login("192.0.2.10", "eve").status_code == 200


def test_the_lock_out_still_applies_within_the_rate(env: Env) -> None:
    env.limit(lockout_failures=3, window_s=60, per_client=100, per_name=5)
    for n in range(3):
        assert env.login("192.0.2.20", "fay", f"wrong password {n}").status_code == 401
    locked = env.login("192.0.2.21", "fay")  # the right password, within the rate: locked
    assert locked.status_code == 403 and "locked" in locked.json()["detail"]
    assert env.login("192.0.2.21", "fay").status_code == 403
    assert env.login("192.0.2.22", "fay").status_code == 429  # the 6th: over the rate
    env.clock.now_s += 61
    assert env.login("192.0.2.22", "fay").status_code == 403  # the lock outlasts the window


def test_the_browser_sign_in_shares_the_limit(env: Env) -> None:
    env.limit(window_s=60, per_client=2, per_name=100)
    browser = TestClient(env.app, base_url=BASE_URL, client=("192.0.2.30", 40000))
    body = {"name": "gus", "password": "not the password"}
    assert browser.post("/ui/session", json=body).status_code == 401
    assert env.login("192.0.2.30", "gus", "nor this one either").status_code == 401
    refused = browser.post("/ui/session", json={"name": "gus", "password": PASSWORD})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"


def test_ipv6_clients_count_per_64_network_and_memory_stays_bounded() -> None:
    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::5") != client_key("2001:db8:1:2::5")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    clock = Clock()
    throttle = LoginThrottle(LoginThrottlePolicy(per_client=1, per_name=100), clock)
    assert throttle.admit("2001:db8:1:2::5", "a") is None
    refusal = throttle.admit("2001:db8:1:2::6", "b")  # same /64: one client
    assert refusal is not None and refusal.limit == "client"
    assert throttle.admit("2001:db8:1:3::6", "c") is None
    small = LoginThrottle(LoginThrottlePolicy(per_client=1, per_name=1, max_tracked=4), clock)
    for n in range(50):  # a flood of addresses and names
        assert small.admit(f"10.0.0.{n}", f"name-{n}") is None
    assert len(small.clients) <= 4 and len(small.names) <= 4
