"""Who may use the api: the loopback rule, and bearer tokens compared in constant time."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

UNAUTHORIZED = "missing or wrong bearer token"
# Module-level, so that FastAPI can resolve the annotation that names it.
BEARER = HTTPBearer(auto_error=False, description="LEADQ_API_TOKEN")


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def binding_problem(host: str, has_token: bool, insecure: bool) -> str | None:
    """Why the api must not listen on `host` as configured, or None when it may."""
    if is_loopback(host) or has_token or insecure:
        return None
    return (
        f"leadq api would listen on {host}, which is not a loopback address, without a token;"
        " set LEADQ_API_TOKEN (clients then send Authorization: Bearer <token>) or,"
        " behind a proxy that authenticates, LEADQ_API_INSECURE=1"
    )


def bearer_check(token: str) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that lets a request through only with this bearer token."""
    expected = token.encode("utf-8")

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        given = credentials.credentials.encode("utf-8") if credentials is not None else b""
        # compare_digest takes as long for any wrong token of the same length as for the
        # right one: the answer's timing tells nothing about the token.
        if credentials is None or not hmac.compare_digest(given, expected):
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})

    return check
