"""kind = "tls": a TLS handshake works; the certificate is trusted, matches the host, is not about to expire.

    [[check]]
    item = "deployment-steps/7-security-verification/https-tls-enabled"
    kind = "tls"
    url = "${PUBLIC_URL:-https://localhost}"     # or host = "example.com" with port = 443
    # server_name = "api.example.com"          # name verified (and sent as SNI); default: the host
    # ca_file = "ca.pem"                       # trust this CA (default: the system store)
    expect = { days_left = 14, min_version = "TLSv1.2" }

Values: days_left, not_after, subject, issuer, version. Reasons: refused, timeout, expired, hostname
mismatch, untrusted, handshake failure, expiring soon, old protocol version.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from deploytui.checks.base import CheckKind
from deploytui.checks.expect import network_reason
from deploytui.checks.kinds.http import shared_ssl_context
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome
from deploytui.core.text import one_line

VERSIONS = {"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}
"""Protocol versions in order, for expect.min_version."""

X509_EXPIRED = 10
X509_HOSTNAME_MISMATCH = 62
X509_UNTRUSTED = frozenset({2, 18, 19, 20, 21})
"""OpenSSL verify codes: no issuer, self-signed, self-signed in chain, no local issuer, leaf only."""


def _name(entries: Any) -> str:
    """'CN=..., O=...' from the tuple-of-tuples form of ssl.getpeercert()."""
    parts: list[str] = []
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C"}
    for rdn in entries or ():
        for key, value in rdn:
            if key in short:
                parts.append(f"{short[key]}={value}")
    return ", ".join(parts)


class Kind(CheckKind):
    name: ClassVar[str] = "tls"
    fields: ClassVar[frozenset[str]] = frozenset({"url", "host", "port", "server_name", "ca_file"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"days_left", "min_version"})
    summary: ClassVar[str] = "TLS handshake, trusted certificate for the host, days before it expires"

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        if "url" not in params and "host" not in params:
            problems.append('kind \'tls\' needs url = "https://host[:port]" or host = "name"')
        expect = params.get("expect")
        if isinstance(expect, Mapping) and "min_version" in expect and expect["min_version"] not in VERSIONS:
            problems.append(f"min_version must be one of {', '.join(VERSIONS)}")
        return problems

    def target(self, spec: CheckSpec, ctx: CheckContext) -> tuple[str, int, str]:
        if "url" in spec.params:
            url = str(ctx.param(spec, "url")).strip()
            parts = urlsplit(url if "://" in url else f"https://{url}")
            host = parts.hostname or ""
            port = parts.port or 443
        else:
            host = str(ctx.param(spec, "host")).strip()
            port = int(str(ctx.param(spec, "port", 443)))
        if not host:
            raise ValueError("no host to connect to")
        server_name = str(ctx.param(spec, "server_name", "") or host)
        return host, port, server_name

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        host, port, server_name = self.target(spec, ctx)
        extra = f" (verifying {server_name})" if server_name != host else ""
        return f"TLS handshake with {host}:{port}{extra}"

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        try:
            host, port, server_name = self.target(spec, ctx)
        except ValueError as exc:
            return Outcome.error(str(exc))
        ca_file = ctx.param(spec, "ca_file", "") or ""
        if not ca_file:
            # The system's trust, built once a process (~20 ms of CPU each, on the event loop) and shared
            # with the http kinds; never changed after it is built.
            context = shared_ssl_context(True, "")
        else:
            context = ssl.create_default_context()  # the system's trust and this CA file
            path = ctx.path(str(ca_file))
            if not path.is_file():
                return Outcome.error(f"CA file {path} does not exist")
            try:
                context.load_verify_locations(cafile=str(path))
            except ssl.SSLError as exc:
                return Outcome.error(f"CA file {path} is not a PEM certificate: {one_line(str(exc), 100)}")
        target = f"{host}:{port}"
        ctx.emit(f"connecting to {target}, verifying {server_name}")
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_name
            )
        except ssl.SSLCertVerificationError as exc:
            return Outcome.failed(self._verify_reason(exc, server_name))
        except ssl.SSLError as exc:
            return Outcome.failed(
                f"TLS handshake with {target} failed: {one_line(exc.reason or str(exc), 120)}"
            )
        except (OSError, asyncio.IncompleteReadError) as exc:
            return Outcome.failed(
                network_reason(exc, target) or f"cannot connect to {target}: {one_line(str(exc))}"
            )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            cert = ssl_object.getpeercert() if ssl_object is not None else None
            version = ssl_object.version() if ssl_object is not None else ""
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, TimeoutError, ssl.SSLError):
                pass
        del reader
        if not cert:
            return Outcome.failed(f"{target} presented no certificate")
        not_after_ts = ssl.cert_time_to_seconds(cert["notAfter"])
        days_left = int((not_after_ts - time.time()) // 86400)
        not_after = datetime.fromtimestamp(not_after_ts, UTC).strftime("%Y-%m-%d")
        values: dict[str, Any] = {
            "days_left": days_left,
            "not_after": not_after,
            "subject": _name(cert.get("subject")),
            "issuer": _name(cert.get("issuer")),
            "version": version or "",
        }
        ctx.emit(f"{version}; subject {values['subject']}; issuer {values['issuer']}; expires {not_after}")
        expect = spec.expect
        wanted_days = expect.get("days_left")
        if wanted_days is not None and days_left < int(wanted_days):
            return Outcome.failed(
                f"certificate expires in {days_left} days ({not_after}), "
                f"expected at least {int(wanted_days)}",
                **values,
            )
        min_version = expect.get("min_version")
        if min_version is not None and VERSIONS.get(version or "", 0) < VERSIONS[str(min_version)]:
            return Outcome.failed(f"negotiated {version}, expected at least {min_version}", **values)
        return Outcome.passed(f"{version}, certificate valid for {days_left} more days", **values)

    @staticmethod
    def _verify_reason(exc: ssl.SSLCertVerificationError, server_name: str) -> str:
        message = one_line(exc.verify_message or exc.reason or str(exc), 120)
        if exc.verify_code == X509_EXPIRED:
            return "certificate expired"
        if exc.verify_code == X509_HOSTNAME_MISMATCH:
            return f"certificate does not match {server_name}: {message}"
        if exc.verify_code in X509_UNTRUSTED:
            return f"certificate not trusted: {message}"
        return f"certificate rejected: {message}"
