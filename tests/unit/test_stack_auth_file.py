"""The embedded stack's auth string: made once, owner-only, refused when others can read it."""

from __future__ import annotations

import os
import stat

import pytest

from remediation_flows.cli import main
from remediation_flows.stack.embedded import StackError, StackPaths, ensure_auth_string, read_auth_string
from tests.conftest import free_port


def test_the_auth_string_is_made_once_owner_only_and_reused(tmp_path):
    paths = StackPaths(tmp_path / "home")
    assert read_auth_string(paths) is None
    previous_umask = os.umask(0)  # a permissive umask must not open the file to others
    try:
        made = ensure_auth_string(paths)
    finally:
        os.umask(previous_umask)
    assert stat.S_IMODE(paths.auth_file.stat().st_mode) == 0o600
    assert made.startswith("operator:") and len(made.partition(":")[2]) >= 32
    assert ensure_auth_string(paths) == made == read_auth_string(paths)
    assert ensure_auth_string(StackPaths(tmp_path / "other")) != made


def test_an_auth_file_that_is_not_user_colon_password_is_refused(tmp_path):
    paths = StackPaths(tmp_path)
    paths.auth_file.write_text("no-colon\n")
    paths.auth_file.chmod(0o600)
    with pytest.raises(StackError, match="does not hold user:password"):
        read_auth_string(paths)


def test_up_refuses_an_auth_file_others_can_read(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "prefect-auth").write_text("operator:known-to-everyone\n")
    (home / "prefect-auth").chmod(0o644)
    ports = ["--api-port", str(free_port()), "--smtp-port", str(free_port()), "--task-port", str(free_port())]

    assert main(["up", "--home", str(home), *ports]) == 2

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"remediate: {home / 'prefect-auth'} is open to other users (mode 0644)")
    assert "known-to-everyone" not in line
    assert sorted(path.name for path in home.iterdir()) == ["prefect-auth"]  # nothing started
