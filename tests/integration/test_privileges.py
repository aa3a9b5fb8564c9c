"""`user = "name"` (issue 5): started as root, posthorn binds its sockets (a port below
1024 among them), creates its state, then runs as that user for good: every thread's
real, effective, saved and filesystem ids are the user's, mail is still accepted and
delivered, and what it writes (spool, Maildir) belongs to the user. An unknown user is a
config error (exit 2) before anything is created; a non-root process cannot switch.

These tests need root (they run as root here and in CI); elsewhere they are skipped.
"""

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, POSTHORN_BIN, Server, free_port, require_binary, run_cli
from smtpclient import SmtpConn, make_message

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the privilege drop starts as root")

RUN_AS = "nobody"  # a system user every Debian-like system has
REMOTE_RCPT = "someone@remote.example.net"  # stays deferred: relay points at a dead port


def run_as_entry() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        pytest.skip(f"no user {RUN_AS!r} on this system")


def free_privileged_port() -> int:
    """A port below 1024 that nobody listens on right now, picked at random."""
    for port in random.sample(range(600, 1024), 80):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024 on 127.0.0.1")


@pytest.fixture
def servers(tmp_path_factory):
    """Servers under a folder everyone may traverse: pytest's own temp folders are 0700
    root's, and the dropped server must reach its config, state and Maildirs."""
    base = Path(tempfile.mkdtemp(prefix="posthorn-priv-", dir="/tmp"))
    base.chmod(0o755)
    made: list[Server] = []

    def factory(**options) -> Server:
        srv = Server(root=base / f"srv{len(made)}",
                     hash_root=tmp_path_factory.getbasetemp() / "hashes", **options)
        made.append(srv)
        return srv

    yield factory
    for srv in made:
        srv.stop()
    shutil.rmtree(base, ignore_errors=True)


def start(srv: Server, user: str | None, ports: list[int] | None = None) -> Server:
    """Writes the config (with `user` at the top level when given) and starts it."""
    srv.ports = ports or srv.ports or [free_port()]
    srv.write_config()
    if user is not None:
        srv.config_path.write_text(f'user = "{user}"\n' + srv.config_path.read_text())
    srv.restart()
    return srv


def ids_of(pid: int) -> list[dict[str, list[int]]]:
    """Uid, Gid and Groups of every thread of the process, from /proc."""
    out = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        fields = {}
        for line in (task / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                fields[key] = [int(x) for x in value.split()]
        out.append(fields)
    return out


def owners_under(root: Path) -> dict[str, int]:
    """Owner uid of the folder and of everything below it, by path."""
    owners = {str(root): root.lstat().st_uid}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                owners[str(p)] = p.lstat().st_uid
            except FileNotFoundError:
                pass  # a temporary file renamed meanwhile (a status write)
    return owners


def queue_remote_message(srv: Server, port: int | None = None) -> None:
    with SmtpConn(port or srv.port) as c:
        assert c.cmd("EHLO client.example.net").code == 250
        c.send_mail("someone@example.net", [REMOTE_RCPT], make_message(to=REMOTE_RCPT))


def test_started_as_root_it_binds_a_low_port_then_runs_as_the_user(servers):
    pw = run_as_entry()
    srv = start(servers(), RUN_AS, [free_port(), free_privileged_port()])
    low_port = srv.ports[1]

    assert f"event=privileges user={RUN_AS} uid={pw.pw_uid} gid={pw.pw_gid}" in srv.log_tail()
    groups = sorted(set(os.getgrouplist(RUN_AS, pw.pw_gid)))
    for t in ids_of(srv.proc.pid):
        assert t["Uid"] == [pw.pw_uid] * 4, t  # real, effective, saved, filesystem
        assert t["Gid"] == [pw.pw_gid] * 4, t
        assert sorted(set(t["Groups"])) == groups, t

    # Mail is still accepted (on the port only root could bind) and delivered.
    rcpt = f"alice@{DOMAIN}"
    with SmtpConn(low_port) as c:
        assert c.cmd("EHLO client.example.net").code == 250
        c.send_mail("someone@example.net", [rcpt], make_message(to=rcpt))
    srv.wait_for_mail(rcpt)
    queue_remote_message(srv)  # deferred: stays in the spool

    # What the server wrote is the user's: the Maildir (its root created at the drop),
    # the spool, the whole state folder.
    for path, uid in owners_under(srv.maildir_root).items():
        assert uid == pw.pw_uid, f"{path} owned by uid {uid}"
    assert srv.spool_files(), "the deferred message should be in the spool"
    # The administrator (root) still reaches the control socket, now the user's.
    r = run_cli("queue", "list", config=srv.config_path)
    assert r.returncode == 0 and REMOTE_RCPT in r.stdout, r
    for path, uid in owners_under(srv.state_dir).items():
        assert uid == pw.pw_uid, f"{path} owned by uid {uid}"


def test_a_state_dir_left_by_root_is_handed_over_with_its_queue(servers):
    pw = run_as_entry()
    srv = start(servers(), None)
    queue_remote_message(srv)
    assert srv.stop() == 0
    assert {f.stat().st_uid for f in srv.spool_files()} == {0}

    start(srv, RUN_AS)
    assert "event=recovered messages=1" in srv.log_tail()
    files = srv.spool_files()
    assert len(files) == 1
    for path, uid in owners_under(srv.state_dir).items():
        assert uid == pw.pw_uid, f"{path} owned by uid {uid}"
    # The recovered message is retried as the user, and can be rewritten by it.
    assert srv.running()


def test_sighup_after_the_drop_reloads_the_config(servers):
    run_as_entry()
    srv = start(servers(limits={"message_size": "10M"}), RUN_AS)
    srv.limits["message_size"] = "20M"
    srv.write_config()
    srv.config_path.write_text(f'user = "{RUN_AS}"\n' + srv.config_path.read_text())
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "event=reload what=config" not in srv.log_tail():
        assert "event=reload-failed" not in srv.log_tail(), srv.log_tail()
        assert time.monotonic() < deadline, srv.log_tail()
        time.sleep(0.05)
    with srv.session() as c:
        assert "SIZE 20000000" in c.cmd("EHLO client.example.net").lines


def test_an_unknown_user_is_a_config_error_before_anything_is_created(servers):
    require_binary()
    srv = servers()
    srv.ports = [free_port()]
    srv.write_config()
    srv.config_path.write_text('user = "posthorn-no-such-user"\n' + srv.config_path.read_text())
    r = subprocess.run([str(POSTHORN_BIN), "serve", "-c", str(srv.config_path)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r
    assert "posthorn-no-such-user" in r.stderr and "no such user" in r.stderr, r.stderr
    assert not srv.state_dir.exists(), "nothing may be created before the user is known"
    # check-config (the unit's ExecStartPre) says so too.
    r = run_cli("check-config", config=srv.config_path)
    assert r.returncode == 2, r
    assert "no such user" in r.stderr, r.stderr


def _as_user(uid: int, gid: int):
    def demote():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return demote


def binary_the_user_can_run(srv: Server) -> str:
    """A copy of the binary beside the server's folder (under /tmp, mode 0755): the clone
    may sit where the user cannot reach (a newcomer root clones into /root, mode 0700)."""
    copy = srv.root.parent / "posthorn"
    if not copy.exists():
        shutil.copy2(require_binary(), copy)
        copy.chmod(0o755)
    return str(copy)


def test_not_root_it_cannot_switch_to_another_user_but_may_name_itself(servers):
    pw = run_as_entry()
    srv = servers()
    binary = binary_the_user_can_run(srv)
    srv.ports = [free_port()]
    srv.write_config()
    text = srv.config_path.read_text()

    srv.config_path.write_text('user = "root"\n' + text)
    r = subprocess.run([binary, "serve", "-c", str(srv.config_path)],
                       capture_output=True, text=True, timeout=20,
                       preexec_fn=_as_user(pw.pw_uid, pw.pw_gid))
    assert r.returncode == 2, r
    assert "needs root" in r.stderr, r.stderr

    # Naming the user it already runs as is fine (a unit with User= and user = both set).
    srv.config_path.write_text(f'user = "{RUN_AS}"\n' + text)
    srv.state_dir.mkdir()
    srv.maildir_root.mkdir()
    for d in (srv.state_dir, srv.maildir_root):
        os.chown(d, pw.pw_uid, pw.pw_gid)
    proc = subprocess.Popen([binary, "serve", "-c", str(srv.config_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_user(pw.pw_uid, pw.pw_gid))
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with SmtpConn(srv.port) as c:
                    assert c.banner.code == 220
                    break
            except OSError:
                assert time.monotonic() < deadline, "no banner"
                time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "event=privileges" not in err  # nothing to drop
