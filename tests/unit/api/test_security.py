"""Where the api may listen without a token, and the bearer check."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

from streams.api.security import bearer_check, binding_problem, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("api.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_loopback_address_needs_a_token_or_insecure_mode() -> None:
    assert binding_problem("127.0.0.1", has_token=False, insecure=False) is None
    assert binding_problem("0.0.0.0", has_token=True, insecure=False) is None
    assert binding_problem("0.0.0.0", has_token=False, insecure=True) is None
    problem = binding_problem("0.0.0.0", has_token=False, insecure=False)
    assert problem is not None
    assert "LEADQ_API_TOKEN" in problem
    assert "LEADQ_API_INSECURE=1" in problem
    assert "\n" not in problem


@pytest.mark.asyncio
async def test_the_bearer_check_takes_only_the_token() -> None:
    check = bearer_check("s3cr3t-én")
    await check(HTTPAuthorizationCredentials(scheme="Bearer", credentials="s3cr3t-én"))
    for credentials in (None, HTTPAuthorizationCredentials(scheme="Bearer", credentials="s3cr3t")):
        with pytest.raises(HTTPException) as raised:
            await check(credentials)
        assert raised.value.status_code == 401
        assert "s3cr3t" not in str(raised.value.detail)
