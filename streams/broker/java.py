"""Finding the java launcher (and the JDK's keytool) and checking its version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from streams.broker.errors import BrokerError
from streams.broker.versions import KAFKA_VERSION

__all__ = [
    "MIN_JAVA_VERSION",
    "check_java",
    "find_java",
    "find_keytool",
    "java_command",
    "java_major_version",
]

MIN_JAVA_VERSION = 17
"""Kafka 4.x brokers need Java 17 or newer."""

_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def find_java() -> Path:
    """The java launcher: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else java on PATH."""
    java_home = os.environ.get("JAVA_HOME", "")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise BrokerError(
            f"JAVA_HOME is set to {java_home} but {candidate} is not an executable file; "
            f"point JAVA_HOME at a Java {MIN_JAVA_VERSION}+ installation or unset it "
            "to use java from PATH."
        )
    found = shutil.which("java")
    if found is None:
        raise BrokerError(
            f"Java {MIN_JAVA_VERSION} or newer is needed to run the Kafka broker but no java "
            "was found on PATH or in JAVA_HOME; install a JDK "
            f"(e.g. apt-get install openjdk-{MIN_JAVA_VERSION}-jre-headless) or set JAVA_HOME."
        )
    return Path(found)


def java_major_version(java: Path) -> int:
    """The feature version of a java launcher (8 for ``1.8.0_x``, 17 for ``17.0.x``)."""
    try:
        done = subprocess.run(
            [str(java), "-version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BrokerError(
            f"running `{java} -version` failed ({exc}); repair that Java installation or "
            f"set JAVA_HOME to a working Java {MIN_JAVA_VERSION}+."
        ) from exc
    match = _JAVA_VERSION.search(done.stderr + done.stdout)
    if done.returncode != 0 or match is None:
        raise BrokerError(
            f"could not read the Java version from `{java} -version`; repair that Java "
            f"installation or set JAVA_HOME to a working Java {MIN_JAVA_VERSION}+."
        )
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        major = int(match.group(2))
    return major


def check_java() -> Path:
    """The java launcher to use, after checking that it is Java 17 or newer."""
    java = find_java()
    major = java_major_version(java)
    if major < MIN_JAVA_VERSION:
        raise BrokerError(
            f"Apache Kafka {KAFKA_VERSION} needs Java {MIN_JAVA_VERSION} or newer but {java} "
            f"is Java {major}; install a newer JDK and put it first on PATH or set JAVA_HOME to it."
        )
    return java


def find_keytool(java: Path) -> Path:
    """The JDK's keytool: the one next to ``java``, else keytool on PATH."""
    keytool = java.with_name("keytool")
    if keytool.is_file():
        return keytool
    found = shutil.which("keytool")
    if found is None:
        raise BrokerError(
            f"keytool (part of the JDK) is needed to create the broker's TLS "
            f"certificate but was not found next to {java} or on PATH; install a JDK "
            "or start the broker without security."
        )
    return Path(found)


def java_command(java: Path, libs: Path, options: Iterable[str], *args: str) -> list[str]:
    """The command running ``java`` with ``options`` and the jars in ``libs``, then ``args``."""
    return [str(java), *options, "-Djava.awt.headless=true", "-cp", str(libs / "*"), *args]
