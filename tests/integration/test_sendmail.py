"""`posthorn sendmail` (issue 5, DESIGN.md §4.4) through the real binary against a
running server: the message goes over state_dir/submit.sock, and what arrives in the
Maildirs is checked byte for byte. Also the program called as sendmail and mailq
(argv[0]), the exit codes callers rely on (sysexits), and `make install` into a DESTDIR.
"""

from __future__ import annotations

import email.utils
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import HOSTNAME, POSTHORN_BIN, REPO, free_port, parse_delivered, require_binary

EX_OK, EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 0, 64, 65, 75
LOGIN = pwd.getpwuid(os.getuid()).pw_name
USERS = ("alice@example.test", "bob@example.test", "carol@example.test", "dave@example.test")

DATE_RE = re.compile(rb"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} "
                     rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                     rb"\d\d:\d\d:\d\d [+-]\d{4}$", re.M)
MESSAGE_ID_RE = re.compile(rb"^Message-ID: <[^<>@\s]+@" + re.escape(HOSTNAME.encode()) +
                           rb">$", re.M)


def sendmail(srv, *args: str, stdin: bytes = b"", program: Path | None = None,
             env: dict | None = None, config: bool = True) -> subprocess.CompletedProcess:
    """Runs `posthorn sendmail -c CONFIG ARGS` (or `program ARGS` for a link named
    sendmail/mailq) with `stdin` as the message."""
    if program is None:
        cmd = [str(require_binary()), "sendmail"]
    else:
        cmd = [str(program)]
    if config:
        cmd += ["-c", str(srv.config_path)]
    cmd += list(args)
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=60,
                          env={**os.environ, **(env or {})})


def headers_of(message: bytes) -> bytes:
    """The header section of a delivered message (LF line ends)."""
    return message.split(b"\n\n", 1)[0] + b"\n"


def body_of(message: bytes) -> bytes:
    return message.split(b"\n\n", 1)[1]


@pytest.fixture
def srv(make_server):
    return make_server(users=USERS)


def test_t_delivers_to_to_cc_and_bcc_removes_bcc_and_adds_date_message_id_from(srv):
    msg = (b"To: Alice <alice@example.test>\n"
           b"Cc: \"Bob, B.\" <bob@example.test>, team: carol@example.test;\n"
           b"Bcc: dave@example.test\n"
           b"Subject: sendmail -t\n"
           b"\n"
           b"Hello all.\n")
    r = sendmail(srv, "-t", stdin=msg)
    assert r.returncode == EX_OK, r.stderr
    assert r.stdout == b"" and r.stderr == b""  # silent on success, as sendmail is
    for rcpt in ("alice@example.test", "bob@example.test", "carol@example.test",
                 "dave@example.test"):
        (raw,) = srv.wait_for_mail(rcpt)
        d = parse_delivered(raw)
        assert d.return_path == f"<{LOGIN}@{HOSTNAME}>"
        assert d.delivered_to == rcpt
        # The server trusted the submission and names the submitting uid.
        assert f"uid={os.getuid()}" in d.received, d.received
        head = headers_of(d.message)
        assert b"Bcc" not in head and b"dave" not in head, head
        assert head.startswith(b"To: Alice <alice@example.test>\n"
                               b"Cc: \"Bob, B.\" <bob@example.test>, team: carol@example.test;\n"
                               b"Subject: sendmail -t\n")
        assert f"\nFrom: {LOGIN}@{HOSTNAME}\n".encode() in head, head
        assert DATE_RE.search(head), head
        assert MESSAGE_ID_RE.search(head), head
        date = email.utils.parsedate_to_datetime(DATE_RE.search(head).group(0)[6:].decode())
        assert abs((datetime.now(timezone.utc) - date).total_seconds()) < 300
        assert body_of(d.message) == b"Hello all.\n"
    # One message, so one Message-ID for every copy.
    ids = {MESSAGE_ID_RE.search(srv.mail(a)[0]).group(0) for a in USERS}
    assert len(ids) == 1


def test_existing_date_message_id_and_from_are_kept(srv):
    msg = (b"From: Someone <someone@example.test>\r\n"
           b"Date: Thu, 13 Feb 2025 14:03:05 +0100\r\n"
           b"Message-ID: <fixed@example.test>\r\n"
           b"To: alice@example.test\r\n\r\nbody\r\n")
    r = sendmail(srv, "-t", stdin=msg)
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_command_line_recipients_are_added_to_t(srv):
    r = sendmail(srv, "-t", "bob@example.test", "Carol <carol@example.test>",
                 stdin=b"To: alice@example.test\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    for rcpt in ("alice@example.test", "bob@example.test", "carol@example.test"):
        srv.wait_for_mail(rcpt)
    assert srv.mail("dave@example.test") == []


def test_without_t_only_the_command_line_counts(srv):
    r = sendmail(srv, "bob@example.test", stdin=b"To: alice@example.test\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("bob@example.test")
    assert b"To: alice@example.test\n" in raw
    srv.wait_spool_empty()
    assert srv.mail("alice@example.test") == []


def test_f_sets_the_envelope_sender_and_F_the_full_name(srv):
    r = sendmail(srv, "-f", "owner@example.test", "-F", "List Owner", "alice@example.test",
                 stdin=b"Subject: f and F\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("alice@example.test")
    d = parse_delivered(raw)
    assert d.return_path == "<owner@example.test>"
    assert b"\nFrom: List Owner <owner@example.test>\n" in headers_of(d.message)

    # -F alone: the user's own address, with a name that needs quoting.
    r = sendmail(srv, "-FSmith, John", "bob@example.test", stdin=b"\nx\n")
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("bob@example.test")
    d = parse_delivered(raw)
    assert d.return_path == f"<{LOGIN}@{HOSTNAME}>"
    assert headers_of(d.message).startswith(
        f"From: \"Smith, John\" <{LOGIN}@{HOSTNAME}>\n".encode())


@pytest.mark.parametrize("null", ["", "<>"])
def test_f_null_sender(srv, null):
    r = sendmail(srv, "-f", null, "alice@example.test", stdin=b"Subject: null\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("alice@example.test")
    d = parse_delivered(raw)
    assert d.return_path == "<>"
    assert f"\nFrom: {LOGIN}@{HOSTNAME}\n".encode() in headers_of(d.message)


def test_attached_f_and_r(srv):
    r = sendmail(srv, "-fattached@example.test", "alice@example.test", stdin=b"\nx\n")
    assert r.returncode == EX_OK, r.stderr
    r = sendmail(srv, "-r", "viar@example.test", "bob@example.test", stdin=b"\nx\n")
    assert r.returncode == EX_OK, r.stderr
    assert parse_delivered(srv.wait_for_mail("alice@example.test")[0]).return_path == \
        "<attached@example.test>"
    assert parse_delivered(srv.wait_for_mail("bob@example.test")[0]).return_path == \
        "<viar@example.test>"


def test_a_lone_dot_ends_the_message_unless_i(srv):
    text = b"Subject: dots\n\nline one\n..\n.x\n.\nafter the dot\n"
    r = sendmail(srv, "alice@example.test", stdin=text)
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("alice@example.test")
    # Lines starting with a dot survive SMTP's dot-stuffing unchanged.
    assert body_of(parse_delivered(raw).message) == b"line one\n..\n.x\n"

    for flag in ("-i", "-oi"):
        r = sendmail(srv, flag, "bob@example.test", stdin=text)
        assert r.returncode == EX_OK, r.stderr
    for raw in srv.wait_for_mail("bob@example.test", 2):
        assert body_of(parse_delivered(raw).message) == b"line one\n..\n.x\n.\nafter the dot\n"


def test_crlf_and_lf_input_and_a_message_without_header(srv):
    r = sendmail(srv, "alice@example.test", stdin=b"Hello Alice,\r\nno header here.\n")
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("alice@example.test")
    m = parse_delivered(raw).message
    head, body = m.split(b"\n\n", 1)
    assert head.startswith(f"From: {LOGIN}@{HOSTNAME}\nDate: ".encode()), m
    assert body == b"Hello Alice,\nno header here.\n"


def test_eight_bit_body_and_utf8_header_arrive_intact(srv):
    msg = "Subject: Grüße\n\nÄpfel und Öl — ✓\n".encode()
    r = sendmail(srv, "alice@example.test", stdin=msg)
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("alice@example.test")
    m = parse_delivered(raw).message
    assert m.startswith("Subject: Grüße\n".encode())
    assert body_of(m) == "Äpfel und Öl — ✓\n".encode()


def test_bs_speaks_smtp_on_stdin_and_stdout(srv):
    dialogue = (b"EHLO client.example\r\n"
                b"MAIL FROM:<bs@example.test>\r\n"
                b"RCPT TO:<alice@example.test>\r\n"
                b"DATA\r\n"
                b"Subject: via -bs\r\n\r\n..stuffed\r\nhello\r\n.\r\n"
                b"QUIT\r\n")
    r = sendmail(srv, "-bs", stdin=dialogue)
    assert r.returncode == EX_OK, r.stderr
    lines = r.stdout.decode().split("\r\n")
    assert lines[0].startswith(f"220 {HOSTNAME}"), lines
    assert any(line.startswith("250 2.0.0 Ok: queued as ") for line in lines), lines
    assert any(line.startswith("221") for line in lines), lines
    (raw,) = srv.wait_for_mail("alice@example.test")
    d = parse_delivered(raw)
    assert d.return_path == "<bs@example.test>"
    assert f"uid={os.getuid()}" in d.received
    assert d.message == b"Subject: via -bs\n\n.stuffed\nhello\n"


def test_bs_input_ending_mid_transaction_commits_nothing(srv):
    r = sendmail(srv, "-bs", stdin=b"EHLO x\r\nMAIL FROM:<a@example.test>\r\n"
                                   b"RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: cut\r\n")
    assert r.returncode == EX_OK, r.stderr
    assert b"354" in r.stdout
    assert b"queued as" not in r.stdout
    assert srv.spool_files() == []
    assert srv.mail("alice@example.test") == []


def test_invoked_as_sendmail_through_a_symlink_with_POSTHORN_CONFIG(srv, tmp_path):
    link = tmp_path / "bin" / "sendmail"
    link.parent.mkdir()
    link.symlink_to(require_binary())
    r = sendmail(srv, "-t", "-oi", stdin=b"To: carol@example.test\n\nvia argv[0]\n.\nmore\n",
                 program=link, config=False, env={"POSTHORN_CONFIG": str(srv.config_path)})
    assert r.returncode == EX_OK, r.stderr
    (raw,) = srv.wait_for_mail("carol@example.test")
    assert body_of(parse_delivered(raw).message) == b"via argv[0]\n.\nmore\n"


def test_config_before_the_subcommand(srv):
    r = subprocess.run([str(require_binary()), "-c", str(srv.config_path), "sendmail", "-t"],
                       input=b"To: dave@example.test\n\nx\n", capture_output=True, timeout=60)
    assert r.returncode == EX_OK, r.stderr
    srv.wait_for_mail("dave@example.test")


def test_server_not_running_exits_75_and_says_the_message_was_not_queued(make_server):
    srv = make_server(start=False, users=USERS)
    srv.ports = [free_port()]
    srv.write_config()
    r = sendmail(srv, "alice@example.test", stdin=b"Subject: lost?\n\nx\n")
    assert r.returncode == EX_TEMPFAIL
    err = r.stderr.decode()
    assert "submit.sock" in err and "NOT" in err, err
    # -bs: the SMTP client on the other end gets a 421, not silence.
    r = sendmail(srv, "-bs", stdin=b"EHLO x\r\n")
    assert r.returncode == EX_TEMPFAIL
    assert r.stdout.startswith(b"421 ")


def test_t_without_recipients_exits_65(srv):
    r = sendmail(srv, "-t", stdin=b"Subject: to nobody\n\nx\n")
    assert r.returncode == EX_DATAERR
    assert b"no recipient" in r.stderr
    r = sendmail(srv, "-t", stdin=b"To: undisclosed-recipients:;\n\nx\n")
    assert r.returncode == EX_DATAERR
    assert srv.spool_files() == []


def test_bad_address_header_with_t_exits_65_naming_the_header(srv):
    r = sendmail(srv, "-t", stdin=b"To: alice@example.test\nCc: Bob <bob@example.test\n\nx\n")
    assert r.returncode == EX_DATAERR
    assert b"Cc" in r.stderr
    assert srv.spool_files() == []


def test_usage_errors_exit_64(srv):
    r = sendmail(srv, stdin=b"\nx\n")  # no recipients, no -t
    assert r.returncode == EX_USAGE
    assert b"no recipients" in r.stderr
    r = sendmail(srv, "-Z", "alice@example.test")
    assert r.returncode == EX_USAGE
    assert b"-Z" in r.stderr
    r = sendmail(srv, "Alice Smith")  # not an address
    assert r.returncode == EX_USAGE


def test_harmless_sendmail_options_are_accepted(srv):
    r = sendmail(srv, "-oem", "-odi", "-odb", "-oQ/tmp", "-v", "-L", "cron", "-Am", "-U", "-G",
                 "-N", "failure,delay", "-R", "hdrs", "-V", "env-1", "-B", "8BITMIME", "-XV",
                 "--", "alice@example.test", stdin=b"Subject: options\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    srv.wait_for_mail("alice@example.test")


def test_too_large_message_exits_65_before_reading_it_all(make_server):
    srv = make_server(users=USERS, limits={"message_size": "2k"})
    r = sendmail(srv, "alice@example.test", stdin=b"x" * 200_000)  # one endless line
    assert r.returncode == EX_DATAERR, r.stderr
    assert b"larger" in r.stderr
    # Just over the limit: sendmail passes it on and the server refuses it (552).
    r = sendmail(srv, "alice@example.test", stdin=b"Subject: big\n\n" + b"y" * 2100 + b"\n")
    assert r.returncode == EX_DATAERR, r.stderr
    assert b"552" in r.stderr
    assert srv.spool_files() == []


def test_refused_recipient_fails_the_whole_submission(srv):
    r = sendmail(srv, "alice@example.test", "nobody@example.test", stdin=b"Subject: x\n\nx\n")
    assert r.returncode == EX_DATAERR
    err = r.stderr.decode()
    assert "nobody@example.test" in err and "550 5.1.1" in err, err
    assert "NOT sent" in err
    # Nothing was committed, so alice gets nothing either.
    assert srv.spool_files() == []
    assert srv.mail("alice@example.test") == []


def test_temporary_refusal_exits_75(make_server):
    srv = make_server(users=USERS, limits={"recipients": 1})
    r = sendmail(srv, "alice@example.test", "bob@example.test", stdin=b"Subject: x\n\nx\n")
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"452" in r.stderr
    assert srv.spool_files() == []


def test_help_and_newaliases(srv, tmp_path):
    r = sendmail(srv, "--help", config=False)
    assert r.returncode == EX_OK
    assert b"-t" in r.stdout and b"-bs" in r.stdout
    r = sendmail(srv, "-bi")
    assert r.returncode == EX_OK


# -- the queue: -bp, mailq, -q ---------------------------------------------------------

def queue_json(srv) -> list:
    r = subprocess.run([str(POSTHORN_BIN), "queue", "list", "--json", "-c",
                        str(srv.config_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_deferred(srv, count: int, timeout: float = 15.0) -> list:
    """Waits until the queue holds `count` messages whose recipients were all tried and
    deferred; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        q = queue_json(srv)
        if len(q) == count and all(rc["status"] == "deferred" and rc["attempts"] >= 1
                                   for m in q for rc in m["recipients"]):
            return q
        if time.monotonic() > deadline:
            raise AssertionError(f"not {count} deferred message(s) in the queue: {q}\n"
                                 f"{srv.log_tail()}")
        time.sleep(0.1)


def test_bp_and_mailq_list_the_queue_and_q_flushes_it(make_server, tmp_path):
    from peers import Peer

    srv = make_server(users=USERS)  # relays to a dead smarthost port: mail waits
    for rcpt in ("first@remote.test", "second@remote.test"):
        r = sendmail(srv, "-f", "alice@example.test", rcpt, stdin=b"Subject: waiting\n\nx\n")
        assert r.returncode == EX_OK, r.stderr
    queued = wait_deferred(srv, 2)
    ids = {m["recipients"][0]["address"]: m["id"] for m in queued}

    r = sendmail(srv, "-bp")
    assert r.returncode == 0, r.stderr
    for rcpt, qid in ids.items():
        assert qid.encode() in r.stdout and rcpt.encode() in r.stdout, r.stdout

    link = tmp_path / "mailq"
    link.symlink_to(require_binary())
    r = sendmail(srv, program=link)
    assert r.returncode == 0, r.stderr
    for rcpt, qid in ids.items():
        assert qid.encode() in r.stdout and rcpt.encode() in r.stdout, r.stdout

    # The smarthost comes up; -qIID and -q deliver now instead of after the retry time
    # (minutes away).
    peer = Peer("127.0.0.1", srv.dead_port).start()
    try:
        r = sendmail(srv, "-qI" + ids["first@remote.test"])
        assert r.returncode == 0, r.stderr
        (tx,) = peer.wait_for_messages(1)
        assert tx.rcpt_tos == ["first@remote.test"]
        assert tx.mail_from == "alice@example.test"
        r = sendmail(srv, "-q")
        assert r.returncode == 0, r.stderr
        txs = peer.wait_for_messages(2)
        assert txs[1].rcpt_tos == ["second@remote.test"]
        srv.wait_spool_empty()
    finally:
        peer.stop()


def test_dsn_and_8bit_parameters_reach_the_next_hop(make_server):
    from peers import Peer

    port = free_port()
    peer = Peer("127.0.0.1", port).start()
    try:
        srv = make_server(users=USERS, smarthost=f"127.0.0.1:{port}")
        r = sendmail(srv, "-N", "success,failure", "-R", "hdrs", "-V", "env 42",
                     "far@remote.test", stdin="Subject: x\n\nÄ\n".encode())
        assert r.returncode == EX_OK, r.stderr
        (tx,) = peer.wait_for_messages(1)
        assert tx.mail_params.get("BODY") == "8BITMIME", tx.mail_params
        assert tx.mail_params.get("RET") == "HDRS"
        assert tx.mail_params.get("ENVID") == "env+2042"
        assert tx.rcpt_params[0].get("NOTIFY") == "SUCCESS,FAILURE"
    finally:
        peer.stop()


# -- make install ------------------------------------------------------------------------

def test_make_install_into_destdir(make_server, tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", str(REPO), "install", f"DESTDIR={dest}",
                        f"INSTALL_BIN={require_binary()}", "PREFIX=/usr/local"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    binary = dest / "usr/local/sbin/posthorn"
    assert binary.is_file() and os.access(binary, os.X_OK)
    for link in ("usr/sbin/sendmail", "usr/bin/mailq"):
        p = dest / link
        assert p.is_symlink(), link
        assert not os.path.isabs(os.readlink(p)), "relative, so it also resolves in place"
        assert p.resolve() == binary.resolve()
    if (REPO / "config/posthorn.service").is_file():
        assert (dest / "lib/systemd/system/posthorn.service").read_bytes() == \
            (REPO / "config/posthorn.service").read_bytes()

    # The installed sendmail submits, and `sendmail -bp` behaves as mailq.
    srv = make_server(users=USERS)
    env = {"POSTHORN_CONFIG": str(srv.config_path)}
    r = sendmail(srv, "alice@example.test", stdin=b"Subject: installed\n\nx\n",
                 program=dest / "usr/sbin/sendmail", config=False, env=env)
    assert r.returncode == EX_OK, r.stderr
    srv.wait_for_mail("alice@example.test")
    bp = sendmail(srv, "-bp", program=dest / "usr/sbin/sendmail", config=False, env=env)
    mq = sendmail(srv, program=dest / "usr/bin/mailq", config=False, env=env)
    assert bp.returncode == mq.returncode == 0, bp.stderr + mq.stderr
    assert bp.stdout == mq.stdout

    # Another MTA's sendmail is left alone unless FORCE=1.
    other = tmp_path / "other"
    (other / "usr/sbin").mkdir(parents=True)
    (other / "usr/sbin/sendmail").write_text("#!/bin/sh\n")
    r = subprocess.run(["make", "-s", "-C", str(REPO), "install", f"DESTDIR={other}",
                        f"INSTALL_BIN={require_binary()}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (other / "usr/sbin/sendmail").is_symlink()
    assert "left alone" in r.stderr
