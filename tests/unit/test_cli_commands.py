"""Commands no other test runs: keygen, mail, outbox, and what up and demo refuse before a server starts."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import mailbox
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from remediation_flows.cli import main
from remediation_flows.core.store.protection import KEY_VARIABLE, PersonalDataKeyError, protect, reveal
from remediation_flows.core.store.schema import OutboxMessage
from tests.conftest import free_port


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# --- keygen ------------------------------------------------------------------------------------


def test_keygen_prints_a_key_the_store_encrypts_with(capsys, monkeypatch):
    assert main(["keygen"]) == 0
    captured = capsys.readouterr()
    [key] = captured.out.splitlines()  # the key alone on stdout, so `remediate keygen > file` works
    assert KEY_VARIABLE in captured.err and key not in captured.err
    monkeypatch.setenv(KEY_VARIABLE, key)
    stored = protect("Nasrin Begum")
    assert stored.startswith("fernet:") and "Nasrin" not in stored
    assert reveal(stored) == "Nasrin Begum"

    assert main(["keygen"]) == 0
    assert capsys.readouterr().out.strip() != key  # a new key every time
    monkeypatch.setenv(KEY_VARIABLE, key[:-4])  # what protection refuses, so the check above means something
    with pytest.raises(PersonalDataKeyError, match="not a Fernet key"):
        protect("x")


# --- mail --------------------------------------------------------------------------------------


def _message(
    to: str, subject: str, body: str, sent: dt.datetime, attachment: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "remediation@ngo.example"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(sent)
    message["Message-ID"] = f"<{subject.split()[0].strip('[]')}@remediation-flows.local>"
    message.set_content(body)
    if attachment:
        message.add_attachment(
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", subtype="calendar", filename=attachment
        )
    return message


@pytest.fixture
def sink(tmp_path) -> Path:
    """A stack home whose mail sink holds two messages, the later one written first."""
    home = tmp_path / "home"
    home.mkdir()  # as `remediate up` makes it; Maildir creates only its own folder
    box = mailbox.Maildir(str(home / "mail"), create=True)
    sent = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)
    box.add(
        _message("director@ngo.example", "[CL-2026-000002] Overdue", "late", sent + dt.timedelta(hours=1))
    )
    box.add(
        _message(
            "compliance@northwind-apparel.example",
            "[CL-2026-000001] Task: On-site assessment",
            "Remove the child from all work at once.",
            sent,
            attachment="CL-2026-000001.ics",
        )
    )
    return home


def test_mail_lists_the_sink_oldest_first(sink, capsys):
    assert main(["mail", "--home", str(sink)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "date", "to", "subject"]
    assert lines[1].startswith("1") and "compliance@northwind-apparel.example" in lines[1]
    assert "[CL-2026-000001] Task: On-site assessment" in lines[1]
    assert lines[2].startswith("2") and "[CL-2026-000002] Overdue" in lines[2]
    assert len(lines) == 3


def test_mail_n_shows_one_message_with_its_attachments(sink, capsys):
    assert main(["mail", "1", "--home", str(sink)]) == 0
    out = capsys.readouterr().out
    assert "To: compliance@northwind-apparel.example" in out
    assert "Subject: [CL-2026-000001] Task: On-site assessment" in out
    assert "Message-ID: <CL-2026-000001@remediation-flows.local>" in out
    assert "Remove the child from all work at once." in out
    assert "[attached: CL-2026-000001.ics]" in out
    assert "Overdue" not in out


def test_mail_with_a_number_it_does_not_have_is_one_line_and_exit_2(sink, capsys):
    assert main(["mail", "99", "--home", str(sink)]) == 2
    assert one_error_line(capsys) == "remediate: no message #99; there are 2"


def test_mail_from_an_empty_home_says_so(tmp_path, capsys):
    assert main(["mail", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"no mail in {tmp_path / 'mail'} yet"
    assert list(tmp_path.iterdir()) == []  # reading the sink creates none


# --- outbox ------------------------------------------------------------------------------------


def test_outbox_counts_each_status_and_lists_the_newest_rows(store, capsys):
    rows = [
        ("pending", 0, None, "[CL-2026-000001] Task: On-site assessment"),
        ("sent", 1, None, "[CL-2026-000001] Reminder: Follow-up visit"),
        ("failed", 5, "550 5.1.1 mailbox unavailable", "[CL-2026-000002] Overdue by 3 working day(s)"),
        ("sent", 2, "421 try again later", "[CL-2026-000003] New due date"),
    ]
    with store.transaction() as session:
        for number, (status, attempts, error, subject) in enumerate(rows, start=1):
            session.add(
                OutboxMessage(
                    message_id=f"<cli-outbox-{number}@ngo.example>",
                    kind="task",
                    recipients=[f"person{number}@brand.example", "cc@brand.example"],
                    subject=subject,
                    body_text="-",
                    status=status,
                    attempts=attempts,
                    last_error=error,
                )
            )
    url = store.url

    assert main(["outbox", "--url", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pending: 1, sending: 0, sent: 2, failed: 1"
    assert lines[1].split()[:5] == ["id", "status", "tries", "kind", "to"]
    listed = [line.split()[1] for line in lines[2:]]
    assert listed == ["sent", "failed", "sent", "pending"]  # newest first
    assert "person3@brand.example, cc@brand.example" in lines[3] and "550 5.1.1" in lines[3]

    assert main(["outbox", "--url", url, "--status", "failed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pending: 1, sending: 0, sent: 2, failed: 1"  # the totals stay whole
    assert len(lines) == 3 and "Overdue by 3 working day(s)" in lines[2] and lines[2].split()[2] == "5"

    assert main(["outbox", "--url", url, "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "New due date" in lines[2]


def test_outbox_refuses_an_unknown_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["outbox", "--status", "lost"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'lost'" in capsys.readouterr().err


# --- up and demo, before any server starts -------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on, as a Prefect server left running by someone else would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["up", "demo"])
def test_a_taken_api_port_is_one_line_and_starts_nothing(command, taken_port, tmp_path, capsys):
    home = tmp_path / "home"
    args = [command, "--home", str(home), "--api-port", str(taken_port), "--smtp-port", str(free_port())]
    assert main(args) == 2
    line = one_error_line(capsys)
    assert f"port {taken_port} for the Prefect server is taken" in line and "--api-port" in line
    assert not home.exists()  # no Prefect home, case store or mail sink half made


@pytest.mark.parametrize("command", ["up", "demo"])
def test_a_taken_smtp_port_names_the_mail_sink(command, taken_port, tmp_path, capsys):
    home = tmp_path / "home"
    args = [command, "--home", str(home), "--api-port", str(free_port()), "--smtp-port", str(taken_port)]
    assert main(args) == 2
    line = one_error_line(capsys)
    assert f"port {taken_port} for the mail sink is taken" in line and "--smtp-port" in line
    assert not home.exists()


@pytest.mark.parametrize("minutes", ["soon", "-1"])
def test_up_refuses_a_bad_status_interval_before_starting(minutes, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REMEDIATION_STATUS_MINUTES", minutes)
    home = tmp_path / "home"
    assert (
        main(["up", "--home", str(home), "--api-port", str(free_port()), "--smtp-port", str(free_port())])
        == 2
    )
    assert f"REMEDIATION_STATUS_MINUTES: '{minutes}' is not a number of minutes" in one_error_line(capsys)
    assert not home.exists()


class _Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_up_refuses_a_second_stack_in_the_same_home(tmp_path, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        api_url = f"http://127.0.0.1:{server.server_address[1]}/api"
        (home / "stack.json").write_text(json.dumps({"api_url": api_url}))
        assert main(["up", "--home", str(home), "--api-port", str(free_port())]) == 2
        assert f"a stack already runs from {home}" in one_error_line(capsys)
        assert (home / "stack.json").exists()  # the running stack's file is left alone
    finally:
        server.shutdown()
        server.server_close()
