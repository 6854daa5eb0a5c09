"""Authorization figures for BENCHMARKS.md (issue #17): the generated role × endpoint ×
camera-scope matrix run against the real API, plus bad credentials (expired, forged, alg-none,
revoked and foreign-issuer session tokens, a revoked API key) each sent to a write endpoint.

Writes to bench/results/security.json: authz_cases (matrix probes sent), authz_failures (probes
answered otherwise than the capability table says), authz_routes, authz_roles,
authz_bad_credential_cases and authz_bad_credential_failures (not a 401, or something
changed), authz_probe_ms_p50 / _p95 (one probe: catalog copy + request), authz_date, machine.

    python -m bench.authz
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from bench.live import machine_description
from index.catalog import create_api_key, list_cases, revoke_api_key
from index.catalog.accounts import create_user
from index.passwords import hash_password
from search_api.access import ROLES
from search_api.tokens import issue_session_token
from tests.api.authz_matrix import MATRIX, MatrixEnv, app_routes, matrix_env, probes

RESULTS = Path(__file__).parent / "results" / "security.json"
PASSWORD = "bench password 1234"


def run_matrix(env: MatrixEnv) -> tuple[int, int, list[float]]:
    """(probes sent, failures, per-probe milliseconds)."""
    sent, failures, timings = 0, 0, []
    for route in app_routes(env.app):
        entry = MATRIX.get((route.method, route.path))
        if entry is None:
            raise SystemExit(f"no matrix entry for {route.method} {route.path}")
        if entry.public:
            continue
        for probe in probes(route, entry, env.world):
            started = time.perf_counter()
            status = env.send(probe, entry, sent)
            timings.append((time.perf_counter() - started) * 1000)
            sent += 1
            if not probe.passes(status):
                failures += 1
                print("FAIL", probe, status)
    return sent, failures, timings


def bad_credentials(env: MatrixEnv) -> tuple[int, int]:
    """Each bad credential sent to POST /cases: (cases, failures: not 401 or a case made)."""
    context, client = env.context, env.client
    with context.sessions() as session:
        user = create_user(session, "bench-user", "investigator", hash_password(PASSWORD))
        expired = issue_session_token(
            session, context.accounts, user, datetime.now(UTC) - timedelta(hours=1)
        ).token
        key = create_api_key(session, "bench-revoked", "investigator")
        revoke_api_key(session, "bench-revoked")
        session.commit()
    login = client.post("/api/v1/auth/login", json={"name": "bench-user", "password": PASSWORD})
    token = login.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    logged_out = client.post(
        "/api/v1/auth/login", json={"name": "bench-user", "password": PASSWORD}
    )
    revoked = logged_out.json()["access_token"]
    client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {revoked}"})
    credentials = {
        "expired": {"Authorization": f"Bearer {expired}"},
        "forged": {"Authorization": f"Bearer {jwt.encode(claims, b'x' * 32, 'HS256')}"},
        "alg-none": {"Authorization": f"Bearer {jwt.encode(claims, None, 'none')}"},  # type: ignore[arg-type]
        "revoked-jti": {"Authorization": f"Bearer {revoked}"},
        "foreign-issuer": {
            "Authorization": "Bearer "
            + jwt.encode({**claims, "iss": "https://x"}, context.accounts.session_key, "HS256")
        },
        "revoked-key": {"X-API-Key": key},
        "no-credentials": {},
    }
    failures = 0
    for what, headers in credentials.items():
        with context.sessions() as session:
            before = len(list_cases(session))
        reply = client.post("/api/v1/cases", json={"title": what}, headers=headers)
        with context.sessions() as session:
            changed = len(list_cases(session)) != before
        if reply.status_code != 401 or changed:
            failures += 1
            print("FAIL", what, reply.status_code, reply.text)
    return len(credentials), failures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-authz-") as root, matrix_env(Path(root)) as env:
        sent, failures, timings = run_matrix(env)
        bad_cases, bad_failures = bad_credentials(env)
        routes = len([r for r in app_routes(env.app) if not MATRIX[(r.method, r.path)].public])
    figures = {
        "authz_cases": sent,
        "authz_failures": failures,
        "authz_routes": routes,
        "authz_roles": len(ROLES),
        "authz_bad_credential_cases": bad_cases,
        "authz_bad_credential_failures": bad_failures,
        "authz_probe_ms_p50": round(statistics.median(timings), 2),
        "authz_probe_ms_p95": round(statistics.quantiles(timings, n=20)[-1], 2),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {
        **previous,
        **figures,
        "authz_date": datetime.now(UTC).date().isoformat(),
        "authz_machine": f"{machine_description()} (shared)",
    }
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
