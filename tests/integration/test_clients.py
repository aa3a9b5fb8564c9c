"""Real clients (Python smtplib, swaks, curl) deliver to local users; the Maildir
file holds Return-Path, Delivered-To, our Received: and then the message byte for
byte with LF line ends (DESIGN.md §4.2)."""

import os
import re
import smtplib
import subprocess

from conftest import assert_delivered, parse_delivered, queue_id_of
from smtpclient import make_message

# Lines of every kind a body may hold: a leading dot (stuffed on the wire), trailing
# spaces, an empty line, a tab, 8-bit UTF-8, and a line that is just a dot.
TRICKY_BODY = ("First line.\r\n"
               ".a line that starts with a dot\r\n"
               "..two dots\r\n"
               ".\r\n"
               "trailing spaces   \r\n"
               "\r\n"
               "\ttab and UTF-8: gr\u00fc\u00dfe, \u65e5\u672c\r\n"
               "last line\r\n")


def test_smtplib_delivers_to_local_user_with_headers_and_identical_body(server):
    msg = make_message(subject="smtplib delivery", body=TRICKY_BODY)
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.example.net",
                      timeout=15) as s:
        code, _ = s.ehlo()
        assert code == 250
        code, _ = s.mail("someone@example.net", ["BODY=8BITMIME"])
        assert code == 250
        code, _ = s.rcpt("alice@example.test")
        assert code == 250
        code, resp = s.data(msg)
        assert code == 250
    qid = queue_id_of(f"{code} {resp.decode()}")
    (raw,) = server.wait_for_mail("alice@example.test")
    assert_delivered(raw, sender="someone@example.net", rcpt="alice@example.test",
                     queue_id=qid, message_crlf=msg)


def test_swaks_delivers_to_local_user(server, tmp_path):
    # swaks ends DATA with CRLF "." CRLF itself: a file without a final newline is
    # sent exactly as the lines it holds.
    body = b"From: <someone@example.net>\nTo: <alice@example.test>\nSubject: swaks\n\nhi from swaks\n.dot"
    data = tmp_path / "msg.eml"
    data.write_bytes(body)
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{server.port}", "--to", "alice@example.test",
         "--from", "someone@example.net", "--helo", "client.example.net",
         "--data", f"@{data}", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^<-  (250 2\.0\.0 Ok: queued as \S+)", r.stdout, re.M)
    assert m, r.stdout
    qid = queue_id_of(m.group(1))
    (raw,) = server.wait_for_mail("alice@example.test")
    assert_delivered(raw, sender="someone@example.net", rcpt="alice@example.test",
                     queue_id=qid, message_crlf=body.replace(b"\n", b"\r\n") + b"\r\n")


def test_swaks_pipeline_delivers_to_local_user(server, tmp_path):
    body = b"Subject: pipelined\n\npipelined body"
    data = tmp_path / "msg.eml"
    data.write_bytes(body)
    r = subprocess.run(
        ["swaks", "--pipeline", "--server", f"127.0.0.1:{server.port}",
         "--to", "bob@example.test", "--from", "someone@example.net",
         "--data", f"@{data}", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    # swaks refuses --pipeline when the server does not advertise PIPELINING.
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PIPELINING" in r.stdout
    m = re.search(r"^<-  (250 2\.0\.0 Ok: queued as \S+)", r.stdout, re.M)
    assert m, r.stdout
    qid = queue_id_of(m.group(1))
    (raw,) = server.wait_for_mail("bob@example.test")
    assert_delivered(raw, sender="someone@example.net", rcpt="bob@example.test",
                     queue_id=qid, message_crlf=body.replace(b"\n", b"\r\n") + b"\r\n")


def test_swaks_default_message_to_two_users_reaches_both(server):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{server.port}",
         "--to", "alice@example.test,bob@example.test", "--from", "someone@example.net",
         "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    (a,) = server.wait_for_mail("alice@example.test")
    (b,) = server.wait_for_mail("bob@example.test")
    assert parse_delivered(a).message == parse_delivered(b).message
    assert b"This is a test mailing" in parse_delivered(a).message


def test_curl_delivers_to_local_user(server, tmp_path):
    msg = make_message(subject="curl delivery", body="sent by curl\r\n.leading dot\r\n")
    f = tmp_path / "msg.txt"
    f.write_bytes(msg)  # CRLF already: curl sends the file as it is
    r = subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "30", f"smtp://127.0.0.1:{server.port}",
         "--mail-from", "someone@example.net", "--mail-rcpt", "alice@example.test",
         "--upload-file", str(f)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "NO_PROXY": "*", "no_proxy": "*"})
    assert r.returncode == 0, r.stderr
    m = re.search(r"^< (250 2\.0\.0 Ok: queued as \S+)", r.stderr, re.M)
    assert m, r.stderr
    qid = queue_id_of(m.group(1))
    (raw,) = server.wait_for_mail("alice@example.test")
    # curl says EHLO with its own name; the protocol is ESMTP.
    assert_delivered(raw, sender="someone@example.net", rcpt="alice@example.test",
                     queue_id=qid, message_crlf=msg)


def test_curl_crlf_upload_of_lf_file_delivers(server, tmp_path):
    # The README's demo: a file typed with LF line ends, sent with --crlf.
    f = tmp_path / "msg.txt"
    f.write_bytes(b"Subject: hello from curl\n\nHi Alice!\n")
    r = subprocess.run(
        ["curl", "-sS", "--crlf", "--max-time", "30", f"smtp://127.0.0.1:{server.port}",
         "--mail-from", "someone@example.net", "--mail-rcpt", "alice@example.test",
         "--upload-file", str(f)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "NO_PROXY": "*", "no_proxy": "*"})
    assert r.returncode == 0, r.stderr
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).message == b"Subject: hello from curl\n\nHi Alice!\n"


def test_maildir_file_name_carries_its_size(server):
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], make_message(subject="size"))
    server.wait_for_mail("alice@example.test")
    (path,) = server.mail_files("alice@example.test")
    m = re.search(r",S=(\d+)", path.name)
    assert m, f"Maildir file name without ,S=<size>: {path.name}"
    assert int(m.group(1)) == path.stat().st_size
