"""The shared expectation mechanics every kind uses (deploytui/checks/expect.py)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from deploytui.checks.expect import (
    check_status,
    compare,
    condition_reason,
    network_reason,
    parse_condition,
    percentile,
    status_matches,
)
from deploytui.core.redact import Redactor
from deploytui.core.text import excerpt, one_line


def test_compare_and_conditions() -> None:
    assert compare(3, "<", 4) and not compare(4, "<", 4) and compare("a", "==", "a")
    assert not compare("a", "<", 1)  # not comparable: False, not a crash
    with pytest.raises(ValueError, match="unknown comparison"):
        compare(1, "<>", 2)
    assert parse_condition("< 0.01") == ("<", 0.01)
    assert parse_condition(">= 30%") == (">=", 0.3)
    assert parse_condition(5) == ("==", 5.0)
    with pytest.raises(ValueError):
        parse_condition("about 5")
    assert condition_reason("error_rate", 0.05, "< 0.01") == "error_rate is 0.05, expected < 0.01"
    assert condition_reason("error_rate", 0.001, "< 0.01") is None
    assert condition_reason("hit_rate", None, ">= 30%") == "hit_rate has no value, expected >= 0.3"


def test_status_expectations() -> None:
    assert status_matches(204, "2xx") and status_matches(404, [400, 404]) and not status_matches(500, "4xx")
    assert not status_matches(200, True)  # type: ignore[arg-type]
    assert check_status(500, 200) == "status 500, expected 200"
    assert check_status(503, [200, 204]) == "status 503, expected 200 or 204"
    assert check_status(201, "2xx") is None


def test_percentile_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) == 50 and percentile(samples, 95) == 95 and percentile([7.0], 95) == 7


def test_excerpt_is_the_clean_redacted_tail() -> None:
    text = "\n".join(f"line {n}" for n in range(100)) + "\n\x1b[31mkey hunter2-secret\x1b[0m\x00"
    out = excerpt(text, Redactor({"KEY": "hunter2-secret"}))
    lines = out.splitlines()
    assert len(lines) == 20 and lines[-1] == "key [secret:KEY]" and lines[0] == "line 81"
    long = excerpt("x" * 10_000)
    assert len(long) < 500 and long.endswith("more chars]")


def test_one_line() -> None:
    assert one_line("a\nb\r\n\tc \x1b[1md\x1b[0m") == "a b c d"
    assert len(one_line("y" * 1000)) == 300


def test_network_reasons_distinguish_failures() -> None:
    refused = ConnectionRefusedError(111, "refused")
    assert network_reason(refused, "db:5432") == "connection refused by db:5432"
    assert network_reason(socket.gaierror(-2, "Name or service not known"), "db.internal:5432") == (
        "DNS lookup failed for db.internal:5432"
    )
    assert network_reason(TimeoutError(), "h:1") == "timed out reaching h:1"
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    assert network_reason(verify, "h:443") == "TLS certificate not trusted for h:443: self-signed certificate"
    # wrapped by a client library: the cause chain is followed
    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as inner:
            raise httpx.ConnectError("[Errno -2] Name or service not known") from inner
    except httpx.ConnectError as wrapped:
        assert network_reason(wrapped, "api.internal:443") == "DNS lookup failed for api.internal:443"
    assert network_reason(ValueError("bad"), "x") is None


def test_a_wrapped_tls_or_dns_failure_is_named_by_its_cause_not_by_the_wrappers_errno() -> None:
    """aiohttp wraps a TLS failure in an OSError carrying the inner errno (1): taken for a generic socket
    error, it read `cannot reach h:443: ...`, hiding that the certificate is the problem."""

    class Wrapper(OSError):  # like aiohttp's ClientConnectorError
        pass

    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "hostname mismatch"
    try:
        try:
            raise verify
        except ssl.SSLCertVerificationError as inner:
            raise Wrapper(1, "Cannot connect to host h:443 ssl:True") from inner
    except Wrapper as wrapped:
        assert network_reason(wrapped, "h:443") == "TLS certificate not trusted for h:443: hostname mismatch"
    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as inner:
            raise Wrapper(-2, "Cannot connect to host api.internal:443") from inner
    except Wrapper as wrapped:
        assert network_reason(wrapped, "api.internal:443") == "DNS lookup failed for api.internal:443"
    assert network_reason(Wrapper(113, "No route to host"), "h:1") == "cannot reach h:1: No route to host"
