"""Connection settings for aiokafka clients and the faust worker, built from Settings."""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import Settings


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context when the security protocol uses SSL (CA file from settings, else system)."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    from aiokafka.helpers import create_ssl_context

    cafile = str(settings.ssl_cafile) if settings.ssl_cafile is not None else None
    context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    return context


def _sasl(settings: Settings) -> tuple[str, str | None, str | None] | None:
    """(mechanism, username, password) when the security protocol uses SASL."""
    if settings.security_protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
        return None
    password = (
        settings.sasl_password.get_secret_value() if settings.sasl_password is not None else None
    )
    return settings.sasl_mechanism or "PLAIN", settings.sasl_username, password


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments that connect an aiokafka producer, consumer or admin client."""
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_list}
    if settings.security_protocol == "PLAINTEXT":
        return kwargs
    kwargs["security_protocol"] = settings.security_protocol
    context = _ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    sasl = _sasl(settings)
    if sasl is not None:
        mechanism, username, password = sasl
        kwargs["sasl_mechanism"] = mechanism
        kwargs["sasl_plain_username"] = username
        kwargs["sasl_plain_password"] = password
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """The faust `broker_credentials` for the settings' security protocol (None: plaintext)."""
    if settings.security_protocol == "PLAINTEXT":
        return None
    from faust.auth import SASLCredentials, SSLCredentials

    context = _ssl_context(settings)
    sasl = _sasl(settings)
    if sasl is None:
        return SSLCredentials(context)
    mechanism, username, password = sasl
    # faust derives SASL_SSL from the presence of an ssl_context, SASL_PLAINTEXT otherwise.
    return SASLCredentials(
        username=username, password=password, ssl_context=context, mechanism=mechanism
    )
