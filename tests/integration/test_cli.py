"""The command line of DESIGN.md §4.4 that issue 2 asks for: user add/list/del and
check-config with exit codes 0 / 1 / 2."""

import warnings

from conftest import HOSTNAME, free_port, run_cli, toml_str


def write_config(tmp_path, extra=""):
    cfg = tmp_path / "posthorn.toml"
    cfg.write_text(
        f'hostname = "{HOSTNAME}"\n'
        f'state_dir = {toml_str(tmp_path / "state")}\n'
        f'\n[[listen]]\naddress = "127.0.0.1:{free_port()}"\n'
        '\n[domains]\nlocal = ["example.test"]\n'
        f'\n[accounts]\nusers_file = {toml_str(tmp_path / "users")}\n'
        f'aliases_file = {toml_str(tmp_path / "aliases")}\n'
        f'\n[mailbox]\nmaildir_root = {toml_str(tmp_path / "mail")}\n' + extra)
    (tmp_path / "aliases").write_text("postmaster: alice\n")
    return cfg


def crypt_verify(password, hashed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, hashed) == hashed


def test_user_add_writes_a_yescrypt_hash_from_stdin(tmp_path):
    cfg = write_config(tmp_path)
    r = run_cli("user", "add", "carol@example.test", config=cfg, stdin="s3cret pass\n")
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "users").read_text().splitlines()
    (line,) = [x for x in lines if x.startswith("carol@example.test:")]
    # address:crypt hash:scram-sha-256=... (the SCRAM secrets, test_scram.py)
    hashed = line.split(":")[1]
    assert hashed.startswith("$y$"), hashed
    assert line.split(":")[2].startswith("scram-sha-256=")
    assert crypt_verify("s3cret pass", hashed)
    assert "s3cret" not in r.stdout + r.stderr


def test_user_list_shows_added_users_and_del_removes_them(tmp_path):
    cfg = write_config(tmp_path)
    for u in ("alice@example.test", "bob@example.test"):
        assert run_cli("user", "add", u, config=cfg, stdin="pw\n").returncode == 0
    r = run_cli("user", "list", config=cfg)
    assert r.returncode == 0, r.stderr
    assert "alice@example.test" in r.stdout and "bob@example.test" in r.stdout
    assert run_cli("user", "del", "bob@example.test", config=cfg).returncode == 0
    r = run_cli("user", "list", config=cfg)
    assert "alice@example.test" in r.stdout and "bob@example.test" not in r.stdout


def test_check_config_accepts_a_good_config(tmp_path):
    cfg = write_config(tmp_path)
    (tmp_path / "users").write_text("")
    r = run_cli("check-config", config=cfg)
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_config_names_file_line_and_key_and_exits_2(tmp_path):
    cfg = write_config(tmp_path, '\n[limits]\nmessage_size = "lots"\n')
    bad_line = cfg.read_text().splitlines().index('message_size = "lots"') + 1
    r = run_cli("check-config", config=cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "posthorn.toml" in out, out
    assert f":{bad_line}" in out, out
    assert "message_size" in out, out


def test_serve_with_a_bad_config_exits_2(tmp_path):
    cfg = write_config(tmp_path, '\n[limits]\nrecipients = "many"\n')
    r = run_cli("serve", config=cfg, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr


def test_unknown_subcommand_exits_2():
    r = run_cli("frobnicate")
    assert r.returncode == 2, r.stdout + r.stderr
