"""A small, strict dotenv reader (files are read, never written).

Accepted, one assignment a line:

    # comment
    NAME=value                 unquoted: trimmed; ` #` starts a comment
    export NAME=value          `export ` is ignored (files shared with a shell)
    NAME='literal $value'      single quotes: taken as is, no escapes
    NAME="line\\nnext \\"q\\""    double quotes: \\n \\t \\r \\" \\\\ \\$ escapes; may span lines
    NAME=                      empty value

Values are not interpolated (`${OTHER}` stays literal): a dotenv file holds values, and [vars] in
deploytui.toml is where references are expanded. Anything else is an error naming the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

from deploytui.core.errors import DeployError

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(
    text: str, path: str | Path = "<dotenv>", lines_of: dict[str, int] | None = None
) -> dict[str, str]:
    """NAME -> value, later assignments winning. DeployError naming path:line on a malformed line.
    `lines_of`, when given, is filled with the line each name's value was assigned on."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].lstrip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        m = _NAME_RE.match(line)
        if not m:
            raise DeployError("expected NAME=value", path=path, line=number)
        name = m.group(0)
        rest = line[m.end() :].lstrip(" \t")
        if not rest.startswith("="):
            raise DeployError(f"expected '=' after {name}", path=path, line=number)
        rest = rest[1:].lstrip(" \t")
        if rest.startswith("'"):
            end = rest.find("'", 1)
            if end < 0:
                raise DeployError(f"unterminated single quote in {name}", path=path, line=number)
            value, after = rest[1:end], rest[end + 1 :]
        elif rest.startswith('"'):
            value, after, i = _double_quoted(rest, lines, i, name, path, number)
        else:
            value, after = _unquoted(rest), ""
        after = after.strip()
        if after and not after.startswith("#"):
            raise DeployError(
                f"unexpected text after the value of {name}: {after[:20]!r}", path=path, line=number
            )
        values[name] = value
        if lines_of is not None:
            lines_of[name] = number
    return values


def _unquoted(rest: str) -> str:
    m = re.search(r"\s#", rest)
    if m:
        rest = rest[: m.start()]
    return rest.strip()


def _double_quoted(
    rest: str, lines: list[str], i: int, name: str, path: str | Path, number: int
) -> tuple[str, str, int]:
    """The value of a double-quoted string starting at rest[0], reading further lines if it spans them."""
    out: list[str] = []
    text = rest[1:]
    while True:
        j = 0
        while j < len(text):
            c = text[j]
            if c == "\\" and j + 1 < len(text):
                nxt = text[j + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                j += 2
                continue
            if c == '"':
                return "".join(out), text[j + 1 :], i
            out.append(c)
            j += 1
        if i >= len(lines):
            raise DeployError(f"unterminated double quote in {name}", path=path, line=number)
        out.append("\n")
        text = lines[i]
        i += 1


def load_dotenv(path: str | Path) -> dict[str, str]:
    """Read and parse a dotenv file; DeployError naming the file when it cannot be read."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError("env file not found", path=p) from None
    except UnicodeDecodeError as exc:
        raise DeployError(f"env file is not UTF-8 ({exc.reason})", path=p) from None
    except OSError as exc:
        raise DeployError(f"cannot read the env file: {exc.strerror}", path=p) from None
    return parse_dotenv(text, p)


def dotenv_lines(path: str | Path) -> dict[str, int]:
    """NAME -> the line of a dotenv file its value is assigned on (empty when the file cannot be read)."""
    lines_of: dict[str, int] = {}
    try:
        parse_dotenv(Path(path).read_text(encoding="utf-8"), path, lines_of)
    except (OSError, UnicodeDecodeError, DeployError):
        return {}
    return lines_of
