"""Outbound extensions: BDAT to peers offering CHUNKING (RFC 3030), and the RFC 6857
downgrade of UTF-8 header fields for a peer without SMTPUTF8.

Each test asserts on the bytes the peer received.
"""

import email
import email.header
import email.policy

from peers import MX1, remote, settled_reports, submit, wait_until  # noqa: F401
from smtpclient import make_message

SENDER = "someone@example.net"
ALICE = "alice@example.test"
CHUNK = 64 * 1024


def without_our_received(data: bytes) -> tuple[bytes, bytes]:
    """(our Received: field, the rest) of what a peer got."""
    assert data.startswith(b"Received: "), data[:200]
    end = 0
    while True:
        end = data.index(b"\r\n", end) + 2
        if data[end:end + 1] not in (b" ", b"\t"):
            return data[:end], data[end:]


def test_peer_with_chunking_gets_the_exact_octets_in_bdat_chunks(remote):
    mx1 = remote.peer(MX1, chunking=True)
    srv = remote.make_server(retry=["1h"])
    # Lines that DATA would dot-stuff, and enough octets for three chunks.
    body = b"".join(b".line %06d with a leading dot\r\n" % i for i in range(5000))
    message = make_message(subject="chunked", to="bob@remote.test") + body
    submit(srv, SENDER, ["bob@remote.test"], message)

    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    received, rest = without_our_received(tx.data)
    assert rest == message, "BDAT carries the message unchanged (no dot-stuffing)"
    assert tx.chunks, "the message came by BDAT, not DATA"
    sizes = [s for s, _ in tx.chunks]
    assert sum(sizes) == len(tx.data)
    assert [last for _, last in tx.chunks] == [False] * (len(sizes) - 1) + [True]
    # 64 KiB of the queued message per chunk; a CR that ends a block waits for the next
    # one (it might start a bare-CR repair), so a chunk may be one octet shorter.
    assert all(CHUNK - 1 <= s <= CHUNK + 1 for s in sizes[:-1]) and 0 < sizes[-1], sizes
    assert len(sizes) == -(-len(tx.data) // CHUNK)
    assert tx.mail_params.get("SIZE") == str(len(tx.data)), tx.mail_params
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)


def test_peer_without_chunking_still_gets_data(remote):
    mx1 = remote.peer(MX1)  # no CHUNKING in its EHLO
    srv = remote.make_server(retry=["1h"])
    message = make_message(subject="plain", to="bob@remote.test", body=".dot\r\n")
    submit(srv, SENDER, ["bob@remote.test"], message)
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert not tx.chunks
    assert without_our_received(tx.data)[1] == message


def test_bdat_chunk_refused_at_the_end_defers_like_data(remote):
    mx1 = remote.peer(MX1, chunking=True)
    mx1.fail_data("451 4.3.0 Try again later", times=1)
    srv = remote.make_server(retry=["1s"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="again"))
    mx1.wait_for_messages(1, detail=remote.describe)
    settled_reports(srv, remote, ALICE, 0)
    assert len(mx1.messages) == 1 and len(mx1.transactions) == 2, remote.describe()


UTF8_MESSAGE = ("From: Jörg Müller <joerg@example.net>\r\n"
                "To: Bob <bob@remote.test>, Zoë <zoe@bücher.test>\r\n"
                "Subject: Grüße aus Köln\r\n"
                "Message-ID: <1234@example.net>\r\n"
                "MIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n"
                "\r\n"
                "Schöne Grüße.\r\n").encode("utf-8")


def test_utf8_headers_with_an_ascii_envelope_are_downgraded_for_a_peer_without_smtputf8(remote):
    mx1 = remote.peer(MX1, smtputf8=False)
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["bob@remote.test"], UTF8_MESSAGE, mail_params="SMTPUTF8 BODY=8BITMIME")

    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert "SMTPUTF8" not in tx.mail_params, tx.mail_params
    assert tx.mail_params.get("BODY") == "8BITMIME", "the body is still 8 bit"
    head, _, body = tx.data.partition(b"\r\n\r\n")
    assert all(b < 0x80 for b in head), f"the header section is ASCII:\n{head!r}"
    assert body == "Schöne Grüße.\r\n".encode("utf-8"), "the body is not touched"

    msg = email.message_from_bytes(tx.data, policy=email.policy.default)

    def decoded(name: str) -> str:
        return str(email.header.make_header(email.header.decode_header(msg[name])))

    assert decoded("Subject") == "Grüße aus Köln"
    assert msg["From"].addresses[0].display_name == "Jörg Müller"
    assert msg["From"].addresses[0].addr_spec == "joerg@example.net"
    tos = [(a.display_name, a.addr_spec) for a in msg["To"].addresses]
    assert tos == [("Bob", "bob@remote.test"), ("Zoë", "zoe@xn--bcher-kva.test")], tos
    assert msg["Message-ID"] == "<1234@example.net>", "ASCII fields are kept as they were"
    assert b"Message-ID: <1234@example.net>\r\n" in head
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)


def test_utf8_headers_go_unchanged_to_a_peer_with_smtputf8(remote):
    mx1 = remote.peer(MX1)  # offers SMTPUTF8
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["bob@remote.test"], UTF8_MESSAGE, mail_params="SMTPUTF8 BODY=8BITMIME")
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert tx.mail_params.get("SMTPUTF8") is True, tx.mail_params
    assert without_our_received(tx.data)[1] == UTF8_MESSAGE


def test_downgraded_message_goes_by_bdat_too(remote):
    mx1 = remote.peer(MX1, smtputf8=False, chunking=True)
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["bob@remote.test"], UTF8_MESSAGE, mail_params="SMTPUTF8 BODY=8BITMIME")
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert tx.chunks and sum(s for s, _ in tx.chunks) == len(tx.data)
    msg = email.message_from_bytes(tx.data, policy=email.policy.default)
    assert str(email.header.make_header(email.header.decode_header(msg["Subject"]))) == \
        "Grüße aus Köln"


def test_utf8_envelope_recipient_still_bounces_5_6_7_without_smtputf8(remote):
    mx1 = remote.peer(MX1, smtputf8=False)
    srv = remote.make_server(retry=["1h"])
    rcpt = "jörg@remote.test"
    submit(srv, ALICE, [rcpt], UTF8_MESSAGE, mail_params="SMTPUTF8 BODY=8BITMIME")
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    r = rep.recipient(rcpt)
    assert r["action"].lower() == "failed" and r["status"] == "5.6.7", r
    assert not mx1.messages, remote.describe()


BINARY_MESSAGE = (b"From: <alice@example.test>\r\nTo: <bob@remote.test>\r\nSubject: binary\r\n"
                  b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: binary\r\n\r\n"
                  + bytes(range(256)) + b"\rlone CR\nlone LF\r\n")


def submit_binarymime(srv, sender: str, rcpt: str, message: bytes) -> None:
    """One BODY=BINARYMIME transaction sent with BDAT through the raw client (smtplib
    has no BDAT); the message must be queued."""
    with srv.session() as c:
        assert c.cmd(f"MAIL FROM:<{sender}> BODY=BINARYMIME").code == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>").code == 250
        c.send(f"BDAT {len(message)} LAST\r\n".encode() + message)
        (r,) = c.read_replies(1)
        assert r.code == 250 and "queued as" in r.line(), r
        c.quit()


def test_binarymime_message_goes_verbatim_to_a_peer_offering_it(remote):
    mx1 = remote.peer(MX1, chunking=True, binarymime=True)
    srv = remote.make_server(retry=["1h"])
    submit_binarymime(srv, ALICE, "bob@remote.test", BINARY_MESSAGE)
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert tx.chunks, "BINARYMIME goes by BDAT"
    assert tx.mail_params.get("BODY") == "BINARYMIME", tx.mail_params
    assert without_our_received(tx.data)[1] == BINARY_MESSAGE, "every octet as received"


def test_binarymime_message_to_a_peer_without_it_bounces_5_6_3(remote):
    mx1 = remote.peer(MX1, chunking=True)  # CHUNKING, but no BINARYMIME
    srv = remote.make_server(retry=["1h"])
    submit_binarymime(srv, ALICE, "bob@remote.test", BINARY_MESSAGE)
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    r = rep.recipient("bob@remote.test")
    assert r["action"].lower() == "failed" and r["status"] == "5.6.3", r
    assert not mx1.messages, remote.describe()
