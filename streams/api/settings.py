"""The api's own settings (its token, insecure mode, lag bound), read from the environment."""

from __future__ import annotations

from typing import Final

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT: Final = 6066


class ApiSettings(BaseSettings):
    """`leadq api` settings beyond the common ones (Kafka, topics, ruleset, host and port)."""

    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, populate_by_name=True
    )

    # With a token, every endpoint but /healthz and /readyz needs `Authorization: Bearer`.
    token: SecretStr | None = Field(default=None, validation_alias="LEADQ_API_TOKEN")
    # Serve a non-loopback address without a token (behind a proxy that authenticates).
    insecure: bool = Field(default=False, validation_alias="LEADQ_API_INSECURE")
    # /readyz answers 503 while the api is more records than this behind what it reads.
    max_lag: int = Field(default=10_000, ge=0, validation_alias="LEADQ_API_MAX_LAG")

    @field_validator("token")
    @classmethod
    def _no_empty_token(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None
