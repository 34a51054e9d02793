"""Masking of secret values in every text that leaves a check: output, reasons, logs, events, records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

MIN_SECRET_LENGTH = 4
"""Shorter values are not masked: masking 'a' or '1' would shred every text and hide nothing."""


def mask(name: str) -> str:
    """What a secret value is replaced with: its name only."""
    return f"[secret:{name}]"


class Redactor:
    """Replaces every known secret value (and its URL-encoded and URL-password parts) with its name."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        for name, value in (secrets or {}).items():
            self.add(name, value)

    def add(self, name: str, value: str | None) -> None:
        if not value:
            return
        for variant in _variants(value):
            if len(variant) >= MIN_SECRET_LENGTH:
                self._values.setdefault(variant, name)
        self._pattern = None

    def extend(self, secrets: Iterable[tuple[str, str]]) -> None:
        for name, value in secrets:
            self.add(name, value)

    @property
    def names(self) -> list[str]:
        return sorted(set(self._values.values()))

    @property
    def values(self) -> list[str]:
        return list(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def redact(self, text: str) -> str:
        if not self._values or not text:
            return text
        if self._pattern is None:
            # Longest first, so a value that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern.sub(lambda m: mask(self._values[m.group(0)]), text)

    def redact_bytes(self, data: bytes) -> bytes:
        if not self._values:
            return data
        out = data
        for value in sorted(self._values, key=len, reverse=True):
            out = out.replace(value.encode("utf-8", "surrogateescape"), mask(self._values[value]).encode())
        return out


def _variants(value: str) -> set[str]:
    """The value, its URL-quoted and unquoted forms, and the password of a URL."""
    found = {value, quote(value, safe=""), unquote(value)}
    if "://" in value:
        try:
            parts = urlsplit(value)
            if parts.password:
                found.add(parts.password)
                found.add(unquote(parts.password))
        except ValueError:
            pass
    return {v for v in found if v}


def mask_url_password(url: str) -> str:
    """`url` as it may be shown: its password (if any) replaced with `***` (a store URL in a message,
    the app's header or a log); the URL is returned unchanged when it has none or does not parse."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostport}").geturl()
