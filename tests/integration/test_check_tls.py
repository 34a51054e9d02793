"""kind = "tls" against uvicorn with certificates made in the test: valid, expired, wrong host, untrusted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deploytui.checks.kinds.tls import Kind
from deploytui.core.status import Status
from tests.servers.common import free_port
from tests.servers.target_app import HungServer, TargetServer, TLSFiles, make_tls_files
from tests.support.engine_helpers import run_one


async def test_valid_certificate_passes_with_values(
    target_app_tls: TargetServer, tls_files: TLSFiles
) -> None:
    outcome, _ = await run_one(
        "tls",
        url=target_app_tls.url,
        ca_file=str(tls_files.ca_file),
        expect={"days_left": 30, "min_version": "TLSv1.2"},
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["days_left"] in (88, 89, 90)
    assert outcome.values["subject"] == "CN=localhost"
    assert outcome.values["issuer"] == "CN=deploytui test CA"
    assert str(outcome.values["version"]).startswith("TLSv1.")


async def test_host_and_port_form_and_ip_address(target_app_tls: TargetServer, tls_files: TLSFiles) -> None:
    outcome, _ = await run_one(
        "tls", host="127.0.0.1", port=str(target_app_tls.port), ca_file=str(tls_files.ca_file)
    )
    assert outcome.status is Status.PASSED, outcome.reason


async def test_expiring_soon_fails_days_left(target_app_tls: TargetServer, tls_files: TLSFiles) -> None:
    outcome, _ = await run_one(
        "tls", url=target_app_tls.url, ca_file=str(tls_files.ca_file), expect={"days_left": 365}
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("certificate expires in 8")
    assert outcome.reason.endswith("expected at least 365")


async def test_untrusted_certificate(target_app_tls: TargetServer) -> None:
    outcome, _ = await run_one("tls", url=target_app_tls.url)
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("certificate not trusted: unable to get local issuer certificate")


async def test_a_ca_file_trusted_by_one_check_is_not_trusted_by_the_next(
    target_app_tls: TargetServer, tls_files: TLSFiles
) -> None:
    # Checks without a ca_file share one context of the system's trust (built once a process); a check
    # with one builds its own, so what it adds never reaches the shared one.
    untrusted_before, _ = await run_one("tls", url=target_app_tls.url)
    trusted, _ = await run_one("tls", url=target_app_tls.url, ca_file=str(tls_files.ca_file))
    untrusted_after, _ = await run_one("tls", url=target_app_tls.url)
    assert trusted.status is Status.PASSED, trusted.reason
    for outcome in (untrusted_before, untrusted_after):
        assert outcome.status is Status.FAILED and outcome.reason.startswith("certificate not trusted")


async def test_expired_certificate(tmp_path: Path, target_app_factory: Callable[..., TargetServer]) -> None:
    files = make_tls_files(tmp_path / "expired", expired=True)
    app = target_app_factory(tls=files)
    outcome, _ = await run_one("tls", url=app.url, ca_file=str(files.ca_file))
    assert (outcome.status, outcome.reason) == (Status.FAILED, "certificate expired")


async def test_hostname_mismatch(tmp_path: Path, target_app_factory: Callable[..., TargetServer]) -> None:
    files = make_tls_files(tmp_path / "other", hostnames=("other.example",))
    app = target_app_factory(tls=files)
    outcome, _ = await run_one("tls", url=app.url, ca_file=str(files.ca_file))
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("certificate does not match localhost: Hostname mismatch")
    sni, _ = await run_one(
        "tls", host="127.0.0.1", port=app.port, server_name="other.example", ca_file=str(files.ca_file)
    )
    assert sni.status is Status.PASSED, sni.reason


async def test_refused_plain_http_and_hung(target_app: TargetServer, hung_server: HungServer) -> None:
    port = free_port()
    refused, _ = await run_one("tls", host="127.0.0.1", port=port)
    assert refused.reason == f"connection refused by 127.0.0.1:{port}"
    plain, _ = await run_one("tls", host="127.0.0.1", port=target_app.port)
    assert plain.status is Status.FAILED
    assert plain.reason.startswith(f"TLS handshake with 127.0.0.1:{target_app.port} failed")
    hung, _ = await run_one("tls", host="127.0.0.1", port=hung_server.port, timeout=1)
    assert (hung.status, hung.reason) == (Status.FAILED, "timed out after 1s")


async def test_bad_ca_file_is_an_error(tmp_path: Path, target_app_tls: TargetServer) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    outcome, _ = await run_one("tls", url=target_app_tls.url, ca_file=str(junk))
    assert outcome.status is Status.ERROR
    assert outcome.reason.startswith(f"CA file {junk} is not a PEM certificate")


def test_validation() -> None:
    assert Kind.validate({}) == ['kind \'tls\' needs url = "https://host[:port]" or host = "name"']
    assert Kind.validate({"host": "h", "expect": {"min_version": "SSLv3"}}) == [
        "min_version must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"
    ]
