"""The SASL_SSL listener: SCRAM credentials, a local CA and keystore, client settings."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streams.broker.errors import BrokerError, shorten
from streams.broker.java import find_keytool
from streams.broker.net import host_port, port_free
from streams.broker.storage import is_formatted

__all__ = [
    "CA_FILE",
    "CLIENT_ENV_FILE",
    "SCRAM_MECHANISM",
    "SECURE_DIR",
    "SECURE_LISTENER",
    "BrokerSecurity",
    "SecureFiles",
]

SECURE_LISTENER = "SASL_SSL"
SCRAM_MECHANISM = "SCRAM-SHA-512"
SECURE_DIR = "secure"
"""The directory, in a broker's data directory, of everything its SASL_SSL listener needs."""
CA_FILE = "ca.pem"
CLIENT_ENV_FILE = "client.env"

_SCRAM_ITERATIONS = 8192
_SCRAM_MARKER = "scram-user"  # in the secure dir: the SCRAM user the storage was formatted with
_KEYTOOL_TIMEOUT = 60.0  # seconds for one `keytool` command


@dataclass(frozen=True)
class BrokerSecurity:
    """An extra SASL_SSL listener with SCRAM-SHA-512 authentication and a local CA.

    The broker keeps its PLAINTEXT listener (tooling, the readiness probe) and gets a
    ``SASL_SSL`` one on ``port`` whose certificate a self-signed CA signs; clients trust
    ``<data_dir>/secure/ca.pem``. The SCRAM user is created when the storage is formatted,
    from a salted password computed here: the password itself is never on a command line,
    in a configuration file or in a log. ``password`` None: the one this data directory
    was first started with, else a new random one (kept in ``secure/sasl.password``,
    readable only by its owner). The password is not part of ``repr()``.
    """

    port: int
    username: str = "leadq"
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise BrokerError(
                f"the SASL_SSL port {self.port} is not a TCP port; choose a number between "
                "1024 and 65535."
            )
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.username):
            raise BrokerError(
                f"the SCRAM user name {self.username!r} is not usable; use 1 to 64 letters, "
                "digits, dots, dashes or underscores."
            )


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _write_secret(path: Path, text: str) -> None:
    """Write a file only its owner can read (created that way: never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def _run_keytool(keytool: Path, args: list[str], env: Mapping[str, str]) -> None:
    try:
        done = subprocess.run(
            [str(keytool), *args],
            capture_output=True,
            text=True,
            timeout=_KEYTOOL_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            env=dict(env),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BrokerError(
            f"running keytool failed ({exc}); check the JDK installation or start the broker "
            "without security."
        ) from exc
    if done.returncode != 0:
        lines = [line for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
        reason = shorten(lines[-1]) if lines else f"exit code {done.returncode}"
        raise BrokerError(
            f"creating the broker's TLS certificate with keytool {args[0]} failed ({reason}); "
            "check the JDK installation or start the broker without security."
        )


def _subject_alt_names(hosts: Iterable[str]) -> str:
    names = ["dns:localhost", "ip:127.0.0.1", "ip:::1"]
    for host in hosts:
        if host in ("", "0.0.0.0", "::"):
            continue
        try:
            entry = f"ip:{ipaddress.ip_address(host)}"
        except ValueError:
            entry = f"dns:{host}"
        if entry not in names:
            names.append(entry)
    return ",".join(names)


@dataclass(frozen=True)
class SecureFiles:
    """The ``secure/`` directory of a broker with ``security``, under its data directory.

    It holds the local CA's certificate, the server keystore and its password, the SCRAM
    password, the SCRAM user the storage was formatted with and the clients' settings.
    """

    path: Path
    security: BrokerSecurity

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) that clients of the SASL_SSL listener trust."""
        return self.path / CA_FILE

    @property
    def client_env_file(self) -> Path:
        """KAFKA_* variables for clients of the SASL_SSL listener (owner-only file)."""
        return self.path / CLIENT_ENV_FILE

    @property
    def password_file(self) -> Path:
        """The SCRAM password (owner-only file)."""
        return self.path / "sasl.password"

    @property
    def server_keystore(self) -> Path:
        """The broker's key and certificate chain (PKCS12, owner-only file)."""
        return self.path / "server.p12"

    @property
    def keystore_password_file(self) -> Path:
        """The password of the server keystore (owner-only file)."""
        return self.path / "keystore.password"

    def check_port(self, host: str, controller_port: int) -> None:
        """The SASL_SSL port must be free on ``host`` and differ from ``controller_port``."""
        port = self.security.port
        if port == controller_port:
            raise BrokerError(
                f"the SASL_SSL port {port} is the controller port; choose another SASL_SSL port."
            )
        if not port_free(host, port):
            raise BrokerError(
                f"the SASL_SSL port {port} is in use by another process; "
                "stop it or choose another SASL_SSL port."
            )

    def sasl_password(self) -> str:
        """The SCRAM password of the SASL_SSL listener's user (created on first use)."""
        stored = _read_secret(self.password_file)
        if self.security.password is not None:
            if stored is not None and stored != self.security.password:
                raise BrokerError(
                    f"the broker of {self.path.parent} was set up with another SCRAM password; "
                    "use that one (see its secure/client.env) or another data directory."
                )
            if stored is None:
                _write_secret(self.password_file, self.security.password)
            return self.security.password
        if stored is not None:
            return stored
        password = secrets.token_urlsafe(24)
        _write_secret(self.password_file, password)
        return password

    def scram_credential(self) -> str:
        """The ``--add-scram`` argument: a salted password, so the password stays private."""
        salt = secrets.token_bytes(32)
        salted = hashlib.pbkdf2_hmac(
            "sha512", self.sasl_password().encode("utf-8"), salt, _SCRAM_ITERATIONS
        )
        return (
            f"{SCRAM_MECHANISM}=[name={self.security.username},iterations={_SCRAM_ITERATIONS},"
            f'salt="{base64.b64encode(salt).decode()}",'
            f'saltedpassword="{base64.b64encode(salted).decode()}"]'
        )

    def record_scram_user(self) -> None:
        """Note that the storage was just formatted with this SCRAM user."""
        (self.path / _SCRAM_MARKER).write_text(self.security.username, encoding="utf-8")

    def check_scram_user(self, storage_dir: Path) -> None:
        """A storage formatted without this SCRAM user cannot authenticate it."""
        if not is_formatted(storage_dir):
            return
        try:
            user = (self.path / _SCRAM_MARKER).read_text(encoding="utf-8")
        except OSError:
            user = None
        if user != self.security.username:
            raise BrokerError(
                f"the broker storage in {storage_dir} was created without the SCRAM user "
                f"{self.security.username!r}; start it without security, or delete "
                f"{self.path.parent} (or use another --data-dir) to start a secure one."
            )

    def ensure_tls_material(self, java: Path, hosts: Iterable[str]) -> None:
        """A local CA, a server keystore it signed and the CA's PEM, made once with keytool.

        The certificate names localhost, the loopback addresses and ``hosts``.
        """
        secure = self.path
        secure.mkdir(parents=True, exist_ok=True)
        secure.chmod(0o700)
        if self.server_keystore.is_file() and self.ca_file.is_file():
            return
        keytool = find_keytool(java)
        store_password = _read_secret(self.keystore_password_file)
        if store_password is None:
            store_password = secrets.token_urlsafe(24)
            _write_secret(self.keystore_password_file, store_password)
        tmp = Path(tempfile.mkdtemp(prefix=".tls-", dir=secure))
        try:
            files = {
                "ca_store": tmp / "ca.p12",
                "server_store": tmp / "server.p12",
                "request": tmp / "server.csr",
                "signed": tmp / "server.pem",
                "ca_pem": tmp / "ca.pem",
            }
            key = "-keyalg EC -groupname secp256r1 -validity 3650"
            san = f"SAN={_subject_alt_names(hosts)}"
            steps = [
                f"-genkeypair -alias ca -dname CN=leadq-local-ca -ext bc:c {key}"
                " -keystore {ca_store}",
                "-exportcert -rfc -alias ca -file {ca_pem} -keystore {ca_store}",
                f"-genkeypair -alias broker -dname CN=leadq-local-broker -ext {san} {key}"
                " -keystore {server_store}",
                "-certreq -alias broker -file {request} -keystore {server_store}",
                f"-gencert -rfc -alias ca -infile {{request}} -outfile {{signed}} -validity 3650"
                f" -ext {san} -ext KU=digitalSignature -ext EKU=serverAuth"
                " -keystore {ca_store}",
                "-importcert -noprompt -alias ca -file {ca_pem} -keystore {server_store}",
                "-importcert -noprompt -alias broker -file {signed} -keystore {server_store}",
            ]
            common = ["-storetype", "PKCS12", "-storepass:env", "LEADQ_KEYSTORE_PASSWORD"]
            env = {**os.environ, "LEADQ_KEYSTORE_PASSWORD": store_password}
            for step in steps:
                # Placeholders are filled in after splitting: paths may contain spaces.
                args = [part.format_map(files) for part in step.split()]
                _run_keytool(keytool, [*args, *common], env)
            files["server_store"].chmod(0o600)
            files["server_store"].replace(self.server_keystore)
            files["ca_pem"].replace(self.ca_file)  # last: it marks the material complete
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def listener_properties(
        self, props: Mapping[str, str], host: str, advertised_host: str
    ) -> dict[str, str]:
        """The SASL_SSL listener's entries (no secret but the local keystore's password).

        ``props`` are the plaintext broker's entries whose listener lists they extend.
        """
        name = SECURE_LISTENER.lower()
        prefix = f"listener.name.{name}"
        secure = self.security.port
        return {
            "listeners": f"{props['listeners']},{SECURE_LISTENER}://{host_port(host, secure)}",
            "advertised.listeners": (
                f"{props['advertised.listeners']},"
                f"{SECURE_LISTENER}://{host_port(advertised_host, secure)}"
            ),
            "listener.security.protocol.map": (
                f"{props['listener.security.protocol.map']},{SECURE_LISTENER}:{SECURE_LISTENER}"
            ),
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            f"{prefix}.sasl.enabled.mechanisms": SCRAM_MECHANISM,
            f"{prefix}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            f"{prefix}.ssl.keystore.type": "PKCS12",
            f"{prefix}.ssl.keystore.location": str(self.server_keystore),
            f"{prefix}.ssl.keystore.password": _read_secret(self.keystore_password_file) or "",
            f"{prefix}.ssl.client.auth": "none",
        }

    def client_env(self, bootstrap: str) -> dict[str, str]:
        """The contract's environment variables for a client of the listener on ``bootstrap``."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_SECURITY_PROTOCOL": SECURE_LISTENER,
            "KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            "KAFKA_SASL_USERNAME": self.security.username,
            "KAFKA_SASL_PASSWORD": self.sasl_password(),
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }

    def write_client_env(self, bootstrap: str) -> None:
        """Write :meth:`client_env` to :attr:`client_env_file`, readable only by its owner."""
        lines = [f"{name}={value}" for name, value in self.client_env(bootstrap).items()]
        _write_secret(self.client_env_file, "\n".join(lines) + "\n")
