"""Prometheus metrics on [metrics] address (issue 5, DESIGN.md §4.5): scraped with curl,
the counters move by exactly what the clients did; the HTTP endpoint answers GET
/metrics only; the mail log has the session's reject and disconnect lines."""

import base64
import re
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import DELIVERY_TIMEOUT, PASSWORD, client_tls_context, free_port

TLS = {"tls": {"self_signed": True}}
ALICE = "alice@example.test"
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$")


def curl(port: int, path: str = "/metrics", *args: str) -> tuple[int, str, str]:
    """(status, content type, body) of one request made by curl."""
    r = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-o", "-",
         "-w", "\n%{http_code}\n%{content_type}", *args, f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    body, status, ctype = r.stdout.rsplit("\n", 2)
    return int(status), ctype, body


def parse(text: str) -> dict[str, float]:
    """Series ('name{labels}') -> value; checks every line is well formed."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"malformed exposition line: {line!r}"
        assert m.group(1) not in out, f"duplicate series {m.group(1)}"
        out[m.group(1)] = float(m.group(2))
    return out


def scrape(port: int) -> dict[str, float]:
    status, ctype, body = curl(port)
    assert status == 200, (status, body)
    return parse(body)


def delta(before: dict, after: dict, series: str) -> float:
    return after.get(series, 0.0) - before.get(series, 0.0)


def wait_until(port: int, check, what: str, timeout: float = DELIVERY_TIMEOUT) -> dict:
    """Scrapes until check(metrics) holds (work after a reply is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(port)
        if check(m):
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never showed {what}:\n" +
                                 "\n".join(f"{k} {v}" for k, v in sorted(m.items())))
        time.sleep(0.05)


def cmds(verb: str, cls: str) -> str:
    return f'posthorn_smtp_commands_total{{verb="{verb}",class="{cls}"}}'


def message(subject: str) -> bytes:
    return (f"From: <sender@remote.test>\r\nTo: <{ALICE}>\r\nSubject: {subject}\r\n\r\n"
            "Counted.\r\n").encode()


def metrics_server(make_server, roles=("mx",), **kw):
    mport = free_port()
    sections = {**kw.pop("sections", {}), "metrics": {"address": f"127.0.0.1:{mport}"}}
    srv = make_server(roles=roles, sections=sections, **kw)
    return srv, mport


def test_counters_move_by_exactly_what_clients_did(make_server):
    srv, mport = metrics_server(make_server, roles=("mx", "submission", "submissions"),
                                sections=TLS)
    mx, sub, subs = (srv.port_for(r) for r in ("mx", "submission", "submissions"))
    assert f"event=listening address=127.0.0.1:{mport} role=metrics" in srv.log_path.read_text()
    before = scrape(mport)

    # Mail over plain SMTP with smtplib: one recipient refused, one accepted.
    msg = message("metrics")
    with smtplib.SMTP("127.0.0.1", mx, timeout=15) as c:
        refused = c.sendmail("sender@remote.test", [ALICE, "nobody@example.test"], msg)
    assert list(refused) == ["nobody@example.test"]
    srv.wait_for_mail(ALICE)

    # STARTTLS, then one AUTH exchange that fails (exactly one: smtplib.login would try
    # every mechanism).
    with smtplib.SMTP("127.0.0.1", sub, timeout=15) as c:
        c.starttls(context=client_tls_context())
        c.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.auth("PLAIN", lambda challenge=None: f"\0{ALICE}\0not-{PASSWORD}",
                   initial_response_ok=True)

    # A failed handshake: plain text where implicit TLS is expected.
    with socket.create_connection(("127.0.0.1", subs), timeout=10) as s:
        s.sendall(b"EHLO plain.example\r\n")
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass

    def listener(name: str, port: int) -> str:
        return f'{name}{{listener="127.0.0.1:{port}"}}'

    after = wait_until(
        mport,
        lambda m: delta(before, m, 'posthorn_deliveries_total{outcome="sent"}') >= 1 and
        delta(before, m, 'posthorn_tls_handshakes_total{result="failure"}') >= 1 and
        all(m.get(listener("posthorn_connections", p)) == 0 for p in (mx, sub, subs)),
        "the delivery, the failed handshake and every connection closed")

    expected = {
        listener("posthorn_connections_total", mx): 1,
        listener("posthorn_connections_total", sub): 1,
        listener("posthorn_connections_total", subs): 1,
        listener("posthorn_connections_refused_total", mx): 0,
        # smtplib: EHLO, MAIL, RCPT, RCPT (550), DATA, QUIT; then EHLO, STARTTLS, EHLO,
        # AUTH (535), QUIT.
        cmds("EHLO", "2xx"): 3,
        cmds("MAIL", "2xx"): 1,
        cmds("RCPT", "2xx"): 1,
        cmds("RCPT", "5xx"): 1,
        cmds("DATA", "2xx"): 1,
        cmds("STARTTLS", "2xx"): 1,
        cmds("AUTH", "5xx"): 1,
        cmds("QUIT", "2xx"): 2,
        "posthorn_messages_accepted_total": 1,
        "posthorn_messages_rejected_total": 0,
        "posthorn_received_bytes_total": len(msg),
        'posthorn_tls_handshakes_total{result="success"}': 1,
        'posthorn_tls_handshakes_total{result="failure"}': 1,
        'posthorn_auth_total{result="failure"}': 1,
        'posthorn_auth_total{result="success"}': 0,
        'posthorn_deliveries_total{outcome="sent"}': 1,
        'posthorn_deliveries_total{outcome="deferred"}': 0,
        'posthorn_deliveries_total{outcome="bounced"}': 0,
        "posthorn_delivery_delay_seconds_count": 1,
        'posthorn_delivery_delay_seconds_bucket{le="+Inf"}': 1,
    }
    got = {k: delta(before, after, k) for k in expected}
    assert got == expected
    # One delay was observed: the sum is that delay, so it must fall in the first bucket
    # that counted it and above the last bucket that did not (the histogram agrees with
    # itself; how long delivery took is for bench/, not for a test).
    one = delta(before, after, "posthorn_delivery_delay_seconds_sum")
    bounds = sorted(
        (float(m.group(1)), delta(before, after, k)) for k in after
        if (m := re.fullmatch(r'posthorn_delivery_delay_seconds_bucket\{le="([^"+]+)"\}', k)))
    assert bounds, "the histogram has finite buckets"
    counted = [le for le, n in bounds if n == 1]
    below = [le for le, n in bounds if n == 0]
    assert all(n in (0, 1) for _, n in bounds), bounds
    assert one >= (max(below) if below else 0.0), (one, bounds)
    if counted:
        assert one <= min(counted), (one, bounds)
        assert not below or max(below) < min(counted), bounds
    for state in ("active", "deferred", "held"):
        assert after[f'posthorn_queue_messages{{state="{state}"}}'] == 0

    log = srv.log_path.read_text()
    assert ("event=reject client=[127.0.0.1] command=RCPT code=550 dsn=5.1.1 "
            'reason="<nobody@example.test>: Recipient address rejected: User unknown" '
            "from=<sender@remote.test>") in log
    assert re.search(r"event=disconnect client=\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1/2 "
                     r"data=1 quit=1 commands=5/6 ", log), log
    assert re.search(r"event=disconnect client=\[127\.0\.0\.1\] ehlo=2 starttls=1 auth=0/1 "
                     r"quit=1 commands=4/5 ", log), log
    assert "event=reject client=[127.0.0.1] command=AUTH code=535 dsn=5.7.8" in log
    payload = base64.b64encode(f"\0{ALICE}\0not-{PASSWORD}".encode()).decode()
    assert payload not in log and f"not-{PASSWORD}" not in log


def test_refused_connections_are_counted_for_their_listener(make_server):
    srv, mport = metrics_server(make_server, limits={"connections_per_ip": 1})
    label = f'{{listener="127.0.0.1:{srv.port}"}}'
    wait_until(mport, lambda m: m.get("posthorn_connections" + label) == 0,
               "the start-up probe's connection closed")
    before = scrape(mport)
    with srv.connect() as held:
        assert held.banner.code == 220
        with srv.connect(read_banner=False) as second:
            assert second.read_reply().is_(421, "4.7.0")
        after = wait_until(mport, lambda m: delta(before, m, "posthorn_connections_total" + label)
                           == 2, "two connections")
        assert delta(before, after, "posthorn_connections_refused_total" + label) == 1
        assert after["posthorn_connections" + label] == 1  # the refused one never counted
    wait_until(mport, lambda m: m.get("posthorn_connections" + label) == 0,
               "the held connection closed")


def test_deferred_relay_shows_in_outcomes_and_queue_gauge(make_server):
    # The smarthost is a loopback port where nobody listens: the attempt defers.
    srv, mport = metrics_server(make_server)
    before = scrape(mport)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=15) as c:
        c.sendmail("sender@remote.test", ["carol@remote.test"], message("relay"))
    after = wait_until(
        mport, lambda m: delta(before, m, 'posthorn_deliveries_total{outcome="deferred"}') >= 1,
        "the deferral")
    assert delta(before, after, 'posthorn_deliveries_total{outcome="deferred"}') == 1
    assert delta(before, after, 'posthorn_deliveries_total{outcome="sent"}') == 0
    assert delta(before, after, "posthorn_delivery_delay_seconds_count") == 0
    after = wait_until(mport, lambda m: m.get('posthorn_queue_messages{state="deferred"}') == 1,
                       "the message waiting for its retry")
    assert after['posthorn_queue_messages{state="active"}'] == 0
    assert after['posthorn_queue_messages{state="held"}'] == 0


def test_http_answers_get_metrics_only(make_server):
    srv, mport = metrics_server(make_server)
    status, ctype, body = curl(mport)
    assert status == 200
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE posthorn_smtp_commands_total counter\n" in body
    assert "# TYPE posthorn_delivery_delay_seconds histogram\n" in body
    parse(body)
    assert curl(mport, "/metrics?x=1")[0] == 200
    assert curl(mport, "/other")[0] == 404
    assert curl(mport, "/")[0] == 404
    assert curl(mport, "/metrics", "-X", "POST", "-d", "x=1")[0] == 405
    status, _, body = curl(mport, "/metrics", "-I")  # HEAD: the headers only
    assert status == 200 and "posthorn_" not in body

    # Keep-alive: curl's second transfer reuses the first one's connection.
    r = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-o", "/dev/null", "-o", "/dev/null",
         "-w", "%{num_connects}\n", f"http://127.0.0.1:{mport}/metrics",
         f"http://127.0.0.1:{mport}/metrics"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "0"]

    # A request larger than the server takes is refused, not buffered: 413, or a reset
    # when the server closed before curl had sent it all.
    r = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-o", "/dev/null",
         "-w", "%{http_code}", "-H", "X-Big: " + "x" * 20000, f"http://127.0.0.1:{mport}/metrics"],
        capture_output=True, text=True, timeout=20)
    assert r.stdout in ("413", "000"), (r.stdout, r.stderr)
    assert curl(mport)[0] == 200


def test_no_metrics_listener_without_an_address(make_server):
    srv = make_server()
    assert "role=metrics" not in srv.log_path.read_text()
