"""SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN (issue 3): offered only inside
TLS unless a listener allows plaintext, the reply codes of every way an exchange can
end, the brute-force budget ending in 421, and no secrets in the server's log."""

import base64
import email.utils
import os
import re
import smtplib
import subprocess

import pytest

from conftest import HOSTNAME, PASSWORD, client_tls_context, parse_delivered
from smtpclient import make_message

ROLES = ("mx", "submission", "submissions")
TLS = {"tls": {"self_signed": True}}
ALICE = "alice@example.test"
NO_PROXY = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}


@pytest.fixture
def tls_server(make_server):
    return make_server(roles=ROLES, sections=TLS)


def b64(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def plain(user: str, password: str, authzid: str = "") -> str:
    """The PLAIN message: [authzid] NUL authcid NUL passwd, base64."""
    return b64(f"{authzid}\0{user}\0{password}")


def keywords(ehlo_reply) -> dict[str, list[str]]:
    return {line.split()[0].upper(): line.split()[1:] for line in ehlo_reply.lines[1:]
            if line.strip()}


# -- where AUTH is offered ---------------------------------------------------------------

@pytest.mark.parametrize("role", ["mx", "submission"])
def test_auth_is_not_advertised_before_tls(tls_server, role):
    with tls_server.connect(port=tls_server.port_for(role)) as c:
        assert "AUTH" not in keywords(c.cmd("EHLO client.example.net"))


@pytest.mark.parametrize("role", ["mx", "submission"])
def test_auth_is_advertised_with_plain_and_login_inside_tls(tls_server, role):
    with tls_server.tls_session(port=tls_server.port_for(role)) as c:
        kw = keywords(c.cmd("EHLO client.example.net"))
        assert {"PLAIN", "LOGIN"} <= set(kw.get("AUTH", [])), kw


@pytest.mark.parametrize("role", ["mx", "submission"])
def test_auth_before_tls_is_538_5711_and_checks_nothing(tls_server, role):
    with tls_server.session(port=tls_server.port_for(role)) as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(538, "5.7.11")
        assert c.cmd("AUTH LOGIN").is_(538, "5.7.11")
        # Still unauthenticated: a submission listener wants AUTH before MAIL.
        if role == "submission":
            assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(530, "5.7.0")


def test_allow_plaintext_auth_offers_and_accepts_auth_without_tls(make_server):
    srv = make_server(roles=("submission",), listen_options={"allow_plaintext_auth": True},
                      sections=TLS)
    with srv.session() as c:
        kw = keywords(c.cmd("EHLO client.example.net"))
        assert {"PLAIN", "LOGIN"} <= set(kw.get("AUTH", [])), kw
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(235, "2.7.0")


# -- successful exchanges ----------------------------------------------------------------

def test_auth_plain_with_initial_response_is_235_270(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(235, "2.7.0")
        # AUTH is no longer offered once authenticated (RFC 4954 §4).
        assert "AUTH" not in keywords(c.cmd("EHLO client.example.net"))


def test_auth_plain_without_initial_response_gets_an_empty_334(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        r = c.cmd("AUTH PLAIN")
        assert r.code == 334 and r.lines == [""], r
        assert c.cmd(plain(ALICE, PASSWORD)).is_(235, "2.7.0")


def test_auth_login_prompts_username_and_password_then_235(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334 and base64.b64decode(r.last) == b"Username:", r
        r = c.cmd(b64(ALICE))
        assert r.code == 334 and base64.b64decode(r.last) == b"Password:", r
        assert c.cmd(b64(PASSWORD)).is_(235, "2.7.0")


def test_auth_login_with_initial_response_asks_only_for_the_password(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("mx")) as c:
        r = c.cmd(f"AUTH LOGIN {b64(ALICE)}")
        assert r.code == 334 and base64.b64decode(r.last) == b"Password:", r
        assert c.cmd(b64(PASSWORD)).is_(235, "2.7.0")


@pytest.mark.parametrize("login", ["Alice@Example.TEST", "alice"])
def test_login_name_is_case_insensitive_and_may_be_the_bare_local_part(tls_server, login):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        assert c.cmd(f"AUTH PLAIN {plain(login, PASSWORD)}").is_(235, "2.7.0")


def test_smtplib_login_over_starttls_submits_with_esmtpsa(tls_server):
    msg = make_message(subject="smtplib login", sender=ALICE, to="bob@example.test")
    with smtplib.SMTP("127.0.0.1", tls_server.port_for("submission"),
                      local_hostname="client.example.net", timeout=15) as s:
        s.starttls(context=client_tls_context())
        code, _ = s.login(ALICE, PASSWORD)
        assert code == 235
        refused = s.sendmail(ALICE, ["bob@example.test"], msg)
        assert refused == {}
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    assert re.search(r"\bwith ESMTPSA id \S+", parse_delivered(raw).received)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth_over_starttls_delivers_with_esmtpsa(tls_server, mech):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{tls_server.port_for('submission')}", "--tls",
         "--auth", mech, "--auth-user", ALICE, "--auth-password", PASSWORD,
         "--from", ALICE, "--to", "bob@example.test", "--helo", "client.example.net",
         "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^ ~> AUTH {mech}\b", r.stdout, re.M), r.stdout
    assert re.search(r"^<~  235 2\.7\.0", r.stdout, re.M), r.stdout
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    received = parse_delivered(raw).received
    assert re.search(r"\bwith ESMTPSA id \S+", received), received
    assert re.search(r"\(using TLSv1\.[23] with cipher \S+\)", received), received


def test_swaks_tls_on_connect_auth_on_submissions_delivers(tls_server):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{tls_server.port_for('submissions')}",
         "--tls-on-connect", "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password",
         PASSWORD, "--from", ALICE, "--to", "bob@example.test", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^<~  220 {re.escape(HOSTNAME)} ESMTP posthorn", r.stdout, re.M), r.stdout
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    assert re.search(r"\bwith ESMTPSA id \S+", parse_delivered(raw).received)


@pytest.mark.parametrize("scheme,role,extra", [
    ("smtp", "submission", ["--ssl-reqd"]),
    ("smtps", "submissions", []),
])
def test_curl_user_submits_over_tls(tls_server, tmp_path, scheme, role, extra):
    # With Date and Message-ID, so the server adds nothing to the message.
    msg = make_message(subject=f"curl {scheme}", sender=ALICE, to="bob@example.test",
                       extra_headers=f"Date: {email.utils.formatdate()}\r\n")
    f = tmp_path / "msg.txt"
    f.write_bytes(msg)
    r = subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "30", "--insecure", *extra,
         f"{scheme}://127.0.0.1:{tls_server.port_for(role)}", "--user", f"{ALICE}:{PASSWORD}",
         "--mail-from", ALICE, "--mail-rcpt", "bob@example.test", "--upload-file", str(f)],
        capture_output=True, text=True, timeout=60, env=NO_PROXY)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^< 235 2\.7\.0", r.stderr, re.M), r.stderr
    assert re.search(r"^< 250 2\.0\.0 Ok: queued as \S+", r.stderr, re.M), r.stderr
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    d = parse_delivered(raw)
    assert re.search(r"\bwith ESMTPSA id \S+", d.received), d.received
    assert d.message == msg.replace(b"\r\n", b"\n")


# -- failed exchanges ----------------------------------------------------------------------

def test_wrong_password_is_535_578(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, 'not-the-password')}").is_(535, "5.7.8")
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(530, "5.7.0")


def test_unknown_user_is_535_578_like_a_wrong_password(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        wrong = c.cmd(f"AUTH PLAIN {plain(ALICE, 'not-the-password')}")
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        unknown = c.cmd(f"AUTH PLAIN {plain('nobody@example.test', PASSWORD)}")
    assert unknown.is_(535, "5.7.8"), unknown
    assert unknown.lines == wrong.lines  # nothing tells which of the two was wrong


def test_login_with_wrong_password_is_535_578(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64(ALICE)).code == 334
        assert c.cmd(b64("not-the-password")).is_(535, "5.7.8")


def test_plain_proxy_login_as_another_user_is_535_578(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        r = c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD, authzid='bob@example.test')}")
        assert r.is_(535, "5.7.8")


@pytest.mark.parametrize("steps", [
    ["AUTH PLAIN"],
    ["AUTH LOGIN"],
    ["AUTH LOGIN", b64(ALICE)],
])
def test_star_cancels_the_exchange_with_501(tls_server, steps):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        for line in steps:
            assert c.cmd(line).code == 334
        r = c.cmd("*")
        assert r.code == 501, r
        # The session is back in command mode and may try again.
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(235, "2.7.0")


@pytest.mark.parametrize("steps,bad", [
    ([], "AUTH PLAIN not*base64!"),
    (["AUTH PLAIN"], "not*base64!"),
    (["AUTH LOGIN"], "YWxp=Y2U"),
    (["AUTH LOGIN", b64(ALICE)], "%%%%"),
])
def test_bad_base64_is_501_552(tls_server, steps, bad):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        for line in steps:
            assert c.cmd(line).code == 334
        assert c.cmd(bad).is_(501, "5.5.2")
        assert c.cmd("NOOP").is_(250)  # back in command mode


def test_auth_twice_is_503_551(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(235, "2.7.0")
        assert c.cmd(f"AUTH PLAIN {plain('bob@example.test', PASSWORD)}").is_(503, "5.5.1")


def test_unknown_mechanism_is_504(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("submission")) as c:
        assert c.cmd("AUTH CRAM-MD5").is_(504, "5.5.4")


def test_auth_during_a_mail_transaction_is_503_551(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("mx")) as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(503, "5.5.1")


# -- brute force -----------------------------------------------------------------------------

def test_failures_reach_421_470_and_close_then_a_new_connection_is_refused_at_auth(make_server):
    srv = make_server(roles=("submission",), sections={**TLS, "auth": {"max_failures": 3}})
    with srv.tls_session() as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, 'guess-1')}").is_(535, "5.7.8")
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, 'guess-2')}").is_(535, "5.7.8")
        r = c.cmd(f"AUTH PLAIN {plain(ALICE, 'guess-3')}")
        assert r.is_(421, "4.7.0"), r
        assert c.closed_by_server()
    # Same client address, new connection: even the right password is not checked now.
    with srv.tls_session() as c:
        r = c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}")
        assert r.is_(421, "4.7.0"), r
        assert c.closed_by_server()


def test_failures_below_the_budget_do_not_block_a_right_password(make_server):
    srv = make_server(roles=("submission",), sections={**TLS, "auth": {"max_failures": 3}})
    with srv.tls_session() as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, 'guess-1')}").is_(535, "5.7.8")
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, 'guess-2')}").is_(535, "5.7.8")
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, PASSWORD)}").is_(235, "2.7.0")


# -- logs ------------------------------------------------------------------------------------

def test_server_log_holds_no_password_and_no_auth_payload(make_server):
    secret, wrong = "Zebra-Quartz-7731", "Lynx-Wrong-4409"
    srv = make_server(roles=("submission",), sections=TLS, passwords={ALICE: secret},
                      serve_args=("--log-level", "trace"))
    payloads = [plain(ALICE, secret), plain(ALICE, wrong), b64(secret), b64(wrong),
                plain("nobody@example.test", wrong)]
    with srv.tls_session() as c:
        assert c.cmd(f"AUTH PLAIN {payloads[1]}").is_(535, "5.7.8")
        assert c.cmd(f"AUTH PLAIN {payloads[4]}").is_(535, "5.7.8")
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64(ALICE)).code == 334
        assert c.cmd(b64(wrong)).is_(535, "5.7.8")
    with srv.tls_session() as c:
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64(ALICE)).code == 334
        assert c.cmd(b64(secret)).is_(235, "2.7.0")
    with srv.tls_session() as c:
        assert c.cmd(f"AUTH PLAIN {payloads[0]}").is_(235, "2.7.0")
        c.quit()
    srv.stop()  # every line written and flushed
    log = srv.log_path.read_text(errors="replace")
    assert "event=auth " in log, log  # the log is there and speaks of AUTH
    for needle in (secret, wrong, *payloads):
        assert needle not in log, f"{needle!r} appears in the server log"
