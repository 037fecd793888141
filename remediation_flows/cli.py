"""The ``remediate`` command line.

Errors a person can fix print one line per problem on stderr and exit 2;
nothing is written when a command fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config import ConfigInvalid, load_programme_file
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.statuses import OutboxStatus
from remediation_flows.core.untrusted_input import PRINTED_PROBLEMS, excerpt

if TYPE_CHECKING:  # imported late at run time to keep `--help` fast
    from remediation_flows.core.store import CaseStore

EXIT_USAGE = 2
TOUR_DATABASE_URL = "sqlite:///remediation-tour.db"
STORE_HELP = (
    "database URL (default: $REMEDIATION_DATABASE_URL, else the case store of --home, "
    "./var/remediation.db, where `remediate up` keeps it)"
)


class CommandFailed(Exception):
    """A command ends with this message on stderr and exit status 2."""


def _fail(message: str) -> CommandFailed:
    return CommandFailed(message)


def parse_instant(text: str, what: str) -> dt.datetime:
    """An ISO 8601 instant; a naive one is returned naive (the caller decides its zone)."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"{what}: {excerpt(text)} is not an ISO 8601 date-time (e.g. 2026-11-24T09:30+06:00)"
        ) from None


def print_problems(problems: Sequence[object], limit: int = PRINTED_PROBLEMS) -> None:
    """One line per problem on stderr, the first ``limit`` of them, then how many more there were."""
    for problem in problems[:limit]:
        print(problem, file=sys.stderr)
    if len(problems) > limit:
        print(f"remediate: ... and {len(problems) - limit} more problem(s) not shown", file=sys.stderr)


def cmd_config_validate(args: argparse.Namespace) -> int:
    failed = False
    for file in args.files:
        try:
            programme = load_programme_file(file)
        except ConfigInvalid as error:
            failed = True
            print_problems(error.problems)
            continue
        countries = ", ".join(sorted({site.country for site in programme.sites.values()}))
        print(
            f"{file}: valid: enterprise {programme.enterprise_id} ({programme.name}), "
            f"{len(programme.sites)} site(s) in {countries}, emails in {programme.language}"
        )
    return EXIT_USAGE if failed else 0


def cmd_config_load(args: argparse.Namespace) -> int:
    """Validate a programme file and save it as the enterprise's block; nothing is saved if invalid."""
    try:
        programme = load_programme_file(args.file)
    except ConfigInvalid as error:
        print_problems(error.problems)
        return EXIT_USAGE
    from remediation_flows.blocks import EnterpriseProgramme

    try:
        EnterpriseProgramme(programme=programme.document).save(programme.enterprise_id, overwrite=True)
    except Exception as error:  # the Prefect API is down or refuses: say so in one line
        raise _fail(f"could not save block enterprise-programme/{programme.enterprise_id}: {error}") from None
    print(f"{args.file}: saved as block enterprise-programme/{programme.enterprise_id}")
    import asyncio

    from remediation_flows.flows.form_choices import refresh_programme_choices

    try:
        for deployment in asyncio.run(refresh_programme_choices()):
            offered = "enterprises and sites" if deployment == "open-a-case" else "enterprises"
            print(f"{deployment}'s form now offers its {offered}")
    except Exception as error:  # the block is saved; only the forms' choices are behind
        print(
            f"warning: the forms' choices were not refreshed ({error}); "
            "they will be at the next `remediate up`"
        )
    return 0


def cmd_deadline(args: argparse.Namespace) -> int:
    try:
        programme = load_programme_file(args.config)
    except ConfigInvalid as error:
        print_problems(error.problems)
        return EXIT_USAGE
    site = programme.site(args.site)
    rule = programme.step(args.step)
    start = parse_instant(args.start, "--from")
    reckoning = SiteCalendar(site).due(start, rule.deadline)
    print(reckoning.due_at.isoformat())
    for line in reckoning.explanation:
        print(f"  {line}")
    return 0


def _store_url(args: argparse.Namespace) -> str:
    """The case store a command works on: --url, else $REMEDIATION_DATABASE_URL, else the stack home's."""
    from remediation_flows.core.store import database_url

    return database_url(getattr(args, "url", None), home=getattr(args, "home", None))


def _open_store(args: argparse.Namespace) -> CaseStore:
    """The case store to read, checked first: a missing or unmigrated store is one line, not a traceback."""
    from remediation_flows.core.store import CaseStore, check_store

    url = _store_url(args)
    check_store(url)
    return CaseStore(url)


def _migrate(url: str) -> None:
    """Create or migrate the store at ``url``; a store that cannot be reached is one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from remediation_flows.core.store import display_url, upgrade_schema

    try:
        upgrade_schema(url)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise _fail(f"cannot migrate the case store at {display_url(url)}: {reason}") from None


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from remediation_flows.core.store import display_url

    url = _store_url(args)
    _migrate(url)
    print(f"case store schema is up to date at {display_url(url)}")
    return 0


def cmd_tour(args: argparse.Namespace) -> int:
    """A short walk through the core on the embedded SQLite store."""
    from remediation_flows.core.resources import example_programmes
    from remediation_flows.core.store import CaseStore, database_url, upgrade_schema
    from remediation_flows.core.store import repository as repo

    upgrade_schema(args.url)
    store = CaseStore(args.url)
    programmes = [load_programme_file(path) for path in example_programmes()]
    print(f"case store: {database_url(args.url)}")
    with store.transaction() as session:
        for programme in programmes:
            repo.register_programme(session, programme, actor="remediate tour")
            print(f"registered {programme.enterprise_id}: sites {', '.join(programme.sites)}")
    programme = programmes[0]
    site_id = next(iter(programme.sites))
    notified_at = dt.datetime.now(dt.UTC)
    with store.transaction() as session:
        case = repo.open_case(
            session,
            programme,
            site_id=site_id,
            notified_at=notified_at,
            source="audit",
            actor="remediate tour",
            suspected_age=13,
        )
        repo.transition_case(
            session, case, "on_site_assessment", actor="remediate tour", reason="notification received"
        )
        reckoning = repo.reckon_step(programme, site_id, "on_site_assessment", notified_at)
        repo.add_milestone(
            session,
            programme,
            key=f"{case.reference}/r1/on_site_assessment",
            site_id=site_id,
            step="on_site_assessment",
            title="On-site assessment",
            due_at=reckoning.due_at,
            actor="remediate tour",
            case=case,
        )
        print(f"opened {case.reference} at {site_id}; on-site assessment due {reckoning.due_at.isoformat()}")
        for event in repo.audit_trail(session, case):
            print(f"  audit: {event.at:%Y-%m-%d %H:%M} {event.actor}: {event.action} {event.reason or ''}")
    follow_up = repo.reckon_step(programme, site_id, "school_reintegration", notified_at)
    print(f"school reintegration, if it started now, would be due {follow_up.due_at.isoformat()}:")
    for line in follow_up.explanation[-4:]:
        print(f"  {line}")
    store.dispose()
    return 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def parse_as_of(text: str | None) -> dt.datetime:
    """``--as-of``: a date (start of that day, UTC) or an instant; default now."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    instant = parse_instant(text, "--as-of")
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def cmd_overdue(args: argparse.Namespace) -> int:
    from remediation_flows.core.board import BOARD_COLUMNS, board_table, overdue_board

    as_of = parse_as_of(args.as_of)
    store = _open_store(args)
    with store.reading() as session:
        rows = overdue_board(session, as_of)
    store.dispose()
    horizon = (as_of + dt.timedelta(days=7)).date()
    print(f"open milestones past due or due by {horizon} (as of {as_of.isoformat()})")
    if rows:
        _print_table(BOARD_COLUMNS, board_table(rows))
    else:
        print("nothing is overdue or due within 7 days")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from remediation_flows.core.store.schema import OutboxMessage

    store = _open_store(args)
    with store.reading() as session:
        # tuples() only retypes the rows (it returns the same result), so dict() sees (status, count) pairs.
        counts = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        totals: dict[str, int] = dict(session.execute(counts).tuples().all())
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(args.limit)
        if args.status:
            query = query.where(OutboxMessage.status == args.status)
        rows = session.scalars(query).all()
    store.dispose()
    print(", ".join(f"{status}: {totals.get(status, 0)}" for status in OutboxStatus))
    _print_table(
        ("id", "status", "tries", "kind", "to", "subject", "last error"),
        [
            (
                str(r.id),
                r.status,
                str(r.attempts),
                r.kind,
                ", ".join(r.recipients),
                r.subject[:60],
                (r.last_error or "")[:50],
            )
            for r in rows
        ],
    )
    return 0


IDENTITY_FIELDS = ("full_name", "birth_date", "address", "school", "guardian_name", "photo_reference")


def _read_identity(args: argparse.Namespace) -> dict[str, str]:
    if args.from_file:
        from remediation_flows.core.config.loader import read_yaml_file

        path = Path(args.from_file)
        try:
            document = read_yaml_file(path)
        except ConfigInvalid as error:
            raise _fail(str(error)) from None
        if not isinstance(document, dict):
            raise _fail(f"{path}: expected a mapping of {', '.join(IDENTITY_FIELDS)}")
        unknown = sorted(excerpt(str(key), 30) for key in set(document) - set(IDENTITY_FIELDS))
        if unknown:
            raise _fail(
                f"{path}: unknown field(s) {', '.join(unknown)}; expected {', '.join(IDENTITY_FIELDS)}"
            )
        return {key: str(value) for key, value in document.items() if value not in (None, "")}
    if not sys.stdin.isatty():
        raise _fail("no --from-file given and no terminal to ask on")
    answers = {}
    for field in IDENTITY_FIELDS:
        value = input(
            f"{field.replace('_', ' ')}{' (YYYY-MM-DD)' if field == 'birth_date' else ''}: "
        ).strip()
        if value:
            answers[field] = value
    return answers


def cmd_case_identify(args: argparse.Namespace) -> int:
    """Store a child's identity in the case store only; it never passes through Prefect."""
    from remediation_flows.core import casework as cw

    # The store first: nobody should type a child's details only to learn there is nowhere to keep them.
    store = _open_store(args)
    try:
        identity = _read_identity(args)
        if "full_name" not in identity:
            raise _fail("full_name is required")
        birth_date = None
        if "birth_date" in identity:
            try:
                birth_date = dt.date.fromisoformat(identity.pop("birth_date"))
            except ValueError:
                raise _fail("birth_date: not a date in the form YYYY-MM-DD") from None
        cw.identify_child(store, args.reference, birth_date=birth_date, actor=args.recorded_by, **identity)
    finally:
        store.dispose()
    # Echo the reference only: this output may end up in a terminal log.
    print(f"{args.reference}: the child's identity is recorded in the case store")
    return 0


def cmd_case_show_identity(args: argparse.Namespace) -> int:
    """Show a child's identity to the person asking, logged with who and why in the same transaction."""
    from remediation_flows.core.safeguarding.access import read_child_identity

    store = _open_store(args)
    try:
        identity = read_child_identity(store, args.reference, actor=args.by, reason=args.reason)
    finally:
        store.dispose()
    print(f"case:          {identity.case_reference}")
    print(f"full name:     {identity.full_name}")
    for label, value in (
        ("birth date", identity.birth_date.isoformat() if identity.birth_date else None),
        ("address", identity.address),
        ("school", identity.school),
        ("guardian", identity.guardian_name),
        ("photo", identity.photo_reference),
    ):
        if value is not None:
            print(f"{label + ':':<14} {value}")
    return 0


def cmd_case_access_log(args: argparse.Namespace) -> int:
    """Who read a case's identity, when and why."""
    from remediation_flows.core.safeguarding.access import access_log

    store = _open_store(args)
    try:
        entries = access_log(store, args.reference)
    finally:
        store.dispose()
    if not entries:
        print(f"{args.reference}: nobody has read the child's identity")
    for entry in entries:
        print(
            f"{entry.accessed_at:%Y-%m-%d %H:%M:%S} UTC  {entry.accessed_by}  {entry.purpose}  {entry.reason}"
        )
    return 0


def cmd_case_hold(args: argparse.Namespace) -> int:
    """Put a case on legal hold: its child's identity is not erased, whatever its retention."""
    from remediation_flows.core.safeguarding.retention import place_legal_hold

    store = _open_store(args)
    try:
        view = place_legal_hold(store, args.reference, reason=args.reason, actor=args.by)
    finally:
        store.dispose()
    print(
        f"{view.case_reference}: on legal hold since {view.held_at:%Y-%m-%d %H:%M} UTC; its identity is kept"
    )
    return 0


def cmd_case_release_hold(args: argparse.Namespace) -> int:
    """End a case's legal hold: its identity is erased once its retention period has passed."""
    from remediation_flows.core.safeguarding.retention import release_legal_hold

    store = _open_store(args)
    try:
        view = release_legal_hold(store, args.reference, reason=args.reason, actor=args.by)
    finally:
        store.dispose()
    print(f"{view.case_reference}: legal hold released; its identity follows the retention rule again")
    return 0


def cmd_identities_erase_expired(args: argparse.Namespace) -> int:
    """Erase every identity kept past its programme's retention period (a dry run lists them)."""
    from remediation_flows.core.safeguarding.retention import erase_expired_identities

    if args.batch_size < 1:
        raise _fail(f"--batch-size: {args.batch_size} is not a positive number of cases")
    store = _open_store(args)
    erased = 0
    verb = "would erase" if args.dry_run else "erased"
    try:
        for batch in erase_expired_identities(
            store, args.by, batch_size=args.batch_size, dry_run=args.dry_run
        ):
            for erasure in batch:
                print(
                    f"{erasure.case_reference}: {verb} (ended {erasure.ended_at:%Y-%m-%d}, "
                    f"kept {erasure.retention_months} months)",
                    flush=True,
                )
            erased += len(batch)
    finally:
        store.dispose()
    print(f"{erased} identit{'y' if erased == 1 else 'ies'} {verb}")
    return 0


def cmd_task_link_reissue(args: argparse.Namespace) -> int:
    """Send a person a new link for a case's task or a cycle's question; the old one stops working."""
    from remediation_flows.core import cycle_links, task_links

    store = _open_store(args)
    try:
        reissue = (
            cycle_links.reissue_cycle_link if args.reference.startswith("DD-") else task_links.reissue_link
        )
        issued = reissue(store, args.reference, args.step, args.to, actor=args.by, reason=args.reason)
    finally:
        store.dispose()
    # The new link goes by email only: printing it would put a working token in a terminal log.
    print(
        f"{args.reference}: a new {args.step} link for {issued.recipient} ({issued.role}) is in the outbox, "
        f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC; the old one is void"
    )
    return 0


def cmd_task_link_list(args: argparse.Namespace) -> int:
    """The links issued for a case or a due-diligence cycle, without their tokens."""
    from remediation_flows.core import cycle_links, task_links

    store = _open_store(args)
    try:
        listed = cycle_links.cycle_links_of if args.reference.startswith("DD-") else task_links.links_of
        links = listed(store, args.reference)
    finally:
        store.dispose()
    for link in links:
        task = f"{link.step} {link.subject}".strip()
        note = f" ({link.note})" if link.note else ""
        print(
            f"{link.link_id:>5}  {link.state:<6} {task:<28} {link.role:<22} {link.recipient}  "
            f"until {link.expires_at:%Y-%m-%d %H:%M} UTC{note}"
        )
    return 0


def cmd_stipends_ledger(args: argparse.Namespace) -> int:
    """The case's stipend ledger: a line per payment owed, with what was paid and when."""
    from remediation_flows.core import casework as cw

    store = _open_store(args)
    try:
        lines = cw.stipend_ledger(store, args.reference)
    finally:
        store.dispose()
    today = dt.date.today()
    for line in lines:
        print(line.describe("en", today))
    if not lines:
        print(f"{args.reference}: no payment in the ledger yet")
    return 0


def cmd_stipends_interim(args: argparse.Namespace) -> int:
    """Record interim support (continued wages) owed between removal and the plan, as a ledger line."""
    from remediation_flows.core import casework as cw

    store = _open_store(args)
    try:
        line = cw.record_interim_support(
            store, args.reference, args.amount, args.currency, args.due_on, args.by
        )
    finally:
        store.dispose()
    print(f"{args.reference}: {line.describe('en', dt.date.today())}; the payer is asked to confirm it")
    return 0


def _read_evidence_file(path: Path) -> bytes:
    """The file's bytes, read no further than one byte past the size limit (a bigger file is refused)."""
    from remediation_flows.core.evidence import max_bytes

    if not path.is_file():
        raise _fail(f"{path}: no such file")
    with path.open("rb") as handle:
        return handle.read(max_bytes() + 1)


def cmd_evidence_add(args: argparse.Namespace) -> int:
    """Add a file (PDF, JPEG or PNG) as evidence for a step of a case, recorded as added by staff."""
    from remediation_flows.core import evidence

    content = _read_evidence_file(Path(args.file))
    store = _open_store(args)
    try:
        added = evidence.add_evidence(
            store, args.reference, content, step=args.step, by=args.by, source=args.file
        )
    finally:
        store.dispose()
    print(
        f"{args.reference}: {added.media_type} {added.sha256} ({added.size} bytes) "
        f"is evidence for {added.step}"
    )
    return 0


def cmd_evidence_list(args: argparse.Namespace) -> int:
    """A case's evidence files by hash, type and size (never their content)."""
    from remediation_flows.core import evidence

    store = _open_store(args)
    try:
        files = evidence.evidence_of(store, args.reference)
    finally:
        store.dispose()
    for item in files:
        how = "verified" if item.verified else "staff"
        print(
            f"{item.sha256}  {item.media_type:<15} {item.size:>10}  {item.step:<24} "
            f"{item.uploaded_by} ({how})  {item.uploaded_at:%Y-%m-%d %H:%M} UTC"
        )
    return 0


def cmd_evidence_export(args: argparse.Namespace) -> int:
    """Write a case's evidence files into a folder, named by hash and type; audited with who and why."""
    from remediation_flows.core import evidence

    store = _open_store(args)
    try:
        written = evidence.export_evidence(
            store, args.reference, Path(args.out), by=args.by, reason=args.reason
        )
    finally:
        store.dispose()
    print(f"{args.reference}: {len(written)} evidence file(s) written to {args.out}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Report whether the running stack works by itself; exit 1 with one line per problem if not."""
    from remediation_flows.stack.status import stack_status

    if args.mail_limit_minutes <= 0:
        raise _fail(f"--mail-limit-minutes: {args.mail_limit_minutes} is not a positive number of minutes")
    status = stack_status(
        Path(args.home or "var"),
        args.url,
        server_log=Path(args.server_log) if args.server_log else None,
        mail_limit=dt.timedelta(minutes=args.mail_limit_minutes),
    )
    for line in status.report():
        print(line)
    problems = status.problems()
    for problem in problems:
        print(f"remediate: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _status_minutes() -> float:
    """$REMEDIATION_STATUS_MINUTES: how often `remediate up` prints its status line (0: never)."""
    import os

    text = os.environ.get("REMEDIATION_STATUS_MINUTES", "5")
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1
    if minutes < 0:
        raise _fail(f"REMEDIATION_STATUS_MINUTES: '{text}' is not a number of minutes (0 turns it off)")
    return minutes


def _print_status_line(home: Path) -> None:
    """One status line while `remediate up` runs; a failure to read it is that line, never a stop."""
    from remediation_flows.stack.status import stack_status

    try:
        print(stack_status(home).one_line(), flush=True)
    except Exception as error:  # the stack must keep running whatever the status could not read
        print(f"[status] could not read the stack's status: {error}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    """Start the embedded default and keep it running until Ctrl-C."""
    import signal
    import time

    from remediation_flows.stack.embedded import API_USER, LocalStack, StackError, StackPaths, running_stack

    home = Path(args.home)
    if running_stack(StackPaths(home)):
        raise _fail(f"a stack already runs from {home}; stop it with Ctrl-C where it was started")
    status_every = _status_minutes() * 60
    stop = {"requested": False}

    def request_stop(*_: object) -> None:
        stop["requested"] = True

    # Ctrl-C while the stack starts stops what has started; started in the background, the process
    # inherited SIGINT ignored, and a stack stopped during its start ran on until a 2-minute timeout.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with LocalStack(
            home, api_port=args.api_port, smtp_port=args.smtp_port, task_port=args.task_port
        ) as stack:
            signal.signal(signal.SIGTERM, request_stop)
            # Said outright: started in the background by a shell (or a supervisor), the process
            # inherits SIGINT ignored, and Ctrl-C or `kill -INT` would then not stop the stack.
            signal.signal(signal.SIGINT, request_stop)
            print()
            print(f"remediation-flows is running. Prefect UI: {stack.ui_url}")
            print(
                f"  Log in:      the UI asks for a password: paste the whole line of {stack.paths.auth_file}"
            )
            print(
                f"               (user '{API_USER}', a colon, the password); API clients set "
                "PREFECT_API_AUTH_STRING to it"
            )
            print(f"  Deployments: {stack.ui_url}/deployments   (start 'open-a-case' from its Run button)")
            print(f"  Artifacts:   {stack.ui_url}/artifacts     (each case, open cases, the overdue board)")
            print(
                f"  Task page:   http://127.0.0.1:{stack.task_port}   (emails link to {stack.task_page_url})"
            )
            print(f"  Mail:        remediate mail --home {home}    (what the programme has sent)")
            print(f"  Data kept in {home.resolve()}; press Ctrl-C to stop.")
            if status_every:
                print(f"  Every {status_every / 60:g} min a status line (`remediate status` tells more).")
            next_status = time.monotonic() + status_every
            try:
                while not stop["requested"]:
                    time.sleep(0.5)
                    if status_every and time.monotonic() >= next_status:
                        _print_status_line(home)
                        next_status = time.monotonic() + status_every
            except KeyboardInterrupt:
                pass
            print("\nstopping: runner, Prefect server, mail sink (the data stays for next time)")
    except StackError as error:
        raise _fail(str(error)) from None
    except KeyboardInterrupt:
        print("\nstopped while starting: what had started is stopped (the data stays for next time)")
        return 130
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Walk one case through in a throwaway stack of the demo's own; never in a running stack or its store.

    An earlier demo ran in the live stack and swept it 50 days ahead: every real case's ladder fired
    early and the real reminders never came. So the demo starts its own Prefect server, mail sink and
    case store on free ports in a fresh folder, and refuses a ``--home`` that a stack runs from or
    that holds cases.
    """
    import asyncio
    import os
    import tempfile
    import time

    from remediation_flows.core.store.database import DATABASE_URL_VARIABLE
    from remediation_flows.stack.embedded import (
        LocalStack,
        StackError,
        StackPaths,
        case_count,
        free_ports,
        running_stack,
    )

    apart = "run `remediate demo` without --home (it makes a folder of its own) or with an empty folder"
    if args.home is None:
        home = Path(tempfile.mkdtemp(prefix="remediate-demo-"))
    else:
        home = Path(args.home)
        if running_stack(StackPaths(home)):
            raise _fail(f"a stack runs from {home}: the demo never runs in a live stack; {apart}")
        cases = case_count(StackPaths(home))
        if cases:
            raise _fail(f"{home} holds a case store with {cases} case(s): the demo never touches it; {apart}")
        if (StackPaths(home).prefect_home / "prefect.db").exists():
            raise _fail(f"{home} holds a Prefect server's database, which the demo would fill; {apart}")
    paths = StackPaths(home)
    api_port, smtp_port, task_port = free_ports(3)
    # Whatever the shell says, the demo's flows use the demo's store: the served flows prefer this
    # variable to the case-store block, and it may name a real store.
    os.environ[DATABASE_URL_VARIABLE] = paths.case_store_url
    # The demo's runners look for runs to start every second, not every 5 s as `remediate up`'s do: a
    # demo is one person clicking through some twenty runs and resumes, each of which waited half a
    # poll for its runner (some 40 s of the demo in all); nobody else writes to its Prefect server.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {message}", flush=True)

    progress(f"the demo runs apart from any other stack, in {home}")
    try:
        with LocalStack(
            home,
            api_port=args.api_port or api_port,
            smtp_port=args.smtp_port or smtp_port,
            progress=progress,
            task_port=task_port,
        ) as stack:
            from prefect.settings import get_current_settings

            # Prefect reads its settings once, when first imported; make sure that was after the
            # stack pointed them at the demo's server, not at a server named in the shell.
            if str(get_current_settings().api.url) != stack.api_url:
                raise StackError(f"Prefect talks to {get_current_settings().api.url}, not the demo's server")
            from remediation_flows.stack.demo import walk_a_case, walk_a_cycle

            async def both() -> tuple[str, str]:
                # Side by side: each story spends most of its time waiting for a flow run to start or
                # resume, and the two never wait on each other (a minute less on an idle machine).
                return await asyncio.gather(
                    walk_a_case(
                        paths.case_store_url,
                        stack.ui_url,
                        paths.mail_dir,
                        lambda line: progress(f"case:  {line}"),
                    ),
                    walk_a_cycle(lambda line: progress(f"cycle: {line}")),
                )

            reference, report_key = asyncio.run(both())
            print()
            print(f"Done in {time.monotonic() - started:.0f} s. The demo's stack stops now; its folder")
            print(f"{home.resolve()} is kept for you to read (delete it when done):")
            print(f"  remediate mail --home {home}    the task, approval and escalation emails")
            print(f"  remediate overdue --url {paths.case_store_url}    the overdue board, today")
            print(f"  remediate up --home {home}    then in the UI, the artifacts:")
            print(f"      case-{reference.lower()}, overdue-board, {report_key}")
            print(f"      (the annual report is also in {home / 'reports'})")
    except (StackError, TimeoutError, RuntimeError, AssertionError) as error:
        raise _fail(f"demo stopped: {error} (its logs and data are in {home})") from None
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    """List the local mail sink, or show one message."""
    from remediation_flows.core.mail.sink import plain_text, read_sink

    messages = read_sink(Path(args.home) / "mail")
    if args.number is None:
        if not messages:
            print(f"no mail in {Path(args.home) / 'mail'} yet")
            return 0
        _print_table(
            ("#", "date", "to", "subject"), [(str(m.number), m.date, m.to[:50], m.subject) for m in messages]
        )
        return 0
    chosen = next((m for m in messages if m.number == args.number), None)
    if chosen is None:
        raise _fail(f"no message #{args.number}; there are {len(messages)}")
    for header in ("Date", "From", "To", "Subject", "Message-ID"):
        print(f"{header}: {chosen.message[header]}")
    print()
    print(plain_text(chosen.message))
    return 0


def cmd_cases_import(args: argparse.Namespace) -> int:
    """Import a spreadsheet of existing cases: every bad row reported, nothing written unless all are good."""
    from remediation_flows.core.intake import IntakeInvalid, import_rows, read_rows
    from remediation_flows.core.store import CaseStore

    path = Path(args.file)
    if not path.exists():
        raise _fail(f"{path}: no such file")
    # The sheet and the programmes are read and bounded before the store is touched, so that a
    # file refused unread leaves no store behind.
    try:
        programmes = [load_programme_file(file) for file in args.config or []]
        rows = read_rows(path)
    except ConfigInvalid as error:
        print_problems(error.problems)
        return EXIT_USAGE
    except IntakeInvalid as error:
        print_problems(error.problems)
        print("remediate: nothing was imported", file=sys.stderr)
        return EXIT_USAGE
    url = _store_url(args)
    _migrate(url)  # an import may be the store's first use: it creates the store on purpose
    store = CaseStore(url)
    try:
        references = import_rows(store, rows, path, args.imported_by, register=programmes)
    except IntakeInvalid as error:
        print_problems(error.problems)
        print(f"remediate: {len(error.problems)} problem(s); nothing was imported", file=sys.stderr)
        return EXIT_USAGE
    finally:
        store.dispose()
    print(f"{path}: imported {len(references)} case(s): {references[0]} to {references[-1]}")
    print("Start their lifecycle runs from the UI's case-lifecycle deployment, one per case reference.")
    return 0


def cmd_due_diligence_report(args: argparse.Namespace) -> int:
    """Write the annual report files from the store, without a Prefect server."""
    from remediation_flows.core.due_diligence.report import write_report

    store = _open_store(args)
    try:
        paths = write_report(store, args.enterprise, args.year, Path(args.out))
    finally:
        store.dispose()
    for path in paths:
        print(path)
    return 0


def parse_day(text: str, what: str) -> dt.date:
    """A YYYY-MM-DD date; anything else is one line naming the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{what}: '{text}' is not a date in the form YYYY-MM-DD") from None


def cmd_kpis(args: argparse.Namespace) -> int:
    """Print the field's outcome measures for one enterprise (and site) and period, from the store."""
    from remediation_flows.core.kpis import compute_kpis, kpi_lines

    start, end = parse_day(args.start, "--from"), parse_day(args.end, "--to")
    if end < start:
        raise _fail(f"--to {end} is before --from {start}")
    store = _open_store(args)
    try:
        kpis = compute_kpis(store, args.enterprise, start, end, site_id=args.site)
    finally:
        store.dispose()
    print("\n".join(kpi_lines(kpis)))
    return 0


HOLD_REASONS = (
    "school_term_not_started",
    "guardian_away",
    "labour_office_not_answered",
    "site_closed",
    "other",
)


def cmd_milestone_hold(args: argparse.Namespace) -> int:
    """Stop a milestone's clock and its escalation, with the reason audited."""
    from remediation_flows.core.holds import hold_milestone

    store = _open_store(args)
    try:
        view = hold_milestone(
            store, args.reference, args.step, actor=args.by, reason=args.reason, note=args.note
        )
    finally:
        store.dispose()
    print(f"{view.milestone_key}: on hold since {view.held_at.isoformat()} ({view.reason.label})")
    return 0


def cmd_milestone_release(args: argparse.Namespace) -> int:
    """End a milestone's hold: its deadline moves by the time held and escalation resumes."""
    from remediation_flows.core.holds import release_milestone

    store = _open_store(args)
    try:
        view = release_milestone(store, args.reference, args.step, actor=args.by)
    finally:
        store.dispose()
    print(f"{view.milestone_key}: released after {view.held_for}; now due {view.due_at.isoformat()}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """Print a new key for encrypting children's personal data at rest."""
    from remediation_flows.core.store.protection import KEY_VARIABLE, new_key

    print(new_key())
    print(
        f"# set it as {KEY_VARIABLE} wherever the case store is used; keep it in a secret store",
        file=sys.stderr,
    )
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every stored identity under the first key, in batches; run again to resume."""
    from remediation_flows.core.safeguarding.keys import rotate_personal_data

    if args.batch_size < 1:
        raise _fail(f"--batch-size: {args.batch_size} is not a positive number of identities")
    store = _open_store(args)
    identities = values = 0
    try:
        for batch in rotate_personal_data(store, args.by, args.batch_size):
            identities += batch.identities
            values += batch.values
            print(f"{identities} identities read, {values} values re-encrypted", flush=True)
    finally:
        store.dispose()
    print(f"every identity is encrypted under the first key ({values} values re-encrypted)")
    return 0


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    """--url or --home: which case store a command works on (see :func:`_store_url`)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help=STORE_HELP)
    where.add_argument("--home", help="the folder `remediate up` keeps its data in (default: ./var)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="remediate", description="Child-labour remediation workflows.")
    commands = parser.add_subparsers(dest="command", required=True)

    config = commands.add_parser("config", help="enterprise programme configuration").add_subparsers(
        dest="config_command", required=True
    )
    validate = config.add_parser("validate", help="check programme YAML files; writes nothing")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=cmd_config_validate)
    load = config.add_parser("load", help="validate a programme file and save it as the enterprise's block")
    load.add_argument("file", metavar="FILE")
    load.set_defaults(handler=cmd_config_load)

    deadline = commands.add_parser("deadline", help="when a step is due at a site, and why")
    deadline.add_argument("--config", required=True, metavar="FILE")
    deadline.add_argument("--site", required=True)
    deadline.add_argument("--step", required=True)
    deadline.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="ISO8601",
        help="start instant; without a UTC offset it is read in the site's time zone",
    )
    deadline.set_defaults(handler=cmd_deadline)

    db = commands.add_parser("db", help="the case store").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="create or migrate the case store schema")
    _add_store_options(upgrade)
    upgrade.set_defaults(handler=cmd_db_upgrade)

    case = commands.add_parser("case", help="a case's records outside Prefect").add_subparsers(
        dest="case_command", required=True
    )
    identify = case.add_parser(
        "identify", help="record a child's name, birth date, address, school (never through Prefect)"
    )
    identify.add_argument("reference", metavar="CASE_REF")
    identify.add_argument(
        "--from-file", metavar="FILE", help="YAML with full_name, birth_date, address, school..."
    )
    identify.add_argument("--recorded-by", required=True, help="your name or email, for the audit trail")
    _add_store_options(identify)
    identify.set_defaults(handler=cmd_case_identify)
    show_identity = case.add_parser(
        "show-identity", help="show a child's identity; the read is logged with who and why"
    )
    show_identity.add_argument("reference", metavar="CASE_REF")
    show_identity.add_argument("--reason", required=True, help="why you need it, for the access log")
    show_identity.add_argument("--by", required=True, help="your name or email, for the access log")
    _add_store_options(show_identity)
    show_identity.set_defaults(handler=cmd_case_show_identity)
    access = case.add_parser("access-log", help="who read a case's identity, when and why")
    access.add_argument("reference", metavar="CASE_REF")
    _add_store_options(access)
    access.set_defaults(handler=cmd_case_access_log)
    legal_hold = case.add_parser("hold", help="legal hold: keep a case's identity past its retention")
    legal_hold.add_argument("reference", metavar="CASE_REF")
    legal_hold.add_argument("--reason", required=True, help="why it must be kept (kept in the case store)")
    legal_hold.add_argument("--by", required=True, help="your name or email, for the audit trail")
    _add_store_options(legal_hold)
    legal_hold.set_defaults(handler=cmd_case_hold)
    release_hold = case.add_parser("release-hold", help="end a legal hold: the retention rule applies again")
    release_hold.add_argument("reference", metavar="CASE_REF")
    release_hold.add_argument("--reason", required=True, help="why it need no longer be kept")
    release_hold.add_argument("--by", required=True, help="your name or email, for the audit trail")
    _add_store_options(release_hold)
    release_hold.set_defaults(handler=cmd_case_release_hold)

    identities = commands.add_parser("identities", help="children's identities across cases").add_subparsers(
        dest="identities_command", required=True
    )
    erase = identities.add_parser(
        "erase-expired", help="erase identities kept past their programme's retention (not on legal hold)"
    )
    erase.add_argument("--by", required=True, help="who erases, for the audit trail")
    erase.add_argument("--dry-run", action="store_true", help="list what would be erased; write nothing")
    erase.add_argument("--batch-size", type=int, default=200, help="cases per transaction (200)")
    _add_store_options(erase)
    erase.set_defaults(handler=cmd_identities_erase_expired)

    milestone = commands.add_parser(
        "milestone", help="a case's milestone: hold or release its clock"
    ).add_subparsers(dest="milestone_command", required=True)
    hold = milestone.add_parser("hold", help="stop a milestone's clock and escalation, with a reason")
    hold.add_argument("reference", metavar="CASE_REF")
    hold.add_argument("step", metavar="STEP", help="e.g. school_reintegration, follow_up_visit")
    hold.add_argument("--reason", required=True, choices=HOLD_REASONS, help="why the clock waits")
    hold.add_argument(
        "--note",
        help="what the clock waits for, in words (kept in the case store only; required with 'other')",
    )
    hold.add_argument("--by", required=True, help="your name or email, for the audit trail")
    _add_store_options(hold)
    hold.set_defaults(handler=cmd_milestone_hold)
    release = milestone.add_parser(
        "release", help="end a hold: the deadline moves by the time held and escalation resumes"
    )
    release.add_argument("reference", metavar="CASE_REF")
    release.add_argument("step", metavar="STEP")
    release.add_argument("--by", required=True, help="your name or email, for the audit trail")
    _add_store_options(release)
    release.set_defaults(handler=cmd_milestone_release)
    task_link = commands.add_parser("task-link", help="personal task links").add_subparsers(
        dest="task_link_command", required=True
    )
    reissue = task_link.add_parser("reissue", help="email a person a new link for a task; voids the old one")
    reissue.add_argument("reference", metavar="CASE_OR_CYCLE_REF", help="CL-… for a case, DD-… for a cycle")
    reissue.add_argument(
        "--step",
        required=True,
        help="the task's step, e.g. remediation_plan; for a cycle, its step or question (risk-dhaka-knit-01)",
    )
    reissue.add_argument("--to", required=True, help="the address the earlier link was sent to")
    reissue.add_argument("--by", required=True, help="your name or email, for the audit trail")
    reissue.add_argument("--reason", required=True, help="why a new link is needed")
    _add_store_options(reissue)
    reissue.set_defaults(handler=cmd_task_link_reissue)
    listing = task_link.add_parser("list", help="the links issued for a case or a cycle (never their tokens)")
    listing.add_argument("reference", metavar="CASE_OR_CYCLE_REF")
    _add_store_options(listing)
    listing.set_defaults(handler=cmd_task_link_list)

    stipends = commands.add_parser("stipends", help="a case's stipend ledger").add_subparsers(
        dest="stipends_command", required=True
    )
    ledger = stipends.add_parser("ledger", help="every payment owed to the family, paid or not")
    ledger.add_argument("reference", metavar="CASE_REF")
    _add_store_options(ledger)
    ledger.set_defaults(handler=cmd_stipends_ledger)
    interim = stipends.add_parser("interim", help="interim support owed between removal and the plan")
    interim.add_argument("reference", metavar="CASE_REF")
    interim.add_argument("--amount", required=True, help="e.g. 7500 (in the currency's units)")
    interim.add_argument("--currency", required=True, help="ISO 4217, e.g. BDT")
    interim.add_argument("--due-on", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    interim.add_argument("--by", required=True, help="your name or email, for the audit trail")
    _add_store_options(interim)
    interim.set_defaults(handler=cmd_stipends_interim)

    evidence = commands.add_parser("evidence", help="a case's evidence files").add_subparsers(
        dest="evidence_command", required=True
    )
    evidence_add = evidence.add_parser("add", help="add a PDF, JPEG or PNG file as evidence for a step")
    evidence_add.add_argument("reference", metavar="CASE_REF")
    evidence_add.add_argument("file", metavar="FILE")
    evidence_add.add_argument(
        "--step", required=True, help="the step it is evidence for, e.g. school_reintegration"
    )
    evidence_add.add_argument("--by", required=True, help="your name or email, for the audit trail")
    _add_store_options(evidence_add)
    evidence_add.set_defaults(handler=cmd_evidence_add)
    evidence_list = evidence.add_parser("list", help="a case's evidence by hash, type and size")
    evidence_list.add_argument("reference", metavar="CASE_REF")
    _add_store_options(evidence_list)
    evidence_list.set_defaults(handler=cmd_evidence_list)
    evidence_export = evidence.add_parser(
        "export", help="write a case's evidence files to a folder (audited)"
    )
    evidence_export.add_argument("reference", metavar="CASE_REF")
    evidence_export.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    evidence_export.add_argument("--by", required=True, help="your name or email, for the audit trail")
    evidence_export.add_argument("--reason", required=True, help="why the files leave the case store")
    _add_store_options(evidence_export)
    evidence_export.set_defaults(handler=cmd_evidence_export)

    cases = commands.add_parser("cases", help="many cases at once").add_subparsers(
        dest="cases_command", required=True
    )
    intake = cases.add_parser("import", help="bring existing cases in from a .csv or .xlsx (all or nothing)")
    intake.add_argument("file", metavar="FILE")
    intake.add_argument("--imported-by", required=True, help="your name or email, for the audit trail")
    intake.add_argument("--config", action="append", metavar="FILE", help="register this programme first")
    _add_store_options(intake)
    intake.set_defaults(handler=cmd_cases_import)

    due_diligence = commands.add_parser("due-diligence", help="the yearly cycle").add_subparsers(
        dest="due_diligence_command", required=True
    )
    report = due_diligence.add_parser(
        "report", help="write the annual report (Markdown and HTML) from the store"
    )
    report.add_argument("enterprise", metavar="ENTERPRISE")
    report.add_argument("--year", type=int, required=True)
    report.add_argument("--out", required=True, metavar="DIR")
    _add_store_options(report)
    report.set_defaults(handler=cmd_due_diligence_report)

    kpis = commands.add_parser("kpis", help="outcome measures by sex and site, with their definitions")
    kpis.add_argument("enterprise", metavar="ENTERPRISE")
    kpis.add_argument("--site", help="one site only")
    kpis.add_argument(
        "--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first notification day"
    )
    kpis.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD", help="last notification day")
    _add_store_options(kpis)
    kpis.set_defaults(handler=cmd_kpis)

    overdue = commands.add_parser("overdue", help="open milestones past due or due within 7 days")
    overdue.add_argument("--as-of", help="look as of this date or instant (default: now)")
    _add_store_options(overdue)
    overdue.set_defaults(handler=cmd_overdue)

    outbox = commands.add_parser("outbox", help="emails pending, sent and failed")
    outbox.add_argument("--status", choices=[status.value for status in OutboxStatus])
    outbox.add_argument("--limit", type=int, default=20)
    _add_store_options(outbox)
    outbox.set_defaults(handler=cmd_outbox)

    status = commands.add_parser(
        "status",
        help="whether the running stack works by itself: sweeps, dispatches, outbox, server errors",
        description="Exit 0 when all is well, 1 with one line per problem, 2 when no stack answers.",
    )
    status.add_argument("--home", help="where `remediate up` runs from, with its stack.json (default: ./var)")
    status.add_argument(
        "--url", help="the case store, if not the stack's (default: the stack's, else as for `outbox`)"
    )
    status.add_argument(
        "--mail-limit-minutes",
        type=float,
        default=30,
        help="a pending email older than this is a problem (default: 30)",
    )
    status.add_argument(
        "--server-log", metavar="FILE", help="the Prefect server's log (default: HOME/prefect-server.log)"
    )
    status.set_defaults(handler=cmd_status)

    up = commands.add_parser("up", help="run everything locally: Prefect server, mail sink, every deployment")
    up.add_argument("--home", default="var", help="folder for all data, kept between runs (default: ./var)")
    up.add_argument("--api-port", type=int, default=4200)
    up.add_argument("--smtp-port", type=int, default=8025)
    up.add_argument("--task-port", type=int, default=4300, help="the task page's port on 127.0.0.1")
    up.set_defaults(handler=cmd_up)

    demo = commands.add_parser(
        "demo", help="walk a case through approvals, task emails and an escalation, in a stack of its own"
    )
    demo.add_argument(
        "--home",
        help="an empty folder for the demo's data (default: a new folder in the system's temporary folder); "
        "never the home of a running stack or of a case store",
    )
    demo.add_argument("--api-port", type=int, help="the demo's Prefect server port (default: a free one)")
    demo.add_argument("--smtp-port", type=int, help="the demo's mail sink port (default: a free one)")
    demo.set_defaults(handler=cmd_demo)

    mail = commands.add_parser("mail", help="list the local mail sink, or show message N")
    mail.add_argument("number", nargs="?", type=int, metavar="N")
    mail.add_argument("--home", default="var")
    mail.set_defaults(handler=cmd_mail)

    keygen = commands.add_parser("keygen", help="print a key to encrypt children's personal data at rest")
    keygen.set_defaults(handler=cmd_keygen)

    keys = commands.add_parser("keys", help="the keys that encrypt children's personal data").add_subparsers(
        dest="keys_command", required=True
    )
    rotate = keys.add_parser(
        "rotate",
        help="re-encrypt every stored identity under the first key of $REMEDIATION_PERSONAL_DATA_KEY "
        "(resumable: run again after an interruption)",
    )
    rotate.add_argument("--by", required=True, help="who rotates, for the audit trail")
    rotate.add_argument("--batch-size", type=int, default=200, help="identities per transaction (200)")
    _add_store_options(rotate)
    rotate.set_defaults(handler=cmd_keys_rotate)

    tour = commands.add_parser("tour", help="a short walk through the core on the embedded store")
    tour.add_argument(
        "--url",
        default=TOUR_DATABASE_URL,
        # Never the stack's store or $REMEDIATION_DATABASE_URL: the tour writes sample cases.
        help=f"database URL of a store for the tour alone (default: {TOUR_DATABASE_URL})",
    )
    tour.set_defaults(handler=cmd_tour)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``remediate`` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CommandFailed, RemediationError) as error:
        print(f"remediate: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
