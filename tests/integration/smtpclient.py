"""A raw-socket SMTP client for tests: send exact bytes, read whole replies.

Unlike smtplib it sends whatever it is given (bare LF, pipelined commands, overlong
lines) and reports replies exactly, so tests can check every code and line.
"""

from __future__ import annotations

import re
import socket
import uuid
from dataclasses import dataclass

ENHANCED_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


class ConnectionClosed(Exception):
    """The server closed the connection while a reply was expected."""


@dataclass
class Reply:
    code: int
    lines: list  # text of each line, without "250-" / "250 "

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def last(self) -> str:
        return self.lines[-1] if self.lines else ""

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 status code on the last line ("5.5.1"), None when absent."""
        m = ENHANCED_RE.match(self.last)
        return m.group(0) if m else None

    def line(self) -> str:
        """The last line as it was on the wire: "250 2.0.0 Ok"."""
        return f"{self.code} {self.last}".rstrip()

    def __str__(self) -> str:
        return " | ".join(f"{self.code} {x}" for x in self.lines)

    def is_(self, code: int, enhanced: str | None = None) -> bool:
        return self.code == code and (enhanced is None or self.enhanced == enhanced)


def dot_stuff(message: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line starting with "." gets one more."""
    out = []
    for line in message.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out)


def data_payload(message: bytes) -> bytes:
    """What a client sends after 354: the stuffed message and the final "."."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return dot_stuff(message) + b".\r\n"


class SmtpConn:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 15.0,
                 read_banner: bool = True, source: str | None = None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.banner: Reply | None = self.read_reply() if read_banner else None

    # -- raw I/O -----------------------------------------------------------------
    def send(self, data: bytes | str):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                rest, self.buf = self.buf, b""
                raise ConnectionClosed(f"connection closed; unparsed {rest!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self) -> Reply:
        """One complete reply, multi-line ones ("250-...", "250 ...") included."""
        lines = []
        code = None
        while True:
            raw = self._read_line().decode("utf-8", "replace")
            m = re.match(r"^(\d{3})([ -]?)(.*)$", raw)
            assert m, f"malformed reply line {raw!r}"
            if code is None:
                code = int(m.group(1))
            assert int(m.group(1)) == code, f"code changed inside a multi-line reply: {raw!r}"
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, lines)

    def read_replies(self, n: int) -> list[Reply]:
        return [self.read_reply() for _ in range(n)]

    def cmd(self, line: str | bytes) -> Reply:
        """Sends one command line (CRLF added) and reads its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.read_reply()

    def closed_by_server(self) -> bool:
        """True when the server closes the connection (reads to EOF, bounded by the
        socket timeout); anything it still sends is discarded."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- conveniences ------------------------------------------------------------
    def ehlo(self, name: str = "client.example.net") -> Reply:
        return self.cmd(f"EHLO {name}")

    def data(self, message: bytes) -> Reply:
        """DATA, the message (stuffed here), the end; returns the reply to the end."""
        r = self.cmd("DATA")
        assert r.code == 354, f"DATA: {r}"
        self.send(data_payload(message))
        return self.read_reply()

    def send_mail(self, sender: str, rcpts: list[str], message: bytes,
                  mail_params: str = "") -> str:
        """A whole transaction that must succeed; returns the queue id."""
        r = self.cmd(f"MAIL FROM:<{sender}>" + (f" {mail_params}" if mail_params else ""))
        assert r.code == 250, f"MAIL: {r}"
        for rcpt in rcpts:
            r = self.cmd(f"RCPT TO:<{rcpt}>")
            assert r.code == 250, f"RCPT {rcpt}: {r}"
        r = self.data(message)
        assert r.code == 250, f"end of DATA: {r}"
        m = re.match(r"^2\.0\.0 Ok: queued as (\S+)", r.last)
        assert m, f"250 does not name the queue id: {r.line()!r}"
        return m.group(1)

    def quit(self) -> Reply:
        r = self.cmd("QUIT")
        self.close()
        return r


def make_message(subject: str = "test", body: str = "Hello.\r\n", sender: str = "someone@example.net",
                 to: str = "alice@example.test", extra_headers: str = "") -> bytes:
    """A small RFC 5322 message with CRLF line ends."""
    msg = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
           f"Message-ID: <{uuid.uuid4().hex}@example.net>\r\n{extra_headers}\r\n{body}")
    if not msg.endswith("\r\n"):
        msg += "\r\n"
    return msg.encode("utf-8")
