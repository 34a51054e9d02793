"""The redactor masks each secret in every form it can take in a text: across the lines of a multi-line
value (however the lines are joined), each of the value's long lines alone, base64 / base64url (alone
and inside longer encoded text at every alignment), hex in both cases, percent-encoded, and the password
of any URL (learned, then masked wherever it shows up). A stream masks a value split between pieces."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from deploytui.checks.kinds.secrets_exposure import found_names
from deploytui.core.redact import MAX_LEARNED, Redactor

TOKEN = "tok-Env-7f3a9c2e1b"
SHORT_LINES = "ab12cd\nef34gh\nij56kl"
"""A multi-line value whose lines are too short to be masked one by one: only the whole is."""
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDQx7Vb9yQ2kLm3\n"
    "pR8sT1uV4wX6yZ0aB2cD5eF7gH9iJ1kL3mN5oP7qR9sT1uV3wX5yZ7aB9cD1eF3g\n"
    "-----END PRIVATE KEY-----"
)


def redactor() -> Redactor:
    return Redactor({"TOKEN": TOKEN, "LINES": SHORT_LINES, "PEM": PEM})


@pytest.mark.parametrize(
    "joined",
    [
        SHORT_LINES,
        SHORT_LINES.replace("\n", "\r\n"),
        SHORT_LINES.replace("\n", "\n    "),  # indented, as in a fenced record or a YAML block
        SHORT_LINES.replace("\n", "\\n"),  # JSON, repr
        SHORT_LINES.replace("\n", " "),  # one_line, tr '\n' ' '
        SHORT_LINES.replace("\n", ""),
    ],
    ids=["lf", "crlf", "indented", "escaped", "spaces", "nothing"],
)
def test_a_multi_line_value_is_masked_across_its_lines_however_they_are_joined(joined: str) -> None:
    assert redactor().redact(f"key: {joined} end") == "key: [secret:LINES] end"


def test_each_long_line_of_a_multi_line_value_is_masked_alone() -> None:
    # A tail cut in the middle of the key (an excerpt's first lines, a re-wrapped key) still hides it.
    body = PEM.split("\n")[2]
    assert redactor().redact(f"...\n{body}\n-----END") == "...\n[secret:PEM]\n-----END"
    assert redactor().redact("ab12cd alone") == "ab12cd alone"  # short lines only as a whole


def test_a_value_within_json_is_masked_in_its_escaped_form() -> None:
    r = Redactor({"QUOTED": 'pa"ss\\word'})
    assert r.redact(json.dumps({"v": 'x pa"ss\\word y'})) == '{"v": "x [secret:QUOTED] y"}'


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(TOKEN.encode()).decode(),
        base64.b64encode(TOKEN.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(TOKEN.encode()).decode(),
        TOKEN.encode().hex(),
        TOKEN.encode().hex().upper(),
        quote(TOKEN, safe=""),
    ],
    ids=["base64", "base64-unpadded", "base64url", "hex", "HEX", "percent"],
)
def test_encoded_forms_of_a_value_are_masked(encoded: str) -> None:
    assert redactor().redact(f"a {encoded} b") == "a [secret:TOKEN] b"


def test_forms_that_differ_for_a_value_with_special_characters() -> None:
    value = "key/Do+tEnv?9b 7c"  # base64 with + and /, percent and plus encodings that differ
    r = Redactor({"KEY": value})
    data = value.encode()
    for form in (
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
    ):
        assert r.redact(f"<{form}>") == "<[secret:KEY]>", form


@pytest.mark.parametrize("before", [b"", b"x", b"xy", b"TOKEN=", b"{\"token\": \""])
def test_base64_of_a_text_holding_the_value_masks_the_value_at_every_alignment(before: bytes) -> None:
    # `echo TOKEN=$TOKEN | base64`, a Kubernetes secret, a Basic header: the value inside longer data.
    encoded = base64.b64encode(before + TOKEN.encode() + b"\n").decode()
    masked = redactor().redact(encoded)
    assert "[secret:TOKEN]" in masked
    # What is left around the mask decodes to no more than two bytes of the value at each end.
    left, right = masked.split("[secret:TOKEN]")
    assert len(left) <= len(base64.b64encode(before)) and len(right) <= 8


def test_a_url_password_is_masked_in_place_whatever_its_length_then_everywhere() -> None:
    r = Redactor()
    assert r.redact("GET http://admin:pw@127.0.0.1/x") == "GET http://admin:[secret:password]@127.0.0.1/x"
    basic = base64.b64encode(b"admin:pw").decode()
    assert r.redact(f"Authorization: Basic {basic}") == "Authorization: Basic [secret:password]"
    assert r.redact("pw stays: too short to mask alone") == "pw stays: too short to mask alone"
    r.redact("redis://:Hunter2-inline@127.0.0.1:6379/0")
    assert r.redact("AUTH Hunter2-inline failed") == "AUTH [secret:password] failed"
    assert r.redact(base64.b64encode(b"Hunter2-inline").decode()) == "[secret:password]"
    assert r.names == []  # learned passwords are not configured secrets


def test_learn_urls_masks_a_password_before_any_text_shows_it() -> None:
    r = Redactor()
    r.learn_urls("postgresql://app:S3cret-pass@db/app")
    assert r.redact("password S3cret-pass rejected") == "password [secret:password] rejected"


def test_a_url_password_that_is_a_known_value_keeps_that_values_name() -> None:
    r = Redactor({"DB_PASSWORD": "Zq8-w2Lr-pw"})
    text = "postgresql://app:Zq8-w2Lr-pw@127.0.0.1/app"
    assert r.redact(text) == "postgresql://app:[secret:DB_PASSWORD]@127.0.0.1/app"
    assert r.redact("postgresql://app:[secret:DB_PASSWORD]@h/") == "postgresql://app:[secret:DB_PASSWORD]@h/"


def test_learning_stops_at_a_bound_but_urls_are_still_masked_in_place() -> None:
    r = Redactor()
    r.redact(" ".join(f"http://u:pass-{n:04d}@h/" for n in range(MAX_LEARNED + 10)))
    assert r.redact(f"pass-{MAX_LEARNED + 5:04d}") == f"pass-{MAX_LEARNED + 5:04d}"
    assert r.redact("http://u:pass-9999@h/") == "http://u:[secret:password]@h/"


def test_exposure_counts_configured_secrets_only() -> None:
    r = Redactor({"TOKEN": TOKEN})
    assert found_names(f"postgresql://a:Other-pass@h/ and {TOKEN}", r) == {"TOKEN"}


def test_values_too_short_are_not_masked() -> None:
    assert Redactor({"X": "abc"}).redact("abc abcabc") == "abc abcabc"


# ------------------------------------------------------------------------------------------- streams


def test_a_stream_masks_a_value_split_between_two_pieces() -> None:
    stream = redactor().stream()
    out = stream.feed("start\nkey:\nab12cd\n")
    out += stream.feed("ef34gh\nij56kl\nafter\n")
    out += stream.finish()
    assert out == "start\nkey:\n[secret:LINES]\nafter\n"


def test_a_stream_releases_every_whole_line_at_once_when_no_value_spans_lines() -> None:
    stream = Redactor({"TOKEN": TOKEN}).stream()
    assert stream.feed(f"one {TOKEN}\ntwo\n") == "one [secret:TOKEN]\ntwo\n"
    assert not stream.holding
    assert stream.feed("partial li") == ""  # a partial line could still end in a value
    assert stream.feed(f"ne {TOKEN[:5]}") == ""
    assert stream.feed(f"{TOKEN[5:]}\n") == "partial line [secret:TOKEN]\n"


def test_a_stream_holds_no_more_than_the_longest_multi_line_value() -> None:
    r = redactor()
    stream = r.stream()
    released = stream.feed("".join(f"line {n}\n" for n in range(1000)))
    held = stream.finish()
    assert released and len(held) <= r.longest + len("line 999\n")
    assert released + held == "".join(f"line {n}\n" for n in range(1000))
