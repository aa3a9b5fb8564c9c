"""A real Dovecot for one test (issue 12): LMTP on a Unix socket, IMAP on a free loopback
port, the auth-client socket, its own passwd-file and mail store, all under one private
folder. Nothing of the system's Dovecot is used: a private dovecot.conf (no includes),
its own base_dir and log file, no system service.

Run as root (as here and in CI) Dovecot needs a user for mail that is not root (it never
opens mailboxes as root): `mail` (Debian's uid 8); its login processes run as
`dovenull`. Run as anyone else, everything runs as that user. pytest's own temp folders
are 0700 root's, so the folder is made under /tmp (0755) and removed at the end.

docs/mailbox.md shows the same settings for a real installation.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import free_port

DOVECOT_BIN = shutil.which("dovecot") or "/usr/sbin/dovecot"
START_TIMEOUT = 20.0
WAIT_TIMEOUT = 15.0


def mail_user() -> pwd.struct_passwd:
    """Whose uid Dovecot (and, in the IMAP setup, posthorn) reads and writes mail as."""
    if os.geteuid() == 0:
        return pwd.getpwnam("mail")
    return pwd.getpwuid(os.geteuid())


def private_dir(prefix: str) -> Path:
    """A folder under /tmp the mail user may traverse (0755), owned by root or us."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    return base


def chown_mail(path: Path):
    if os.geteuid() == 0:
        u = mail_user()
        os.chown(path, u.pw_uid, u.pw_gid)


class Dovecot:
    """One Dovecot instance under `root`. `users` maps address -> password (passwd-file,
    {PLAIN} scheme, the address is the login). `mail_location` defaults to
    maildir:<root>/mail/%d/%n."""

    def __init__(self, root: Path, users: dict[str, str], mail_location: str | None = None,
                 maildir_root: Path | None = None):
        self.root = root
        self.users = users
        self.maildir_root = maildir_root or (root / "mail")
        self.mail_location = mail_location or f"maildir:{self.maildir_root}/%d/%n"
        self.run_dir = root / "run"
        self.state_dir = root / "state"
        self.home_root = root / "home"
        self.conf = root / "dovecot.conf"
        self.passwd = root / "passwd"
        self.log_path = root / "dovecot.log"
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        self.proc: subprocess.Popen | None = None
        for d in (self.run_dir, self.state_dir, self.home_root, self.maildir_root):
            d.mkdir(parents=True, exist_ok=True)
        chown_mail(self.home_root)
        chown_mail(self.maildir_root)
        self.write_config()

    @property
    def lmtp_socket(self) -> Path:
        return self.run_dir / "lmtp"

    @property
    def auth_socket(self) -> Path:
        return self.run_dir / "auth-client"

    def write_config(self):
        mu = mail_user()
        if os.geteuid() == 0:
            internal, login = "dovecot", "dovenull"
        else:
            internal = login = mu.pw_name
        self.passwd.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n"
                                       for u, p in self.users.items()))
        self.conf.write_text(f"""\
# posthorn test Dovecot: everything private to {self.root}
protocols = lmtp imap
base_dir = {self.run_dir}
state_dir = {self.state_dir}
instance_name = posthorn-test-{self.root.name}
log_path = {self.log_path}
info_log_path = {self.log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
mail_uid = {mu.pw_uid}
mail_gid = {mu.pw_gid}
first_valid_uid = {mu.pw_uid}
first_valid_gid = {mu.pw_gid}
mail_location = {self.mail_location}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd}
  default_fields = home={self.home_root}/%d/%n
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
""")

    # -- process -------------------------------------------------------------
    def start(self) -> "Dovecot":
        if not Path(DOVECOT_BIN).exists():
            pytest.fail("dovecot is not installed (scripts/bootstrap installs dovecot-core, "
                        "dovecot-lmtpd, dovecot-imapd)", pytrace=False)
        log = open(self.root / "dovecot.out", "ab")
        self.proc = subprocess.Popen([DOVECOT_BIN, "-F", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not (self._unix_ready(self.lmtp_socket) and self._unix_ready(self.auth_socket)
                   and self._tcp_ready(self.imap_port) and self._tcp_ready(self.lmtp_port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"dovecot did not start:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.05)
        return self

    @staticmethod
    def _unix_ready(path: Path) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(path))
            return True
        except OSError:
            return False

    @staticmethod
    def _tcp_ready(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        """SIGTERM to the master; returns once it and its sockets are gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        out = []
        for p in (self.log_path, self.root / "dovecot.out"):
            try:
                out += p.read_text(errors="replace").splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    # -- the store -----------------------------------------------------------
    def maildir(self, address: str, folder: str = "") -> Path:
        local, domain = address.rsplit("@", 1)
        box = self.maildir_root / domain / local
        return box / f".{folder}" if folder else box

    def messages(self, address: str, folder: str = "") -> list[bytes]:
        """Every message file in new/ and cur/, in name order."""
        box = self.maildir(address, folder)
        files = []
        for sub in ("new", "cur"):
            d = box / sub
            if d.is_dir():
                files += [p for p in d.iterdir() if p.is_file()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.name)]

    def wait_messages(self, address: str, count: int, timeout: float = WAIT_TIMEOUT,
                      detail=lambda: "") -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages(address)
            if len(msgs) >= count:
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"{address}: {len(msgs)} message(s) in Dovecot's store, "
                                     f"expected {count}\n{detail()}\ndovecot log:\n"
                                     f"{self.log_tail()}")
            time.sleep(0.05)


@pytest.fixture
def dovecot_factory():
    """Factory: dovecot_factory(users={...}, mail_location=..., maildir_root=...) -> a
    started Dovecot; stopped and removed at the end of the test."""
    made: list[Dovecot] = []
    roots: list[Path] = []

    def factory(users: dict[str, str], start: bool = True, root: Path | None = None,
                **options) -> Dovecot:
        if root is None:
            root = private_dir("posthorn-dovecot-")
            roots.append(root)
        d = Dovecot(root, users, **options)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    for d in made:
        d.stop()
    for r in roots:
        shutil.rmtree(r, ignore_errors=True)
