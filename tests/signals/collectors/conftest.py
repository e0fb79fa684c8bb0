"""Real parts for the collector framework tests besides the shared stores of tests/conftest.py
(``pg_url``, ``store`` on both backends): a SQLite-only store, and a dovecot IMAP server.

Dovecot (Debian ``dovecot-imapd``) is started from a throwaway config and maildir on a free
loopback port and stopped after the session; without it the IMAP tests fail with a message
saying what to install.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_helpers import ImapServer

from rapport.signals.store import Store

DOVECOT = "/usr/sbin/dovecot"


# --- stores ---------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'rapport.db'}")
    try:
        yield store
    finally:
        store.close()


# --- dovecot --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dovecot_config(root: Path, port: int, password: str) -> str:
    """A self-contained dovecot.conf: IMAP only, loopback only, no TLS, static password."""
    if os.geteuid() == 0:
        # Dovecot refuses to give mail access as root: mail belongs to its own "dovecot" user.
        internal, login = "dovecot", "dovenull"
        mail_user = pwd.getpwnam("dovecot")
    else:
        mail_user = pwd.getpwuid(os.getuid())
        internal = login = mail_user.pw_name
    group = grp.getgrgid(mail_user.pw_gid).gr_name
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = {min(mail_user.pw_uid, 500)}
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            return probe.recv(64).startswith(b"* OK")
    except OSError:
        return False


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """A real dovecot IMAP server on a loopback port, with a throwaway config and maildir."""
    if not Path(DOVECOT).is_file():
        pytest.fail(
            f"{DOVECOT} is missing: the imap collector is tested against a real dovecot; "
            "install it with `apt-get install -y dovecot-imapd`"
        )
    root = Path(tempfile.mkdtemp(prefix="rapport-dovecot-"))
    root.chmod(0o755)  # the mail user (not us when we are root) must reach the maildirs
    (root / "home").mkdir()
    port, password = _free_port(), secrets.token_hex(8)
    (root / "dovecot.conf").write_text(_dovecot_config(root, port, password))
    if os.geteuid() == 0:
        dovecot_user = pwd.getpwnam("dovecot")
        os.chown(root / "home", dovecot_user.pw_uid, dovecot_user.pw_gid)
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start on port {port}:\n{output}\n{log}")
            time.sleep(0.05)  # polling the port, not waiting blindly
        yield ImapServer("127.0.0.1", port, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(root)
