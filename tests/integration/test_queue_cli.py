"""`posthorn queue ...` (issue 5, DESIGN.md §4.4) through the real CLI against a running
server: list (text and --json), show, flush, hold, release, delete ID and ALL, unknown
ids, no server, and the control socket itself (mode 0600, bad requests).

Outbound mail goes to aiosmtpd peers (peers.py) with [queue] retry = "1h": a delivery
seen within the bounded wait after `flush` or `release` can only come from that command,
never from a retry.
"""

import json
import os
import re
import socket
import stat
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from conftest import POSTHORN_BIN, free_port, run_cli
from peers import MX1, remote, submit, wait_until  # noqa: F401
from smtpclient import make_message

SENDER = "someone@example.net"
ALICE = "alice@example.test"
BOB_REMOTE = "bob@remote.test"
REFUSAL = "451 4.3.0 Try again later"


# ---------------------------------------------------------------------------
# Helpers

def queue(srv, *args, check: bool = True) -> subprocess.CompletedProcess:
    r = run_cli("queue", *args, config=srv.config_path)
    if check:
        assert r.returncode == 0, f"queue {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
    return r


def queue_json(srv) -> list:
    r = queue(srv, "list", "--json")
    data = json.loads(r.stdout)
    assert isinstance(data, list), r.stdout
    return data


def entry(srv, qid: str) -> dict | None:
    for m in queue_json(srv):
        if m["id"] == qid:
            return m
    return None


def wait_deferred(srv, remote, qid: str) -> dict:
    """Until the message's remote recipient has been tried once and deferred."""
    def deferred():
        m = entry(srv, qid)
        if m is None:
            return None
        rcpts = [r for r in m["recipients"] if r["address"] == BOB_REMOTE]
        return m if rcpts and rcpts[0]["status"] == "deferred" and rcpts[0]["attempts"] >= 1 \
            else None
    return wait_until(deferred, f"{qid} deferred in `queue list --json`", detail=remote.describe)


def deferred_message(remote, srv, subject: str) -> str:
    """A message to bob@remote.test that mx1 refuses once (451): deferred for an hour."""
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt(REFUSAL, times=1)
    qid = submit(srv, SENDER, [BOB_REMOTE], make_message(subject=subject, to=BOB_REMOTE))
    wait_deferred(srv, remote, qid)
    return qid


def spool_ids(srv) -> list[str]:
    return [p.name for p in srv.spool_files()]


def control_socket(srv):
    return srv.state_dir / "control.sock"


# ---------------------------------------------------------------------------
# list

def test_list_json_has_every_field_of_design_4_4(remote):
    remote.peer(MX1).fail_rcpt(REFUSAL)  # always: stays deferred
    srv = remote.make_server(retry=["1h"])
    before = datetime.now(timezone.utc).replace(microsecond=0)
    message = make_message(subject="listed", to=BOB_REMOTE)
    qid = submit(srv, SENDER, [ALICE, BOB_REMOTE], message)
    m = wait_deferred(srv, remote, qid)
    srv.wait_for_mail(ALICE)
    m = wait_until(lambda: (e := entry(srv, qid)) and
                   [r["status"] for r in e["recipients"]] == ["delivered", "deferred"] and e,
                   "alice delivered, bob deferred", detail=remote.describe)

    assert set(m) == {"id", "size", "arrival", "sender", "held", "recipients"}, m
    assert m["id"] == qid
    # The size counts the octets queued: the message with our Received: on top.
    assert isinstance(m["size"], int) and m["size"] > len(message)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", m["arrival"]), \
        m["arrival"]
    arrival = datetime.fromisoformat(m["arrival"].replace("Z", "+00:00"))
    assert before.timestamp() - 1 <= arrival.timestamp() <= time.time() + 1
    assert m["sender"] == SENDER
    assert m["held"] is False
    alice, bob = m["recipients"]
    assert set(alice) == {"address", "status", "attempts", "last_reply"}
    assert alice["address"] == ALICE and alice["status"] == "delivered"
    assert alice["attempts"] == 1
    assert bob["address"] == BOB_REMOTE and bob["status"] == "deferred"
    assert bob["attempts"] == 1
    assert bob["last_reply"].startswith("451") and "Try again later" in bob["last_reply"], bob

    # The output is one JSON array and nothing else, this message its only element.
    assert json.loads(queue(srv, "list", "--json").stdout) == [m]


def test_list_text_is_like_mailq(remote):
    remote.peer(MX1).fail_rcpt(REFUSAL)
    srv = remote.make_server(retry=["1h"])
    qid1 = submit(srv, SENDER, [BOB_REMOTE], make_message(subject="one", to=BOB_REMOTE))
    qid2 = submit(srv, "", [BOB_REMOTE], make_message(subject="two", to=BOB_REMOTE))
    wait_deferred(srv, remote, qid1)
    wait_deferred(srv, remote, qid2)
    assert queue(srv, "hold", qid2).returncode == 0
    wait_until(lambda: entry(srv, qid2)["held"], "held")

    out = queue(srv, "list").stdout
    lines = out.splitlines()
    assert lines[0].split()[0] == "-Queue", out
    first = next(line for line in lines if line.startswith(qid1))
    assert SENDER in first and first.split()[0] == qid1, first
    size = entry(srv, qid1)["size"]
    assert str(size) in first.split(), first
    held = next(line for line in lines if line.startswith(qid2))
    assert held.split()[0] == qid2 + "!", "a held message is marked with '!' after its id"
    assert "MAILER-DAEMON" in held, "the null sender shows as MAILER-DAEMON"
    assert any(BOB_REMOTE in line and "deferred" in line and "1 attempt" in line
               for line in lines), out
    assert any("(451 4.3.0" in line and "Try again later" in line for line in lines), out
    total_kib = (entry(srv, qid1)["size"] + entry(srv, qid2)["size"] + 1023) // 1024
    assert lines[-1] == f"-- {total_kib} KiB in 2 requests", out


def test_list_of_an_empty_queue(make_server):
    srv = make_server()
    assert queue(srv, "list").stdout.strip() == "Mail queue is empty"
    assert json.loads(queue(srv, "list", "--json").stdout) == []


# ---------------------------------------------------------------------------
# show

def test_show_prints_the_envelope_and_then_the_message_octets(remote):
    remote.peer(MX1).fail_rcpt(REFUSAL)
    srv = remote.make_server(retry=["1h"])
    message = make_message(subject="shown", to=BOB_REMOTE, body="line one\r\n.dot\r\n")
    qid = submit(srv, SENDER, [BOB_REMOTE], message)
    listed = wait_deferred(srv, remote, qid)

    r = subprocess.run([str(POSTHORN_BIN), "queue", "show", qid, "-c", str(srv.config_path)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode("utf-8", "surrogateescape")
    env, end = json.JSONDecoder().raw_decode(text)
    assert env["id"] == qid and env["sender"] == SENDER and env["held"] is False
    assert env["recipients"] == listed["recipients"]
    rest = r.stdout[len(text[:end].encode("utf-8", "surrogateescape")):]
    assert rest.startswith(b"\n"), rest[:40]
    body = rest[1:]
    # Exactly the queued octets: our Received: and then the message as submitted.
    assert len(body) == env["size"], (len(body), env["size"])
    assert body.startswith(b"Received: "), body[:80]
    assert body.endswith(message), body[-200:]
    assert f"id {qid}".encode() in body[:400]


# ---------------------------------------------------------------------------
# flush

def test_flush_delivers_a_deferred_message_at_once(remote):
    srv = remote.make_server(retry=["1h"])
    qid = deferred_message(remote, srv, "flushed")
    mx1 = remote.peer(MX1)
    assert not mx1.messages

    r = queue(srv, "flush")
    assert "flushed" in r.stdout
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert b"Subject: flushed\r\n" in tx.data
    wait_until(lambda: qid not in spool_ids(srv), "the spool lets the message go",
               detail=remote.describe)
    assert queue_json(srv) == []


def test_flush_of_one_id_delivers_that_message_only(remote):
    srv = remote.make_server(retry=["1h"])
    qid1 = deferred_message(remote, srv, "this one")
    qid2 = deferred_message(remote, srv, "not this one")
    mx1 = remote.peer(MX1)

    r = queue(srv, "flush", qid1)
    assert qid1 in r.stdout
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert b"Subject: this one\r\n" in tx.data
    wait_until(lambda: qid1 not in spool_ids(srv), "the flushed message leaves the spool")
    # Had the flush made qid2 due too, it would have been taken in the same turn as qid1
    # (the scheduler takes everything due at once): by now it would be out for delivery
    # or past its second attempt. It is neither.
    reply = _exchange(control_socket(srv), b'{"op": "list"}\n')
    assert reply["ok"] is True and qid2 not in reply["attempting"], reply
    (m,) = reply["messages"]
    assert m["id"] == qid2 and m["recipients"][0]["attempts"] == 1, m
    assert len(mx1.messages) == 1, remote.describe()


# ---------------------------------------------------------------------------
# hold and release

def test_held_message_waits_through_flush_and_restart_until_released(remote):
    srv = remote.make_server(retry=["1h"])
    qid = deferred_message(remote, srv, "held back")
    mx1 = remote.peer(MX1)  # accepts from now on

    r = queue(srv, "hold", qid)
    assert qid in r.stdout
    wait_until(lambda: entry(srv, qid)["held"] is True, "held in the listing")
    assert queue(srv, "list").stdout.count(qid + "!") == 1
    assert re.search(rf"id={qid} event=held\b", srv.log_path.read_text()), srv.log_tail()

    # The scheduler's own answers: a flush leaves a held message where it is.
    assert queue(srv, "flush").stdout.strip() == "flushed 0 message(s)"
    assert queue(srv, "flush", qid).stdout.strip() == f"{qid}: held, not flushed (release it)"
    assert not mx1.messages, "a held message is not delivered, flushed or not"

    # Held on disk: a restart keeps it held.
    assert srv.stop() == 0
    srv.restart()
    srv.wait_log(r"event=recovered messages=1\b", since_start=True)
    assert entry(srv, qid)["held"] is True
    # Recovered held: not scheduled at all, so nothing is due.
    assert queue(srv, "flush").stdout.strip() == "flushed 0 message(s)"
    assert not mx1.messages, remote.describe()

    r = queue(srv, "release", qid)
    assert qid in r.stdout
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert b"Subject: held back\r\n" in tx.data
    wait_until(lambda: not spool_ids(srv), "the spool empties", detail=remote.describe)
    assert re.search(rf"id={qid} event=released\b", srv.log_path.read_text()), srv.log_tail()


def test_hold_of_a_held_message_and_release_of_one_not_held_change_nothing(remote):
    remote.peer(MX1).fail_rcpt(REFUSAL)
    srv = remote.make_server(retry=["1h"])
    qid = submit(srv, SENDER, [BOB_REMOTE], make_message(subject="x", to=BOB_REMOTE))
    wait_deferred(srv, remote, qid)
    r = queue(srv, "release", qid)
    assert "not held" in r.stdout
    queue(srv, "hold", qid)
    wait_until(lambda: entry(srv, qid)["held"] is True, "held")
    r = queue(srv, "hold", qid)
    assert "already held" in r.stdout


# ---------------------------------------------------------------------------
# delete

def test_delete_removes_the_message_and_it_is_never_delivered(remote):
    srv = remote.make_server(retry=["1h"])
    qid = deferred_message(remote, srv, "deleted")
    keep = deferred_message(remote, srv, "kept")
    mx1 = remote.peer(MX1)

    r = queue(srv, "delete", qid)
    assert qid in r.stdout
    wait_until(lambda: qid not in spool_ids(srv), "the queue file is gone")
    assert not (srv.state_dir / "spool" / "status" / qid).exists()
    assert [m["id"] for m in queue_json(srv)] == [keep]
    assert re.search(rf"id={qid} event=deleted\b", srv.log_path.read_text()), srv.log_tail()

    # Only the kept message is left for a flush to make due.
    assert queue(srv, "flush").stdout.strip() == "flushed 1 message(s)"
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert b"Subject: kept\r\n" in tx.data
    wait_until(lambda: not spool_ids(srv), "the spool empties", detail=remote.describe)
    assert len(mx1.messages) == 1, "the deleted message never went out"
    assert queue(srv, "show", qid, check=False).returncode == 1


def test_delete_all_empties_the_queue_held_messages_too(remote):
    srv = remote.make_server(retry=["1h"])
    qids = [deferred_message(remote, srv, f"doomed {i}") for i in range(3)]
    queue(srv, "hold", qids[1])
    wait_until(lambda: entry(srv, qids[1])["held"] is True, "held")
    mx1 = remote.peer(MX1)

    r = queue(srv, "delete", "ALL")
    assert "deleted" in r.stdout
    wait_until(lambda: not spool_ids(srv), "the spool is empty", detail=remote.describe)
    assert queue_json(srv) == []
    assert queue(srv, "list").stdout.strip() == "Mail queue is empty"
    log = srv.log_path.read_text()
    for qid in qids:
        assert re.search(rf"id={qid} event=deleted\b", log), srv.log_tail()
    assert queue(srv, "flush").stdout.strip() == "flushed 0 message(s)"
    assert not mx1.messages, remote.describe()
    # Gone for good: nothing comes back after a restart.
    srv.stop()
    srv.restart()
    assert queue_json(srv) == []


# ---------------------------------------------------------------------------
# Errors

def test_unknown_id_is_exit_1_with_a_message(make_server):
    srv = make_server()
    unknown = "0000000000zz"
    for args in (("show", unknown), ("flush", unknown), ("hold", unknown),
                 ("release", unknown), ("delete", unknown)):
        r = queue(srv, *args, check=False)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert unknown in r.stderr and "no message" in r.stderr, r.stderr
        assert r.stdout == ""
    r = queue(srv, "hold", "../etc/passwd", check=False)
    assert r.returncode == 1, r.stderr


def test_usage_errors_are_exit_2(make_server):
    srv = make_server()
    for args in (("show",), ("hold",), ("delete",), ("frobnicate",), ("hold", "ALL"),
                 ("list", "--bogus")):
        r = queue(srv, *args, check=False)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    r = run_cli("queue", "list", config=srv.root / "missing.toml")
    assert r.returncode == 2, r.stderr


def test_without_a_server_the_cli_says_so_and_exits_1(make_server):
    srv = make_server(start=False)
    srv.ports = [free_port()]
    srv.write_config()
    r = queue(srv, "list", check=False)
    assert r.returncode == 1
    sock = control_socket(srv)
    assert f"posthorn is not running (no control socket at {sock})" in r.stderr, r.stderr

    # A clean stop removes the socket; kill -9 leaves a stale one, which refuses, and the
    # next start replaces it.
    srv.start()
    assert queue(srv, "list").returncode == 0
    assert srv.stop() == 0
    assert not sock.exists()
    assert queue(srv, "flush", check=False).returncode == 1
    srv.restart()
    srv.kill()
    assert sock.exists()
    r = queue(srv, "list", check=False)
    assert r.returncode == 1 and "posthorn is not running" in r.stderr, r.stderr
    srv.restart()
    assert queue(srv, "list").returncode == 0


# ---------------------------------------------------------------------------
# The control socket

def test_control_socket_is_mode_0600(make_server):
    srv = make_server()
    st = os.stat(control_socket(srv))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.geteuid()


def _exchange(path, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(payload)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def test_bad_requests_get_a_json_error_and_the_server_carries_on(make_server):
    srv = make_server()
    sock = control_socket(srv)
    for payload in (b"not json\n", b"[1, 2]\n", b'{"op": "explode"}\n', b'{"op": "show"}\n',
                    b'{"op": "hold", "id": 7}\n', b'{"op": "hold", "id": "a/b"}\n',
                    b'{"op": "flush", "id": "ALL"}\n', b"\xff\xfe\n"):
        reply = _exchange(sock, payload)
        assert reply["ok"] is False and reply["code"] == "bad_request", (payload, reply)
        assert reply["error"]
    reply = _exchange(sock, b"x" * 20_000)  # no line end, well past the bound
    assert reply["ok"] is False and "too long" in reply["error"]
    reply = _exchange(sock, b'{"op": "list"}\n')
    assert reply["ok"] is True and reply["messages"] == []
    assert srv.running()
    assert queue(srv, "list").returncode == 0


def test_control_socket_refuses_another_user_by_peer_uid_not_only_by_mode(make_server,
                                                                           tmp_path):
    """Even with the socket's mode widened to 0666 and reachable from a world-readable
    folder, a client running as another uid (nobody) is refused on its SO_PEERCRED uid:
    no reply, the connection closed, a log line; the same request as root is answered."""
    import pwd
    import shutil
    import sys
    import tempfile
    import pytest
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is not installed", pytrace=False)
    srv = make_server()
    sock = control_socket(srv)
    # A second name for the socket in a folder anyone may enter (pytest's temp folders
    # are 0700), and a mode that lets anyone connect: only the uid check is left.
    public = Path(tempfile.mkdtemp(prefix="posthorn-ctl-"))
    try:
        public.chmod(0o755)
        link = public / "control.sock"
        os.link(sock, link)
        os.chmod(link, 0o666)
        # Whatever the server sends before it hangs up (a reset, as the request is left
        # unread, counts as hanging up).
        client = ("import socket, sys\n"
                  "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                  "s.settimeout(20)\n"
                  "s.connect(sys.argv[1])\n"
                  "buf = b''\n"
                  "try:\n"
                  "    s.sendall(b'{\"op\": \"list\"}\\n')\n"
                  "    while True:\n"
                  "        chunk = s.recv(4096)\n"
                  "        if not chunk:\n"
                  "            break\n"
                  "        buf += chunk\n"
                  "except (ConnectionResetError, BrokenPipeError):\n"
                  "    pass\n"
                  "sys.stdout.write(repr(buf))\n")
        r = subprocess.run([setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                            "--clear-groups", sys.executable, "-c", client, str(link)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "b''", f"another user got an answer: {r.stdout}"
        srv.wait_log(r"control: refused a client of another user")
        # Root, through the same name: answered.
        assert _exchange(link, b'{"op": "list"}\n')["ok"] is True
        assert srv.running()
    finally:
        shutil.rmtree(public, ignore_errors=True)
