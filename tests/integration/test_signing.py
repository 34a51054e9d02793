"""SSH signing through the stock ssh-keygen: every key type, the agent path, and what stock tools accept."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui import signing
from deploytui.core.record import NAMESPACE

BODY = "# Deployment record\n\n- [x] ✅ passed — API health check\n".encode()


def make_key(directory: Path, name: str, key_type: str, passphrase: str = "", comment: str = "") -> Path:
    path = directory / name
    extra = ["-b", "2048"] if key_type == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, *extra, "-N", passphrase, "-C", comment or name,
         "-f", str(path)],
        check=True, stdin=subprocess.DEVNULL,
    )
    return path


def allowed_signers(path: Path, entries: list[tuple[str, Path]]) -> Path:
    lines = []
    for principal, pub in entries:
        key_type, key_b64 = pub.read_text().split()[:2]
        lines.append(f'"{principal}" {key_type} {key_b64}')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private ssh-agent on a socket in the test's temp dir; killed afterwards."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not sock.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("ssh-agent did not start")
            time.sleep(0.01)
        yield {"SSH_AUTH_SOCK": str(sock)}
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_signature_of_each_key_type_verifies_with_stock_ssh_keygen(tmp_path: Path, key_type: str) -> None:
    """What deploytui signs, `ssh-keygen -Y verify -f allowed_signers -I principal -n deploytui-record -s sig
    < body` accepts: the README's manual recipe works for ed25519, ECDSA and RSA keys."""
    key = make_key(tmp_path, "key", key_type)
    armor = signing.sign(BODY, key, interactive=False)
    (tmp_path / "body").write_bytes(BODY)
    (tmp_path / "record.sig").write_text(armor)
    allowed = allowed_signers(tmp_path / "allowed_signers", [("Alice Example", key.with_suffix(".pub"))])
    with (tmp_path / "body").open("rb") as stdin:
        proc = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "Alice Example", "-n", NAMESPACE,
             "-s", str(tmp_path / "record.sig")], stdin=stdin, capture_output=True, text=True,
        )
    assert proc.returncode == 0, proc.stderr
    assert "Good" in proc.stdout
    assert signing.verify(BODY, armor, allowed, "Alice Example").good
    assert not signing.verify(BODY + b"x", armor, allowed, "Alice Example").good


def test_fingerprint_matches_ssh_keygen_l(tmp_path: Path) -> None:
    """The fingerprint verify prints is the one `ssh-keygen -l` shows for the signer's key."""
    key = make_key(tmp_path, "key", "ecdsa")
    sig = signing.parse_sshsig(signing.sign(BODY, key, interactive=False))
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(key.with_suffix(".pub"))],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert sig.fingerprint == listed
    assert sig.namespace == NAMESPACE
    assert sig.key_type == "ecdsa-sha2-nistp256"


def test_wrong_principal_and_unknown_key_fail(tmp_path: Path) -> None:
    """A good signature by a key allowed_signers gives to someone else, or by an unlisted key, fails."""
    alice = make_key(tmp_path, "alice", "ed25519")
    mallory = make_key(tmp_path, "mallory", "ed25519")
    allowed = allowed_signers(tmp_path / "allowed", [("alice", alice.with_suffix(".pub"))])
    armor = signing.sign(BODY, mallory, interactive=False)
    assert not signing.verify(BODY, armor, allowed, "alice").good
    assert signing.find_principals(armor, allowed) == []
    good = signing.sign(BODY, alice, interactive=False)
    assert not signing.verify(BODY, good, allowed, "bob").good
    assert signing.find_principals(good, allowed) == ["alice"]


def test_signature_in_another_namespace_does_not_verify(tmp_path: Path) -> None:
    """A signature made for git or files (another namespace) cannot be passed off as a record signature."""
    key = make_key(tmp_path, "key", "ed25519")
    (tmp_path / "body").write_bytes(BODY)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(key), str(tmp_path / "body")],
                   check=True, stdin=subprocess.DEVNULL)
    armor = (tmp_path / "body.sig").read_text()
    allowed = allowed_signers(tmp_path / "allowed", [("alice", key.with_suffix(".pub"))])
    assert not signing.verify(BODY, armor, allowed, "alice").good
    assert not signing.check_novalidate(BODY, armor).good


def test_sign_with_public_key_held_by_agent(tmp_path: Path, agent: dict[str, str]) -> None:
    """KEY may be a .pub whose private half is only in ssh-agent (SSH_AUTH_SOCK honoured)."""
    key = make_key(tmp_path, "agentkey", "ed25519")
    subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **agent}, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    pub_only = tmp_path / "elsewhere" / "agentkey.pub"
    pub_only.parent.mkdir()
    pub_only.write_text(key.with_suffix(".pub").read_text())
    key.unlink()  # only the agent holds the private key now
    armor = signing.sign(BODY, pub_only, env=agent, interactive=False)
    allowed = allowed_signers(tmp_path / "allowed", [("alice", pub_only)])
    assert signing.verify(BODY, armor, allowed, "alice").good

    # Discovery lists the agent's key; signing with the discovered entry (no file needed) works too.
    found = signing.agent_keys(env=agent)
    assert [k.fingerprint for k in found] == [signing.parse_sshsig(armor).fingerprint]
    entry = signing.SigningKey(found[0].public_key, "agent")
    again = signing.sign(BODY, entry, env=agent, interactive=False)
    assert signing.verify(BODY, again, allowed, "alice").good


def test_public_key_not_in_agent_fails_clearly(tmp_path: Path, agent: dict[str, str]) -> None:
    """A .pub whose private key is neither beside it nor in the agent: the error says to ssh-add it."""
    key = make_key(tmp_path, "k", "ed25519")
    key.unlink()
    with pytest.raises(signing.SigningError, match="agent does not hold this key"):
        signing.sign(BODY, key.with_suffix(".pub"), env=agent, interactive=False)
    no_agent = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    with pytest.raises(signing.SigningError, match="no ssh-agent"):
        signing.sign(BODY, key.with_suffix(".pub"), env=no_agent | {"SSH_AUTH_SOCK": ""}, interactive=False)


def test_encrypted_key_without_terminal_fails_clearly_and_does_not_hang(tmp_path: Path) -> None:
    """No tty and a passphrase-protected key: a SigningError saying what to do, never a prompt that waits."""
    key = make_key(tmp_path, "locked", "ed25519", passphrase="correct horse")
    started = time.monotonic()
    with pytest.raises(signing.SigningError, match="passphrase.*ssh-add"):
        signing.sign(BODY, key, interactive=False)
    assert time.monotonic() - started < 10


def test_encrypted_key_added_to_agent_signs_through_its_pub(tmp_path: Path, agent: dict[str, str]) -> None:
    """The remedy the error suggests works: ssh-add the encrypted key once, sign with the .pub."""
    key = make_key(tmp_path, "locked", "ecdsa", passphrase="pw-123456")
    askpass = tmp_path / "askpass.sh"
    askpass.write_text("#!/bin/sh\necho pw-123456\n")
    askpass.chmod(0o700)
    env = {**os.environ, **agent, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, stdin=subprocess.DEVNULL,
                   capture_output=True, start_new_session=True)
    armor = signing.sign(BODY, key.with_suffix(".pub"), env=agent, interactive=False)
    allowed = allowed_signers(tmp_path / "allowed", [("bob", key.with_suffix(".pub"))])
    assert signing.verify(BODY, armor, allowed, "bob").good


def test_missing_key_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(signing.SigningError, match="no such key file") as info:
        signing.sign(BODY, tmp_path / "nope", interactive=False)
    assert info.value.exit_code == 2


def test_discover_keys_in_ssh_dir(tmp_path: Path) -> None:
    """~/.ssh/*.pub are offered (certificates are not keys to sign with)."""
    make_key(tmp_path, "id_ed25519", "ed25519", comment="alice@jump")
    make_key(tmp_path, "id_rsa", "rsa")
    (tmp_path / "junk.pub").write_text("not a key\n")
    keys = signing.discover_keys(env={"SSH_AUTH_SOCK": ""}, ssh_dir=tmp_path)
    assert sorted(k.path.name for k in keys if k.path) == ["id_ed25519.pub", "id_rsa.pub"]
    ed = next(k for k in keys if k.key_type == "ssh-ed25519")
    assert ed.comment == "alice@jump" and ed.fingerprint.startswith("SHA256:") and ed.source == "file"


def test_discover_merges_agent_and_files(tmp_path: Path, agent: dict[str, str]) -> None:
    """A key both in the agent and on disk is listed once, as an agent key that keeps its .pub path."""
    key = make_key(tmp_path, "id_ed25519", "ed25519")
    make_key(tmp_path, "other", "ecdsa")
    subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **agent}, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    keys = signing.discover_keys(env=agent, ssh_dir=tmp_path)
    assert len(keys) == 2
    assert keys[0].source == "agent" and keys[0].path == key.with_suffix(".pub")
    assert keys[1].source == "file"


def test_interactive_signing_asks_the_terminal_for_the_passphrase(tmp_path: Path) -> None:
    """With a terminal, ssh-keygen prompts on it (nothing captured) and signs once the passphrase is typed."""
    import fcntl
    import pty
    import select
    import sys
    import termios

    key = make_key(tmp_path, "locked", "ed25519", passphrase="typed at 2am")
    out = tmp_path / "sig"
    code = (
        "import sys; from pathlib import Path; from deploytui import signing;"
        f"Path({str(out)!r}).write_text(signing.sign(b'body', {str(key)!r}))"
    )
    master, slave = pty.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=controlling_tty, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while b"passphrase" not in seen.lower():
            assert time.monotonic() < deadline, f"no passphrase prompt; saw {seen!r}"
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 1024)
        os.write(master, b"typed at 2am\n")
        assert proc.wait(20) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    allowed = allowed_signers(tmp_path / "allowed", [("alice", key.with_suffix(".pub"))])
    assert signing.verify(b"body", out.read_text(), allowed, "alice").good
