"""VRFY and EXPN under [smtp] vrfy / expn (DESIGN.md §4.2)."""

import pytest

ALIASES = "postmaster: alice\nteam: alice, bob\n"


@pytest.fixture
def open_server(make_server):
    return make_server(vrfy=True, expn=True, aliases=ALIASES)


@pytest.fixture
def closed_server(make_server):
    return make_server(vrfy=False, expn=False, aliases=ALIASES)


@pytest.mark.parametrize("arg", ["alice@example.test", "<alice@example.test>"])
def test_vrfy_on_known_user_is_250(open_server, arg):
    with open_server.session() as c:
        r = c.cmd(f"VRFY {arg}")
        assert r.code == 250, r
        assert r.enhanced is not None and r.enhanced.startswith("2."), r
        assert "alice@example.test" in r.text


def test_vrfy_on_quoted_local_part_finds_the_user(open_server):
    with open_server.session() as c:
        r = c.cmd('VRFY "bob"@example.test')
        assert r.code == 250, r
        assert "bob@example.test" in r.text


def test_vrfy_on_unknown_user_is_550_511(open_server):
    with open_server.session() as c:
        assert c.cmd("VRFY nobody@example.test").is_(550, "5.1.1")


def test_vrfy_when_off_is_252_215_for_known_and_unknown_alike(closed_server):
    with closed_server.session() as c:
        known = c.cmd("VRFY alice@example.test")
        unknown = c.cmd("VRFY nobody@example.test")
        assert known.is_(252, "2.1.5"), known
        assert unknown.is_(252, "2.1.5"), unknown
        # Only an echo of the argument may differ: nothing tells accounts apart.
        assert known.text.replace("alice", "X") == unknown.text.replace("nobody", "X")


def test_expn_lists_the_members_of_a_list(open_server):
    with open_server.session() as c:
        r = c.cmd("EXPN team@example.test")
        assert r.code == 250, r
        assert len(r.lines) == 2, f"one line per member: {r}"
        text = r.text
        assert "alice@example.test" in text and "bob@example.test" in text
        for line in r.lines:
            assert line.startswith("2."), f"no enhanced code on every line: {r}"


def test_expn_on_unknown_name_is_550_511(open_server):
    with open_server.session() as c:
        assert c.cmd("EXPN nolist@example.test").is_(550, "5.1.1")


def test_expn_when_off_is_502_551(closed_server):
    with closed_server.session() as c:
        assert c.cmd("EXPN team@example.test").is_(502, "5.5.1")
        assert c.cmd("EXPN nolist@example.test").is_(502, "5.5.1")


def test_defaults_are_vrfy_on_expn_off(server):
    with server.session() as c:
        assert c.cmd("VRFY alice@example.test").code == 250
        assert c.cmd("EXPN team@example.test").is_(502, "5.5.1")


# RFC 6531 §3.7.4.2: "VRFY <string> SMTPUTF8" / "EXPN <string> SMTPUTF8". curl adds
# the parameter whenever the server offers SMTPUTF8.
def test_expn_and_vrfy_take_the_smtputf8_parameter(open_server):
    with open_server.session() as c:
        r = c.cmd("EXPN team@example.test SMTPUTF8")
        assert r.is_(250, "2.1.5"), r
        assert "alice@example.test" in r.text and "bob@example.test" in r.text
        r = c.cmd("VRFY bob@example.test SMTPUTF8")
        assert r.is_(250, "2.1.5"), r
        assert "bob@example.test" in r.text
        assert c.cmd("VRFY nobody@example.test SMTPUTF8").is_(550, "5.1.1")


def test_utf8_argument_without_the_parameter_is_553_568(open_server):
    with open_server.session() as c:
        assert c.cmd("VRFY jörg@example.test").is_(553, "5.6.8")
        assert c.cmd("VRFY jörg@example.test SMTPUTF8").is_(550, "5.1.1")


def _curl(server, verb_args, rcpt):
    import subprocess
    return subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "30", f"smtp://127.0.0.1:{server.port}",
         "--mail-rcpt", rcpt, *verb_args],
        capture_output=True, text=True, timeout=60)


def test_curl_expn_with_smtputf8(open_server):
    p = _curl(open_server, ["-X", "EXPN"], "team@example.test")
    assert "> EXPN team@example.test SMTPUTF8" in p.stderr, p.stderr
    assert p.returncode == 0, p.stderr
    assert "alice@example.test" in p.stdout and "bob@example.test" in p.stdout, p.stdout


def test_curl_vrfy_with_smtputf8_offered(open_server):
    # curl 7.88 adds the parameter to VRFY only for a UTF-8 argument.
    p = _curl(open_server, [], "alice@example.test")
    assert "> VRFY alice@example.test" in p.stderr, p.stderr
    assert p.returncode == 0, p.stderr
    assert "250 2.1.5 <alice@example.test>" in p.stdout, p.stdout
