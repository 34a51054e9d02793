"""SSH signatures (SSHSIG) made and checked by the stock `ssh-keygen -Y`, and discovery of usable keys.

Signing may need the operator: a passphrase, a FIDO touch, an agent confirmation. `sign` then lets
ssh-keygen talk to the terminal (the TUI suspends itself around the call); without a terminal it runs
detached from any tty so it can never hang on a prompt, and an encrypted key fails with a clear message.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploytui.core.errors import DeployError
from deploytui.core.record import NAMESPACE, normalise_armor

SSH_KEYGEN_TIMEOUT = 30.0
"""Seconds a non-interactive ssh-keygen may take (an agent that asks for confirmation can take a while)."""

INTERACTIVE_TIMEOUT = 300.0
"""Seconds an interactive signing may take: the operator types a passphrase or touches a security key."""


class SigningError(DeployError):
    """A signature could not be made: key missing or unusable, passphrase needed without a terminal, ..."""


@dataclass(frozen=True)
class SigningKey:
    """A key that can sign: a public key file on disk, or a key held by ssh-agent (no file needed)."""

    public_key: str
    """The OpenSSH public key line: type, base64, comment."""
    source: str
    """"agent" or "file"."""
    path: Path | None = None
    """The .pub file (or None for an agent key that has no file)."""

    @property
    def key_type(self) -> str:
        return self.public_key.split()[0]

    @property
    def comment(self) -> str:
        parts = self.public_key.split(None, 2)
        return parts[2] if len(parts) > 2 else ""

    @property
    def fingerprint(self) -> str:
        return fingerprint_of_blob(base64.b64decode(self.public_key.split()[1]))

    @property
    def label(self) -> str:
        where = "agent" if self.source == "agent" else str(self.path)
        return f"{self.key_type} {self.fingerprint} {self.comment} ({where})".replace("  ", " ")


def fingerprint_of_blob(blob: bytes) -> str:
    """`SHA256:...` as ssh-keygen -l prints it, from a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if not found:
        raise SigningError("ssh-keygen not found: install openssh-client")
    return found


def _env(overrides: dict[str, str] | None = None, interactive: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if overrides:
        env.update(overrides)
    if not interactive:
        # Never pop up a graphical askpass nor wait on one.
        env["SSH_ASKPASS_REQUIRE"] = "never"
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    return env


# --- key discovery ----------------------------------------------------------------------------------


def agent_keys(env: dict[str, str] | None = None) -> list[SigningKey]:
    """Keys held by ssh-agent ($SSH_AUTH_SOCK), or [] when no agent answers."""
    environ = _env(env)
    if not environ.get("SSH_AUTH_SOCK") or not shutil.which("ssh-add"):
        return []
    try:
        proc = subprocess.run(
            ["ssh-add", "-L"], capture_output=True, env=environ, timeout=SSH_KEYGEN_TIMEOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    keys = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if _looks_like_public_key(line):
            keys.append(SigningKey(line.strip(), "agent"))
    return keys


def file_keys(ssh_dir: Path | None = None) -> list[SigningKey]:
    """Public keys in ~/.ssh/*.pub (or `ssh_dir`): signable when the private key sits beside the .pub or
    the agent holds it (ssh-keygen tries both). Certificates are left out."""
    directory = ssh_dir if ssh_dir is not None else Path.home() / ".ssh"
    keys = []
    try:
        candidates = sorted(directory.glob("*.pub"))
    except OSError:
        return []
    for pub in candidates:
        try:
            line = pub.read_text(encoding="utf-8", errors="replace").strip().splitlines()[0]
        except (OSError, IndexError):
            continue
        if _looks_like_public_key(line) and not line.split()[0].endswith("-cert-v01@openssh.com"):
            keys.append(SigningKey(line, "file", pub))
    return keys


def discover_keys(env: dict[str, str] | None = None, ssh_dir: Path | None = None) -> list[SigningKey]:
    """Keys the operator can sign with: ssh-agent's first, then ~/.ssh/*.pub; one entry per key (an agent
    key that also has a .pub file keeps the path, so ssh-keygen uses the agent through that file)."""
    found: dict[str, SigningKey] = {}
    files = {k.fingerprint: k for k in file_keys(ssh_dir)}
    for key in agent_keys(env):
        on_disk = files.get(key.fingerprint)
        path = on_disk.path if on_disk else None
        found.setdefault(key.fingerprint, SigningKey(key.public_key, "agent", path))
    for fp, key in files.items():
        found.setdefault(fp, key)
    return list(found.values())


def _looks_like_public_key(line: str) -> bool:
    parts = line.split()
    if len(parts) < 2 or not (parts[0].startswith(("ssh-", "ecdsa-", "sk-"))):
        return False
    try:
        base64.b64decode(parts[1], validate=True)
    except ValueError:
        return False
    return True


# --- signing ----------------------------------------------------------------------------------------


def has_terminal() -> bool:
    """True when ssh-keygen could ask the operator something: stdin is a tty and /dev/tty opens."""
    try:
        if not sys.stdin or not sys.stdin.isatty():
            return False
        fd = os.open("/dev/tty", os.O_RDWR)
    except (OSError, ValueError):
        return False
    os.close(fd)
    return True


def sign(
    body: bytes,
    key: str | Path | SigningKey,
    *,
    env: dict[str, str] | None = None,
    interactive: bool | None = None,
) -> str:
    """The armored SSHSIG of `body` in namespace deploytui-record, made by `ssh-keygen -Y sign -f KEY`.

    KEY is a private key file, or a public key (file or agent entry) whose private half is in ssh-agent
    ($SSH_AUTH_SOCK, from `env` or the process environment). `interactive` (default: a terminal is
    there) lets ssh-keygen ask for a passphrase or a touch on the terminal; otherwise it runs with no
    terminal at all and an encrypted key fails with a SigningError that says what to do.
    """
    if interactive is None:
        interactive = has_terminal()
    keygen = ssh_keygen()
    with tempfile.TemporaryDirectory(prefix="deploytui-sign-") as tmp:
        key_file, key_name = _key_file(key, Path(tmp))
        data = Path(tmp) / "record.md"
        data.write_bytes(body)
        cmd = [keygen, "-q", "-Y", "sign", "-n", NAMESPACE, "-f", str(key_file), str(data)]
        environ = _env(env, interactive)
        try:
            if interactive:
                # The terminal is ssh-keygen's: prompts and messages go there, nothing is captured.
                proc = subprocess.run(
                    cmd, env=environ, timeout=INTERACTIVE_TIMEOUT, stdout=sys.stderr.fileno()
                    if _has_fileno(sys.stderr) else None, check=False,
                )
                message = "see ssh-keygen's message above"
            else:
                proc = subprocess.run(
                    cmd, env=environ, timeout=SSH_KEYGEN_TIMEOUT, capture_output=True,
                    stdin=subprocess.DEVNULL, start_new_session=True, check=False,
                )
                message = _last_line(proc.stderr)
        except subprocess.TimeoutExpired:
            what = "ssh-keygen did not finish signing within the time limit"
            raise SigningError(what, path=key_name) from None
        except OSError as exc:
            raise SigningError(f"cannot run ssh-keygen: {exc}", path=key_name) from None
        signature = data.with_name(data.name + ".sig")
        if proc.returncode != 0 or not signature.exists():
            why = _explain_sign_failure(key_file, message, interactive, environ)
            raise SigningError(why, path=key_name)
        return normalise_armor(signature.read_text(encoding="ascii"))


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False
    return True


def _key_file(key: str | Path | SigningKey, tmp: Path) -> tuple[Path, str]:
    """A path ssh-keygen can take with -f, and the name to show in errors."""
    if isinstance(key, SigningKey):
        if key.path is not None:
            return _key_file(key.path, tmp)
        pub = tmp / "agent-key.pub"
        pub.write_text(key.public_key + "\n", encoding="utf-8")
        return pub, f"agent key {key.fingerprint}"
    path = Path(key).expanduser()
    if not path.is_file():
        raise SigningError("no such key file", path=path)
    if not os.access(path, os.R_OK):
        raise SigningError("key file is not readable", path=path)
    return path, str(path)


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _explain_sign_failure(key_file: Path, message: str, interactive: bool, env: dict[str, str]) -> str:
    if key_file.suffix == ".pub":
        if not env.get("SSH_AUTH_SOCK"):
            return (
                f"{key_file.name} is a public key and no ssh-agent is running (SSH_AUTH_SOCK is not set): "
                "give the private key, or ssh-add it first"
            )
        return f"the agent does not hold this key ({message}): ssh-add the private key, or give it with --key"
    if not interactive and _is_encrypted(key_file):
        return (
            "the key is protected by a passphrase and there is no terminal to ask for it: "
            f"run `ssh-add {key_file}` and sign with {key_file}.pub, or sign from a terminal"
        )
    return f"ssh-keygen could not sign: {message}"


def _is_encrypted(key_file: Path) -> bool:
    """True when the private key needs a passphrase (ssh-keygen cannot read it with an empty one)."""
    try:
        proc = subprocess.run(
            [ssh_keygen(), "-y", "-P", "", "-f", str(key_file)], capture_output=True,
            stdin=subprocess.DEVNULL, start_new_session=True, timeout=SSH_KEYGEN_TIMEOUT, check=False,
            env=_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode != 0 and b"passphrase" in proc.stderr.lower()


# --- inspecting and verifying -----------------------------------------------------------------------


@dataclass(frozen=True)
class SshSig:
    """The fields of an SSHSIG blob (PROTOCOL.sshsig) that a reader wants to see."""

    key_type: str
    public_key: bytes
    namespace: str
    hash_algorithm: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of_blob(self.public_key)

    @property
    def key_fingerprint(self) -> str:
        """The fingerprint of the key itself: for a certificate, of the key it certifies (as ssh-keygen
        prints it), so two certificates of one key count as one key."""
        return fingerprint_of_blob(plain_key_blob(self.public_key))

    @property
    def public_key_line(self) -> str:
        return f"{self.key_type} {base64.b64encode(self.public_key).decode()}"


CERT_SUFFIX = "-cert-v01@openssh.com"

_CERT_KEY_FIELDS = {
    "ssh-ed25519": 1,
    "ssh-rsa": 2,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "sk-ssh-ed25519@openssh.com": 2,
    "sk-ecdsa-sha2-nistp256@openssh.com": 3,
}
"""Key type -> how many wire strings its public key has in a certificate (after the nonce)."""


def _wire_string(blob: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(blob):
        raise ValueError("truncated key blob")
    (n,) = struct.unpack(">I", blob[pos : pos + 4])
    if pos + 4 + n > len(blob):
        raise ValueError("truncated key blob")
    return blob[pos + 4 : pos + 4 + n], pos + 4 + n


def plain_key_blob(blob: bytes) -> bytes:
    """A public key blob, or for an OpenSSH certificate the blob of the key it certifies (PROTOCOL.certkeys:
    type, nonce, then the key's own fields). A blob we cannot read is returned as it is."""
    try:
        key_type, pos = _wire_string(blob, 0)
        name = key_type.decode("ascii")
        if not name.endswith(CERT_SUFFIX):
            return blob
        plain = name[: -len(CERT_SUFFIX)]
        count = _CERT_KEY_FIELDS[plain]
        _nonce, pos = _wire_string(blob, pos)
        start = pos
        for _ in range(count):
            _value, pos = _wire_string(blob, pos)
    except (ValueError, KeyError, UnicodeDecodeError):
        return blob
    encoded = plain.encode("ascii")
    return struct.pack(">I", len(encoded)) + encoded + blob[start:pos]


def parse_sshsig(armor: str) -> SshSig:
    """Decode an armored SSHSIG; ValueError when it is not one."""
    lines = normalise_armor(armor).strip().split("\n")
    blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    if not blob.startswith(b"SSHSIG"):
        raise ValueError("not an SSHSIG blob")
    pos = 6
    (version,) = struct.unpack(">I", blob[pos : pos + 4])
    pos += 4
    if version != 1:
        raise ValueError(f"unsupported SSHSIG version {version}")

    def string() -> bytes:
        nonlocal pos
        if pos + 4 > len(blob):
            raise ValueError("truncated SSHSIG blob")
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        pos += 4
        if pos + n > len(blob):
            raise ValueError("truncated SSHSIG blob")
        value = blob[pos : pos + n]
        pos += n
        return value

    public_key = string()
    namespace = string().decode("utf-8", "replace")
    string()  # reserved
    hash_algorithm = string().decode("utf-8", "replace")
    string()  # the signature itself
    key_type_len = struct.unpack(">I", public_key[:4])[0] if len(public_key) >= 4 else 0
    key_type = public_key[4 : 4 + key_type_len].decode("utf-8", "replace")
    return SshSig(key_type, public_key, namespace, hash_algorithm)


@dataclass(frozen=True)
class Verdict:
    good: bool
    message: str
    """ssh-keygen's last line (why it failed, or the 'Good signature' line)."""


def _run_with_sig(args: list[str], armor: str, body: bytes) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="deploytui-verify-") as tmp:
        sig = Path(tmp) / "record.sig"
        sig.write_text(armor, encoding="ascii")
        args = [a if a != "{sig}" else str(sig) for a in args]
        return subprocess.run(
            [ssh_keygen(), *args], input=body, capture_output=True, timeout=SSH_KEYGEN_TIMEOUT,
            start_new_session=True, check=False, env=_env(),
        )


def _verdict(args: list[str], armor: str, body: bytes) -> Verdict:
    """Run a checking `ssh-keygen -Y` command: good when it exits 0, with its last line of output."""
    try:
        proc = _run_with_sig(args, armor, body)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Verdict(False, f"ssh-keygen failed: {exc}")
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return Verdict(proc.returncode == 0, lines[-1] if lines else f"ssh-keygen exit {proc.returncode}")


def verify(body: bytes, armor: str, allowed_signers: Path, principal: str) -> Verdict:
    """`ssh-keygen -Y verify`: the signature is over `body`, in our namespace, by a key that
    allowed_signers lets `principal` use (validity window included)."""
    return _verdict(
        ["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE, "-s", "{sig}"],
        armor,
        body,
    )


def check_novalidate(body: bytes, armor: str) -> Verdict:
    """The signature is a valid signature of `body` in our namespace, whoever made it."""
    return _verdict(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", "{sig}"], armor, body)


def find_principals(armor: str, allowed_signers: Path) -> list[str]:
    """Principals that allowed_signers lets the signature's key act as (`ssh-keygen -Y find-principals`)."""
    try:
        proc = _run_with_sig(["-Y", "find-principals", "-f", str(allowed_signers), "-s", "{sig}"], armor, b"")
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
