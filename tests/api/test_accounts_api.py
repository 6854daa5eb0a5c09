"""Users, session tokens and OIDC tokens on the real API (issue #17): login, rotation, logout,
lock-out, expired / forged / revoked / foreign tokens refused with a clear 401 or 403 and
nothing changed, grants by camera and camera group applied at once, a case's activity."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from index.catalog import (
    CameraSpec,
    NewTrack,
    add_track,
    audit_entries,
    create_api_key,
    list_cases,
    upsert_camera,
)
from index.catalog.accounts import LockoutPolicy, create_user, disable_user, get_user
from index.catalog.camera_groups import create_camera_group, set_camera_group
from index.catalog.grants import add_grant
from index.passwords import hash_password
from search_api.app import create_app
from search_api.context import ApiContext
from search_api.tokens import AccountPolicy, OidcIssuer, issue_session_token
from tests.api_support import BASE_URL, empty_context

API = "/api/v1"
PASSWORD = "correct horse battery"
IDP = "https://idp.city.test/realms/police"


@dataclass
class Env:
    client: TestClient
    context: ApiContext
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    admin_key: str
    car_track: int

    def login(self, name: str, password: str = PASSWORD) -> Any:
        return self.client.post(f"{API}/auth/login", json={"name": name, "password": password})

    def token(self, name: str) -> str:
        reply = self.login(name)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    def me(self, token: str) -> Any:
        return self.client.get(f"{API}/auth/me", headers=bearer(token))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jwk_of(public: Any, algorithm: str, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.get_algorithm_by_name(algorithm).to_jwk(public))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root: Path = tmp_path_factory.mktemp("accounts")
    context = empty_context(root)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = root / "jwks.json"
    jwks.write_text(
        json.dumps(
            {
                "keys": [
                    jwk_of(rsa_key.public_key(), "RS256", "rsa-1"),
                    jwk_of(ec_key.public_key(), "ES256", "ec-1"),
                ]
            }
        )
    )
    context.accounts = AccountPolicy(
        session_key=b"s" * 32,
        lockout=LockoutPolicy(max_failures=3, window=timedelta(minutes=15)),
        session_max=timedelta(hours=1),
        oidc=OidcIssuer(IDP, "skynet", OidcIssuer.read_keys(jwks)),
    )
    password_hash = hash_password(PASSWORD)
    url = "rtsp://10.0.0.5/main"
    with context.sessions() as session:
        for camera in ("north-1", "north-2", "south-1"):
            upsert_camera(session, CameraSpec(camera, camera, url))
        create_camera_group(session, "north")
        set_camera_group(session, "north-1", "north")
        set_camera_group(session, "north-2", "north")
        users = {
            name: create_user(session, name, role, password_hash)
            for name, role in (
                ("alice", "investigator"), ("bob", "viewer"), ("carol", "operator"),
                ("dave", "investigator"), ("erin", "auditor"), ("frank", "investigator"),
            )
        }  # fmt: skip
        add_grant(session, "test", user_id=users["alice"].id, group_name="north")
        add_grant(session, "test", user_id=users["bob"].id)  # every camera
        add_grant(session, "test", user_id=users["frank"].id, camera_id="south-1")
        admin_key = create_api_key(session, "root", "admin")
        now = datetime.now(UTC)
        car = add_track(
            session,
            NewTrack(
                camera_id="north-1", local_track_id=1, class_name="car", confidence=0.9,
                start_at=now, end_at=now + timedelta(seconds=4), best_shot_at=now,
                best_bbox_xyxy_px=(0.0, 0.0, 8.0, 8.0), thumbnail_key="thumbs/car.jpg",
            ),
        )  # fmt: skip
        session.commit()
    context.store.put_bytes("thumbs/car.jpg", b"\xff\xd8 a car", "image/jpeg")
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield Env(client, context, rsa_key, ec_key, admin_key, car)


def audit_actions(env: Env, principal: str) -> list[str]:
    with env.context.sessions() as session:
        return [e.action for e in audit_entries(session, principal=principal)]


# ---- login, what a session may see, rotation, logout -------------------------------------------


def test_a_session_token_sees_the_users_role_and_granted_cameras(env: Env) -> None:
    token = env.token("alice")
    me = env.me(token).json()
    assert (me["name"], me["role"], me["kind"]) == ("alice", "investigator", "user")
    assert me["camera_ids"] == ["north-1", "north-2"] and "person_search" in me["capabilities"]
    cameras = env.client.get(f"{API}/cameras", headers=bearer(token)).json()
    assert sorted(c["id"] for c in cameras) == ["north-1", "north-2"]
    outside = env.client.get(f"{API}/cameras/south-1", headers=bearer(token))
    assert outside.status_code == 404
    bob = env.client.get(f"{API}/cameras", headers=bearer(env.token("bob"))).json()
    assert len(bob) == 3  # an every-camera grant
    assert "login" in audit_actions(env, "alice")


def test_grants_and_group_membership_apply_to_live_tokens(env: Env) -> None:
    token = env.token("frank")
    assert env.me(token).json()["camera_ids"] == ["south-1"]
    with env.context.sessions() as session:
        add_grant(session, "test", user_id=get_user(session, "frank").id, group_name="north")  # type: ignore[union-attr]
        session.commit()
    assert env.me(token).json()["camera_ids"] == ["north-1", "north-2", "south-1"]


def test_wrong_or_unknown_credentials_are_401_alike_and_audited(env: Env) -> None:
    wrong = env.login("dave", "not the password at all")
    unknown = env.login("nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong user name or password"}
    assert audit_actions(env, "dave")[-1] == "login_failed"
    assert audit_actions(env, "nobody")[-1] == "login_failed"
    assert env.login("dave").status_code == 200  # one failure locks nothing


def test_repeated_failures_lock_the_account_even_for_the_right_password(env: Env) -> None:
    for _ in range(3):
        assert env.login("carol", "guessing wrong again").status_code == 401
    locked = env.login("carol")
    assert locked.status_code == 403 and "locked until" in locked.json()["detail"]
    guess = env.login("carol", "still guessing")  # the lock is told only to the right password
    assert guess.status_code == 401 and guess.json() == {"detail": "wrong user name or password"}
    with env.context.sessions() as session:
        user = get_user(session, "carol")
        assert user is not None and user.locked(datetime.now(UTC))
    assert audit_actions(env, "carol")[-5:] == ["login_failed"] * 5


def test_refresh_rotates_and_logout_revokes(env: Env) -> None:
    first = env.token("dave")
    refreshed = env.client.post(f"{API}/auth/refresh", headers=bearer(first))
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()["access_token"]
    assert second != first
    old = env.me(first)
    assert old.status_code == 401 and "revoked" in old.json()["detail"]
    assert env.me(second).status_code == 200
    assert env.client.post(f"{API}/auth/logout", headers=bearer(second)).status_code == 204
    gone = env.client.get(f"{API}/cases", headers=bearer(second))
    assert gone.status_code == 401 and "revoked" in gone.json()["detail"]
    assert audit_actions(env, "dave")[-2:] == ["token_refresh", "logout"]


def test_api_keys_cannot_refresh_or_log_out(env: Env) -> None:
    reply = env.client.post(f"{API}/auth/logout", headers={"X-API-Key": env.admin_key})
    assert reply.status_code == 422 and "session token" in reply.json()["detail"]


def test_disabling_a_user_ends_their_sessions_and_logins(env: Env) -> None:
    token = env.token("erin")
    assert env.me(token).json()["capabilities"] == ["audit_read", "case_review", "signed_in"]
    with env.context.sessions() as session:
        disable_user(session, "erin")
        session.commit()
    assert env.me(token).status_code == 401
    refused = env.login("erin")
    assert refused.status_code == 403 and "disabled" in refused.json()["detail"]


# ---- signed links handed to users and OIDC callers ---------------------------------------------


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_links_handed_to_a_user_work_until_the_user_is_disabled(env: Env) -> None:
    with env.context.sessions() as session:
        create_user(session, "gina", "viewer", hash_password(PASSWORD))
        add_grant(session, "test", user_id=get_user(session, "gina").id, group_name="north")  # type: ignore[union-attr]
        session.commit()
    track = env.client.get(f"{API}/tracks/{env.car_track}", headers=bearer(env.token("gina")))
    assert track.status_code == 200, track.text
    picture = local(track.json()["thumbnail_url"])
    assert "holder=u" in picture
    assert env.client.get(picture, follow_redirects=False).status_code == 307
    with env.context.sessions() as session:
        fetch = [e for e in audit_entries(session) if e.action == "object_access"][-1]
        assert (fetch.principal, fetch.role) == ("gina", "viewer")
        disable_user(session, "gina")
        session.commit()
    refused = env.client.get(picture, follow_redirects=False)
    assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
    moved = picture.replace("holder=u", "holder=u9")
    assert env.client.get(moved, follow_redirects=False).status_code == 403


def test_links_handed_to_an_oidc_caller_name_it(env: Env) -> None:
    track = env.client.get(f"{API}/tracks/{env.car_track}", headers=bearer(oidc_token(env)))
    assert track.status_code == 200, track.text
    picture = local(track.json()["thumbnail_url"])
    assert env.client.get(picture, follow_redirects=False).status_code == 307
    with env.context.sessions() as session:
        fetch = [e for e in audit_entries(session) if e.action == "object_access"][-1]
    assert (fetch.principal, fetch.role) == ("oidc:insp.li", "investigator")


# ---- bad tokens: clear 401, nothing changed ----------------------------------------------------


def case_count(env: Env) -> int:
    with env.context.sessions() as session:
        return len(list_cases(session))


def session_claims(env: Env) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(env.token("alice"), options={"verify_signature": False})
    return claims


@pytest.mark.parametrize(
    ("forge", "detail"),
    [
        ("expired", "session token expired"),
        ("other-key", "signature is invalid"),
        ("tampered", "signature is invalid"),
        ("alg-none", "invalid session token"),
        ("unknown-jti", "revoked"),
        ("foreign-issuer", "is not trusted"),
        ("garbage", "malformed token"),
    ],
)
def test_bad_session_tokens_are_refused_and_change_nothing(
    env: Env, forge: str, detail: str
) -> None:
    claims = session_claims(env)
    key = env.context.accounts.session_key
    if forge == "expired":
        with env.context.sessions() as session:
            user = get_user(session, "alice")
            assert user is not None
            issued = issue_session_token(
                session, env.context.accounts, user, datetime.now(UTC) - timedelta(hours=2)
            )
            session.commit()
        token = issued.token
    elif forge == "other-key":
        token = jwt.encode(claims, b"x" * 32, algorithm="HS256")
    elif forge == "tampered":
        header, _payload, signature = jwt.encode(claims, key, algorithm="HS256").split(".")
        other = {**claims, "sub": str(int(claims["sub"]) + 1)}  # another user
        raised = jwt.encode(other, b"y" * 32, algorithm="HS256").split(".")[1]
        token = f"{header}.{raised}.{signature}"
    elif forge == "alg-none":
        token = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    elif forge == "unknown-jti":
        token = jwt.encode({**claims, "jti": "made-up"}, key, algorithm="HS256")
    elif forge == "foreign-issuer":
        token = jwt.encode({**claims, "iss": "https://evil.test"}, key, algorithm="HS256")
    else:
        token = "abc.def.ghi"
    before = case_count(env)
    reply = env.client.post(f"{API}/cases", json={"title": "sneaky"}, headers=bearer(token))
    assert reply.status_code == 401 and detail in reply.json()["detail"], reply.text
    assert reply.headers["www-authenticate"] == "ApiKey, Bearer"
    assert case_count(env) == before


def test_a_revoked_api_key_used_again_is_401_and_changes_nothing(env: Env) -> None:
    with env.context.sessions() as session:
        key = create_api_key(session, "batch-job", "investigator")
        session.commit()
    headers = {"X-API-Key": key}
    assert env.client.post(f"{API}/cases", json={"title": "ok"}, headers=headers).status_code == 201
    keys = env.client.get(f"{API}/keys", headers={"X-API-Key": env.admin_key}).json()
    key_id = next(k["id"] for k in keys if k["name"] == "batch-job" and k["revoked_at"] is None)
    revoke = env.client.delete(f"{API}/keys/{key_id}", headers={"X-API-Key": env.admin_key})
    assert revoke.status_code == 204
    before = case_count(env)
    again = env.client.post(f"{API}/cases", json={"title": "again"}, headers=headers)
    assert again.status_code == 401 and "revoked" in again.json()["detail"]
    assert case_count(env) == before


# ---- OIDC --------------------------------------------------------------------------------------


def oidc_token(env: Env, algorithm: str = "RS256", signer: Any = None, **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": IDP, "aud": "skynet", "sub": "u-4711", "preferred_username": "insp.li",
        "skynet_role": "investigator", "skynet_camera_groups": ["north"],
        "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp()),
        **overrides,
    }  # fmt: skip
    key = signer or (env.rsa_key if algorithm == "RS256" else env.ec_key)
    kid = "rsa-1" if algorithm == "RS256" else "ec-1"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_the_oidc_issuers_tokens_are_accepted(env: Env, algorithm: str) -> None:
    me = env.me(oidc_token(env, algorithm)).json()
    assert (me["name"], me["role"], me["kind"]) == ("oidc:insp.li", "investigator", "oidc")
    assert me["camera_ids"] == ["north-1", "north-2"]
    every = env.me(oidc_token(env, algorithm, skynet_camera_groups=["*"])).json()
    assert every["camera_ids"] is None


def hs256_by_hand(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token whose secret is the issuer's public key (the algorithm-confusion attack;
    PyJWT will not sign one itself)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(mac)}"


def test_bad_oidc_tokens_are_refused(env: Env) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = env.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": IDP, "aud": "skynet", "sub": "x", "exp": now + 60, "skynet_role": "admin"}
    cases = {
        "signed by another key": (oidc_token(env, signer=stranger), "OIDC token refused"),
        "wrong audience": (oidc_token(env, aud="another-app"), "not for audience"),
        "expired": (oidc_token(env, exp=now - 60, iat=now - 600), "expired"),
        "unknown role": (oidc_token(env, skynet_role="superuser"), "is not a role here"),
        "no role": (oidc_token(env, skynet_role=None), "is not a role here"),
        "HS256 with the public key": (hs256_by_hand(claims, public_pem), "OIDC token refused"),
    }  # fmt: skip
    for what, (token, detail) in cases.items():
        reply = env.me(token)
        assert reply.status_code == 401, what
        assert detail in reply.json()["detail"], (what, reply.json())


def test_oidc_keys_read_from_pem(tmp_path: Path, env: Env) -> None:
    pem = tmp_path / "keys.pem"
    pem.write_bytes(
        b"".join(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            for key in (env.rsa_key, env.ec_key)
        )
    )
    keys = OidcIssuer.read_keys(pem)
    assert [k.algorithm_name for k in keys] == ["RS256", "ES256"]
    (tmp_path / "empty.pem").write_text("nothing here")
    with pytest.raises(ValueError, match="no public key"):
        OidcIssuer.read_keys(tmp_path / "empty.pem")


# ---- user and camera-group administration ------------------------------------------------------


def test_admins_manage_users_grants_and_groups_through_the_api(env: Env) -> None:
    admin = {"X-API-Key": env.admin_key}
    made = env.client.post(
        f"{API}/users", json={"name": "hana", "role": "viewer", "password": PASSWORD}, headers=admin
    )
    assert made.status_code == 201 and made.json()["role"] == "viewer", made.text
    again = env.client.post(
        f"{API}/users", json={"name": "hana", "role": "viewer", "password": PASSWORD}, headers=admin
    )
    assert again.status_code == 409
    short = env.client.post(
        f"{API}/users", json={"name": "ivan", "role": "viewer", "password": "short"}, headers=admin
    )
    assert short.status_code == 422 and "password" in short.json()["detail"]
    group = env.client.post(f"{API}/camera-groups", json={"name": "south"}, headers=admin)
    assert group.status_code == 201
    moved = env.client.put(f"{API}/cameras/south-1/group", json={"group": "south"}, headers=admin)
    assert moved.status_code == 204
    unknown = env.client.put(f"{API}/cameras/south-1/group", json={"group": "x"}, headers=admin)
    assert unknown.status_code == 422 and "no camera group 'x'" in unknown.json()["detail"]
    granted = env.client.post(f"{API}/users/hana/grants", json={"group": "south"}, headers=admin)
    assert granted.status_code == 201 and granted.json()["group"] == "south"
    assert env.me(env.token("hana")).json()["camera_ids"] == ["south-1"]
    listed = env.client.get(f"{API}/users/hana/grants", headers=admin).json()
    assert [g["group"] for g in listed] == ["south"]
    removed = env.client.delete(f"{API}/users/hana/grants?group=south", headers=admin)
    assert removed.status_code == 204
    assert (
        env.client.delete(f"{API}/users/hana/grants?group=south", headers=admin).status_code == 404
    )
    disabled = env.client.post(f"{API}/users/hana/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert env.login("hana").status_code == 403
    groups = env.client.get(f"{API}/camera-groups", headers=admin).json()
    assert {g["name"]: g["camera_ids"] for g in groups}["south"] == ["south-1"]
    assert audit_actions(env, "root")[-6:] == [
        "user_create", "camera_group_create", "camera_group_assign", "grant_add", "grant_remove",
        "user_disable",
    ]  # fmt: skip
    as_user = env.client.get(f"{API}/users", headers=bearer(env.token("alice")))
    assert as_user.status_code == 403 and "access_admin" in as_user.json()["detail"]
