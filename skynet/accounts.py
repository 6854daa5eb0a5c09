"""The sign-in policy the API runs with (issue #17), built from the settings once at start-up:
session-token key and lifetimes, lock-out, login rate limits, and the OIDC issuer if one is
configured."""

from __future__ import annotations

from datetime import timedelta

from index.catalog.accounts import LockoutPolicy
from search_api.login_throttle import LoginThrottle, LoginThrottlePolicy
from search_api.tokens import AccountPolicy, OidcIssuer
from skynet.settings import Settings


def account_policy(settings: Settings) -> AccountPolicy:
    """ValueError naming the setting when an OIDC issuer is set without readable keys."""
    oidc = None
    if settings.oidc_issuer:
        if settings.oidc_keys_path is None:
            raise ValueError("oidc_keys_path: an OIDC issuer needs the issuer's public keys")
        oidc = OidcIssuer(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            keys=OidcIssuer.read_keys(settings.oidc_keys_path),
            role_claim=settings.oidc_role_claim,
            groups_claim=settings.oidc_groups_claim,
            name_claim=settings.oidc_name_claim,
        )
    return AccountPolicy(
        session_key=settings.session_key_bytes(),
        token_ttl=timedelta(seconds=settings.session_token_ttl_s),
        session_max=timedelta(seconds=settings.session_max_s),
        lockout=LockoutPolicy(
            max_failures=settings.login_max_failures,
            window=timedelta(seconds=settings.login_failure_window_s),
            lockout=timedelta(seconds=settings.login_lockout_s),
        ),
        oidc=oidc,
        throttle=LoginThrottle(
            LoginThrottlePolicy(
                window_s=settings.login_rate_window_s,
                per_client=settings.login_rate_per_client,
                per_name=settings.login_rate_per_name,
            )
        ),
    )
