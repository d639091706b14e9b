"""One typed settings object, read from the environment and validated when built."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "leadq"
DEFAULT_MAX_CLOCK_SKEW_S = 300.0


class Settings(BaseSettings):
    """leadq configuration; field names map to the contract's environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    topic_prefix: str = Field(default="", validation_alias="LEADQ_TOPIC_PREFIX")
    rules: str = Field(default="default", validation_alias="LEADQ_RULES")
    # A second ruleset evaluated on the same events, writing only to its own topic.
    shadow_rules: str | None = Field(default=None, validation_alias="LEADQ_SHADOW_RULES")
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, validation_alias="LEADQ_DATA_DIR")
    # A worker serves /healthz, /readyz and /metrics on LEADQ_WEB_HOST:LEADQ_WEB_PORT when
    # the port is set (each worker on one machine its own port).
    web_port: int | None = Field(default=None, ge=0, le=65535, validation_alias="LEADQ_WEB_PORT")
    web_host: str = Field(default="127.0.0.1", validation_alias="LEADQ_WEB_HOST")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, validation_alias="KAFKA_SASL_MECHANISM"
    )
    sasl_username: str | None = Field(default=None, validation_alias="KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD")
    ssl_cafile: Path | None = Field(default=None, validation_alias="KAFKA_SSL_CAFILE")

    # Worker tuning (not part of the public contract; sensible defaults).
    app_id: str = Field(default="leadq", validation_alias="LEADQ_APP_ID")
    partitions: int = Field(default=4, ge=1, validation_alias="LEADQ_PARTITIONS")
    replication_factor: int = Field(default=1, ge=1, validation_alias="LEADQ_REPLICATION_FACTOR")
    store: Literal["rocksdb://", "memory://"] = Field(
        default="rocksdb://", validation_alias="LEADQ_STORE"
    )
    # Time-driven changes (demotion on decay) and SLA events: how often the timer looks for
    # due leads, how often it rebuilds its index from the local table partitions, and its
    # clock: "event" (the latest event time processed while input waits, the wall clock once
    # the input is read to its end; never ahead of the wall clock) or "wall".
    timer_clock: Literal["event", "wall"] = Field(
        default="event", validation_alias="LEADQ_TIMER_CLOCK"
    )
    timer_interval_s: float = Field(default=1.0, gt=0, validation_alias="LEADQ_TIMER_INTERVAL_S")
    timer_rescan_s: float = Field(default=300.0, gt=0, validation_alias="LEADQ_TIMER_RESCAN_S")
    # An input event whose occurred_at lies further ahead of the wall clock than this, when
    # it is read, is dead-lettered as `from_future` (a producer's clock or a typo).
    max_clock_skew_s: float = Field(
        default=DEFAULT_MAX_CLOCK_SKEW_S, ge=0, validation_alias="LEADQ_MAX_CLOCK_SKEW_S"
    )

    # The events-by-lead records the ingest stage writes: "compact" (msgpack), or "json", as
    # releases before the compact form wrote them and can read them (for a rolling upgrade
    # from such a release; every worker reads both).
    rekey_format: Literal["compact", "json"] = Field(
        default="compact", validation_alias="LEADQ_REKEY_FORMAT"
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_has_host_and_port(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(
                    f"KAFKA_BOOTSTRAP_SERVERS entry {server!r} must look like host:port"
                )
        return value

    @field_validator("shadow_rules")
    @classmethod
    def _no_shadow_when_empty(cls, value: str | None) -> str | None:
        return value if value else None

    @property
    def bootstrap_list(self) -> list[str]:
        """Bootstrap servers as a list of host:port strings."""
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    def topic(self, name: str) -> str:
        """The full name of a contract topic, with the deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def worker_group(self) -> str:
        """The consumer group of the workers' faust app (the events-by-lead topic)."""
        return f"{self.topic_prefix}{self.app_id}"

    @property
    def ingest_group(self) -> str:
        """The consumer group of the workers' ingest loops (the input topics)."""
        return f"{self.worker_group}-ingest"
