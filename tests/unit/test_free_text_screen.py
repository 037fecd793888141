"""Free text people type is screened against the identities the case store protects.

A child's name typed into any free-text field of any act is refused, and afterwards is found
nowhere in the store but the protected table: no audit row, no outbox row, no extension, visit,
approval or due-diligence record holds it. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.safeguarding.free_text import (
    IdentityInFreeText,
    KnownIdentity,
    dates_written_in,
    mentions_identity,
)
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.protection import KEY_VARIABLE, new_key
from remediation_flows.core.store.schema import AuditEvent, Base, ChildPersonalData
from tests.conftest import years_before
from tests.unit.test_casework import ACTOR, VISIT_DAYS, age_on, assess, notify, plan, to_monitoring, visit
from tests.unit.test_due_diligence import answers, staff

CHILD = "Zarqa Noor Qureshi"
GUARDIAN = "Imran Qureshi"
SCHOOL = "Escuela Primaria Benito Juárez"
BORN = dt.date(2012, 3, 3)
IDENTITY = KnownIdentity(full_name=CHILD, guardian_name=GUARDIAN, school=SCHOOL, birth_date=BORN)
#: What must never be found outside the protected table once a text naming the child was refused.
SECRETS = ("zarqa", "qureshi", "benito", "2012-03-03", "3 march 2012", "road 5", "img_2034")


@pytest.mark.parametrize(
    "text",
    [
        "Zarqa Q. is in hospital",
        "ZARQA missed class",
        "zárqa missed class",
        "spoke to Mr Qureshi",
        "Imran came to the office",
        "enrolled at Benito Juarez",
        "enrolled at escuela primaria benito juárez",
        "born 2012-03-03",
        "born 03/03/2012",
        "born 3.3.2012",
        "born 3 March 2012",
        "born 3rd of Mar. 2012",
        "born March 3, 2012",
        "nació el 3 de marzo de 2012",
        "生于2012年3月3日",
    ],
)
def test_a_name_school_or_birth_date_in_any_usual_form_is_a_mention(text):
    assert mentions_identity(text, IDENTITY)


@pytest.mark.parametrize(
    "text",
    [
        "road closed by floods",
        "the escuela primaria was closed for a week",  # generic school words alone
        "visited on 2012-03-04",  # another date
        "Qureshis of another village",  # a longer word is another word
        "No one at home",  # "Noor" is not "No"
        "12/03/2013",
    ],
)
def test_ordinary_text_is_no_mention(text):
    assert not mentions_identity(text, IDENTITY)


def test_a_name_part_of_two_letters_counts_only_within_the_whole_name():
    short = KnownIdentity(full_name="Li Na")
    assert not mentions_identity("Li said the stipend came late", short)
    assert mentions_identity("li na is back at school", short)


def test_a_name_written_without_spaces_is_found_inside_a_sentence():
    assert mentions_identity("王小明在医院", KnownIdentity(full_name="王 小明"))


def test_a_date_written_day_or_month_first_is_read_both_ways():
    assert dates_written_in("4/3/2012") == {dt.date(2012, 3, 4), dt.date(2012, 4, 3)}
    assert dates_written_in("31/02/2012 and 99.99.2012") == set()


# --- every act that takes free text, through the core ------------------------------------------------


def _identified_case(store, programme) -> str:
    reference = notify(store, programme)
    cw.identify_child(
        store,
        reference,
        full_name=CHILD,
        guardian_name=GUARDIAN,
        school=SCHOOL,
        birth_date=BORN,
        address="House 12, Road 5, Mirpur, Dhaka",
        photo_reference="IMG_2034.jpg",
        actor=ACTOR,
    )
    return reference


def _in_monitoring(store, programme, today) -> str:
    reference = _identified_case(store, programme)
    assess(store, reference)
    to_monitoring(store, reference, today)
    return reference


def _awaiting_closure(store, programme, today) -> str:
    reference = _in_monitoring(store, programme, today)
    visit(store, reference, today + dt.timedelta(days=180))
    view = visit(store, reference, today + dt.timedelta(days=360))
    assert view.closure_pending  # born 2012: 15 by now, so monitoring ends
    return reference


def _plan_proposed(store, programme) -> str:
    reference = _identified_case(store, programme)
    assess(store, reference)
    cw.propose_plan(store, reference, plan(), ACTOR)
    return reference


def _school_reintegration(store, programme) -> str:
    reference = _plan_proposed(store, programme)
    cw.decide_plan(store, reference, "supervisor", True, "elena.torres@centro-mx.example")
    cw.decide_plan(store, reference, "enterprise_focal_point", True, "cumplimiento@campos-pacifico.example")
    return reference


Act = Callable[[str], object]
PAYER = "cumplimiento@campos-pacifico.example"  # the agro exporter's focal point: the stipend's payer
#: (field, how to get a case to the act, the act given the free text)


def _today_at_the_site(store, reference: str) -> dt.date:
    """Today at the case's site, the day a payment made now is dated: the machine's date (UTC) lies a
    day ahead of a Mexican site from midnight UTC until midnight there, a payment "in the future"."""
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        zone = SiteCalendar(repo.programme_of(session, case).site(case.site_id)).zone
    return dt.datetime.now(zone).date()


CASE_ACTS: dict[str, tuple[Callable[..., str], Callable[..., Act]]] = {
    "grant_extension.reason": (
        lambda store, p, today: _identified_case(store, p),
        lambda store, ref: (
            lambda text: cw.grant_extension(store, ref, "on_site_assessment", ACTOR, text, working_days=2)
        ),
    ),
    "reassign_case.reason": (
        lambda store, p, today: _identified_case(store, p),
        lambda store, ref: (
            lambda text: cw.reassign_case(store, ref, "pedro.gomez@centro-mx.example", ACTOR, text)
        ),
    ),
    "withdraw_case.reason": (
        lambda store, p, today: _identified_case(store, p),
        lambda store, ref: lambda text: cw.withdraw_case(store, ref, ACTOR, text),
    ),
    "reopen_case.reason": (
        _in_monitoring,
        lambda store, ref: lambda text: cw.reopen_case(store, ref, ACTOR, text),
    ),
    "decide_plan.comment": (
        lambda store, p, today: _plan_proposed(store, p),
        lambda store, ref: (
            lambda text: cw.decide_plan(
                store, ref, "supervisor", False, "elena.torres@centro-mx.example", comment=text
            )
        ),
    ),
    "record_reintegration.evidence_reference": (
        lambda store, p, today: _school_reintegration(store, p),
        lambda store, ref: (
            lambda text: cw.record_reintegration(
                store,
                ref,
                cw.ReintegrationReport(
                    effective_on=dt.date.today(),
                    evidence_reference=text,
                ),
                ACTOR,
            )
        ),
    ),
    "record_follow_up.findings": (
        _in_monitoring,
        lambda store, ref: (
            lambda text: cw.record_follow_up(
                store,
                ref,
                cw.VisitReport(
                    visited_on=dt.date.today() + dt.timedelta(days=180),
                    attending_school=True,
                    back_at_work=False,
                    findings=text,
                ),
                ACTOR,
            )
        ),
    ),
    "confirm_payment.payment_reference": (
        lambda store, p, today: _school_reintegration(store, p),
        lambda store, ref: (
            lambda text: cw.confirm_payment(
                store,
                ref,
                cw.PaymentConfirmation(Decimal("1500"), "MXN", _today_at_the_site(store, ref), text),
                Decider(person=PAYER, verified=True),
            )
        ),
    ),
    "confirm_payment.on_behalf_reason": (
        lambda store, p, today: _school_reintegration(store, p),
        lambda store, ref: (
            lambda text: cw.confirm_payment(
                store,
                ref,
                cw.PaymentConfirmation(Decimal("1500"), "MXN", _today_at_the_site(store, ref), "SPEI-0042"),
                Decider(
                    PAYER, verified=False, entered_by=ACTOR, channel="the Prefect UI", on_behalf_reason=text
                ),
            )
        ),
    ),
    "decide_closure.comment": (
        _awaiting_closure,
        lambda store, ref: (
            lambda text: cw.decide_closure(store, ref, "program_manager", False, ACTOR, comment=text)
        ),
    ),
}


def acts_audited(store, reference) -> int:
    """How many audit rows of the case record a change (refusals aside)."""
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        return session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == case.id, AuditEvent.action != "input_refused")
        )


def everything_outside_the_protected_table(store) -> str:
    """Every row of every table but the child's own, as text, lower-cased."""
    chunks = []
    with store.transaction() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == ChildPersonalData.__tablename__:
                continue
            chunks.extend(str(tuple(row)) for row in session.execute(select(table)))
    return "\n".join(chunks).lower()


def assert_no_secret_outside_the_protected_table(store) -> None:
    dump = everything_outside_the_protected_table(store)
    assert "case_state_changed" in dump or "site_risk_assessed" in dump  # the dump does read the audit
    for secret in SECRETS:
        assert secret not in dump, f"{secret!r} is stored outside the protected table"


@pytest.mark.parametrize("act_name", sorted(CASE_ACTS))
def test_a_childs_name_in_a_case_acts_free_text_is_refused_and_stored_nowhere(
    store, agro_exporter, today, act_name
):
    setup, make_act = CASE_ACTS[act_name]
    reference = setup(store, agro_exporter, today)
    act = make_act(store, reference)
    before = cw.case_view(store, reference), acts_audited(store, reference)
    field = act_name.split(".")[1]

    for text in (
        "Zarqa Q. is in hospital",
        "enrolled at Benito Juarez",
        "born 3 March 2012",
        "the family left Road 5",
        "photo IMG_2034.jpg attached",
    ):
        with pytest.raises(IdentityInFreeText) as refused:
            act(text)
        message = str(refused.value)
        assert message.startswith(
            f"{field}: appears to contain the identity of the child of case {reference}"
        )
        for secret in SECRETS:
            assert secret not in message.lower()
        # As flows/prompts.py does with a refused answer: the refusal is audited, in the same words.
        cw.record_refusal(store, f"{reference}-r1-test", message, ACTOR, reference)

    assert (cw.case_view(store, reference), acts_audited(store, reference)) == before  # nothing moved
    assert_no_secret_outside_the_protected_table(store)
    act("a text with the case reference only")  # the same act with clean text goes through
    assert acts_audited(store, reference) > before[1]


def test_the_screen_reads_only_the_cases_own_identity(store, agro_exporter):
    named = _identified_case(store, agro_exporter)
    other = notify(store, agro_exporter)
    cw.grant_extension(store, other, "on_site_assessment", ACTOR, "Zarqa's road is closed", working_days=1)
    with pytest.raises(IdentityInFreeText):
        cw.grant_extension(
            store, named, "on_site_assessment", ACTOR, "Zarqa's road is closed", working_days=1
        )


# --- due diligence: screened against every child of the site or the enterprise ----------------------


def _cycle_at_policies(store, programme, year) -> None:
    dd.start_cycle(store, programme, year, "li.wen@ngo.example")
    high = answers(
        workers_under_18_percent=7, uses_labour_agents=True, dormitories=True, cases_last_3_years=2
    )
    dd.record_site_risk(store, programme.enterprise_id, year, "dhaka-knit-01", high, "compliance@brand")
    dd.record_site_risk(store, programme.enterprise_id, year, "hcmc-sew-02", answers(), "compliance@brand")


def _identified_child_at(store, programme, site) -> str:
    reference = notify(store, programme, site=site)
    cw.identify_child(store, reference, full_name=CHILD, school=SCHOOL, birth_date=BORN, actor=ACTOR)
    return reference


def test_due_diligence_texts_naming_a_child_of_the_enterprise_are_refused(store, garment_brand, today):
    year = today.year
    enterprise = garment_brand.enterprise_id
    _identified_child_at(store, garment_brand, "dhaka-knit-01")
    _cycle_at_policies(store, garment_brand, year)

    with pytest.raises(IdentityInFreeText, match="^document_reference: .* a child of enterprise northwind"):
        dd.record_policy_review(store, enterprise, year, dd.PolicyReview(True, True, True, "POL Zarqa"), "x")
    dd.record_policy_review(store, enterprise, year, dd.PolicyReview(True, True, True, "POL-2026"), "x")
    with pytest.raises(IdentityInFreeText, match="^comment: "):
        dd.decide(
            store,
            enterprise,
            year,
            "enterprise_leadership",
            False,
            staff("coo@northwind-apparel.example"),
            comment="ask Qureshi",
        )
    dd.decide(store, enterprise, year, "enterprise_leadership", True, staff("coo@northwind-apparel.example"))
    dd.decide(store, enterprise, year, "program_manager", True, staff("li.wen@ngo.example"))
    dd.plan_training(store, enterprise, year, sessions=1, planned_participants=10, actor="li.wen")
    dd.record_training(store, enterprise, year, attended=10, actor="li.wen")
    with pytest.raises(IdentityInFreeText, match="^findings: .* a child of site dhaka-knit-01"):
        dd.record_monitoring_visit(
            store,
            enterprise,
            year,
            dd.MonitoringVisit("dhaka-knit-01", today, False, findings="Zarqa no longer works here"),
            "rahim.uddin@ngo.example",
        )
    assert_no_secret_outside_the_protected_table(store)
    view = dd.record_monitoring_visit(
        store,
        enterprise,
        year,
        dd.MonitoringVisit("dhaka-knit-01", today, False, findings="no minors on the floor"),
        "rahim.uddin@ngo.example",
    )
    assert view.step == "communication"


def test_a_monitoring_visit_is_screened_against_the_children_of_its_own_site(store, garment_brand, today):
    year = today.year
    _identified_child_at(store, garment_brand, "hcmc-sew-02")  # a child of the other site
    _cycle_at_policies(store, garment_brand, year)
    dd.record_policy_review(
        store, garment_brand.enterprise_id, year, dd.PolicyReview(True, True, True, "P"), "x"
    )
    dd.decide(
        store,
        garment_brand.enterprise_id,
        year,
        "enterprise_leadership",
        True,
        staff("coo@northwind-apparel.example"),
    )
    dd.decide(store, garment_brand.enterprise_id, year, "program_manager", True, staff("li.wen@ngo.example"))
    dd.plan_training(store, garment_brand.enterprise_id, year, sessions=1, planned_participants=1, actor="x")
    dd.record_training(store, garment_brand.enterprise_id, year, attended=1, actor="x")
    view = dd.record_monitoring_visit(
        store,
        garment_brand.enterprise_id,
        year,
        dd.MonitoringVisit("dhaka-knit-01", today, False, findings="Zarqa is a common name here"),
        "rahim.uddin@ngo.example",
    )
    assert view.step == "communication"


# --- encrypted identities: decrypted in memory to screen; the lifecycle needs no key -----------------


def test_an_encrypted_identity_is_screened_with_the_key_and_refuses_unscreenable_text_without(
    store, agro_exporter, monkeypatch
):
    monkeypatch.setenv(KEY_VARIABLE, new_key())
    reference = _identified_case(store, agro_exporter)
    with store.transaction() as session:
        raw = session.execute(sql("SELECT full_name FROM child_personal_data")).scalar_one()
    with pytest.raises(IdentityInFreeText):
        cw.grant_extension(store, reference, "on_site_assessment", ACTOR, "Zarqa is ill", working_days=1)

    monkeypatch.delenv(KEY_VARIABLE)
    with pytest.raises(
        InvalidInput, match=f"^reason: cannot be checked for a child's identity .*{KEY_VARIABLE}"
    ):
        cw.grant_extension(store, reference, "on_site_assessment", ACTOR, "road closed", working_days=1)
    assert "zarqa" not in raw.lower()
    # An act without free text needs no key.
    view = assess(store, reference)
    assert view.state == "remediation_plan"


def test_follow_ups_need_no_key_to_decide_whether_monitoring_goes_on(
    store, agro_exporter, today, monkeypatch
):
    monkeypatch.setenv(KEY_VARIABLE, new_key())
    reference = notify(store, agro_exporter)
    # Still 14 on the day of the third visit, 15 by the fourth: monitoring goes on past the listed
    # two visits, and the lifecycle must know it at visits 2 and 3 on a worker without the key.
    born = years_before(today + dt.timedelta(days=VISIT_DAYS[2] + 1), 15)
    cw.identify_child(store, reference, full_name=CHILD, birth_date=born, actor=ACTOR)
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        reaches, adult = case.reaches_working_age_on, case.turns_18_on
    one_day = dt.timedelta(days=1)
    assert (age_on(born, reaches - one_day), age_on(born, reaches)) == (14, 15)
    assert (age_on(born, adult - one_day), age_on(born, adult)) == (17, 18)
    assess(store, reference, age=age_on(born, today))
    to_monitoring(store, reference, today)

    monkeypatch.delenv(KEY_VARIABLE)  # a worker without the key
    visit(store, reference, today + dt.timedelta(days=VISIT_DAYS[0]))
    view = visit(store, reference, today + dt.timedelta(days=VISIT_DAYS[1]))
    assert view.milestone("follow_up_visit").key.endswith("/follow_up_visit/3")
    view = visit(store, reference, today + dt.timedelta(days=VISIT_DAYS[2]))
    assert view.closure_pending == ["program_manager"]


# --- the command line never prints an identity value back -------------------------------------------


def test_case_identify_refuses_a_future_birth_date_without_printing_it(
    store, agro_exporter, tmp_path, capsys
):
    from remediation_flows.cli import main

    reference = notify(store, agro_exporter)
    future = dt.date.today() + dt.timedelta(days=400)
    child = tmp_path / "child.yaml"
    child.write_text(f"full_name: {CHILD}\nbirth_date: {future.isoformat()}\n", encoding="utf-8")
    command = ["case", "identify", reference, "--from-file", str(child), "--recorded-by", ACTOR]
    assert main([*command, "--url", store.url]) == 2
    error = capsys.readouterr().err
    assert "birth_date: is in the future" in error
    assert future.isoformat() not in error and str(future.year) not in error and "Zarqa" not in error
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ChildPersonalData)) == 0


def test_cases_import_names_a_bad_birth_date_without_printing_it(store, tmp_path, capsys, today):
    from tests.unit.test_intake import register_examples, run_import, write_csv

    register_examples(store)
    future = today + dt.timedelta(days=30)
    rows = [
        f"OLD-30,campos-del-pacifico,sinaloa-culiacan,{today},audit,remediation_plan,child_labourer,12,"
        f"{today},,,{CHILD},2012-02-30",
        f"OLD-31,campos-del-pacifico,sinaloa-culiacan,{today},audit,remediation_plan,child_labourer,12,"
        f"{today},,,{CHILD},{future}",
        f"OLD-32,campos-del-pacifico,sinaloa-culiacan,{today},audit,remediation_plan,child_labourer,12,"
        f"{today},,,{CHILD},3 March 2012",
    ]
    status, out = run_import(store, write_csv(tmp_path, rows), capsys)
    assert status == 2
    lines = out.err.strip().splitlines()
    problems = [line.split(": ", 1)[1] for line in lines]
    assert problems[:2] == [
        "row 2: birth_date: the value is not a calendar date",
        "row 3: birth_date: the date is in the future",
    ]
    assert problems[2].startswith("row 4: birth_date: ") and "pattern" in problems[2]
    assert problems[3:] == ["3 problem(s); nothing was imported"]
    for value in ("2012-02-30", future.isoformat(), "3 March 2012", "Zarqa"):
        assert value not in out.err


HOME = KnownIdentity(address="House 12, Road 5, Kharipara, Mirpur, Dhaka", photo_reference="IMG_2034.jpg")


@pytest.mark.parametrize(
    "text",
    [
        "the family moved from house 12 last week",
        "visited Road 5 in the evening",
        "see IMG_2034.jpg for the room",
    ],
)
def test_a_street_level_address_or_the_photos_reference_is_a_mention(text):
    assert mentions_identity(text, HOME)


@pytest.mark.parametrize(
    "text",
    [
        "the Mirpur office was closed",  # a district the site's own address shares
        "flooding in Dhaka",
        "12 children attended the training",  # a bare number
        "road closed by floods",
        "IMG_2035.jpg is the attendance sheet",
    ],
)
def test_an_area_a_bare_number_or_another_file_is_no_mention_of_the_address(text):
    assert not mentions_identity(text, HOME)


def test_the_first_part_of_an_address_names_the_village_and_is_a_mention():
    village = KnownIdentity(address="Kharipara\nMirpur upazila")
    assert mentions_identity("met the teacher in Kharipara", village)
    assert not mentions_identity("flooding in Dhaka", KnownIdentity(address="Dhaka"))  # a city alone


def _cli_free_texts(store, programme, today):
    """Each command-line option where staff type free text, on a case that is ready for it."""
    reference = _identified_case(store, programme)
    named = "Zarqa Q. asked for it"
    return reference, {
        "case show-identity --reason": ["case", "show-identity", reference, "--by", ACTOR, "--reason", named],
        "case hold --reason": ["case", "hold", reference, "--by", ACTOR, "--reason", named],
        "milestone hold --note": [
            *("milestone", "hold", reference, "on_site_assessment", "--by", ACTOR),
            *("--reason", "other", "--note", named),
        ],
        "evidence export --reason": [
            *("evidence", "export", reference, "--by", ACTOR, "--reason", named),
            *("--out", "/nonexistent/never-written"),
        ],
    }


@pytest.mark.parametrize(
    "option",
    [
        "case show-identity --reason",
        "case hold --reason",
        "milestone hold --note",
        "evidence export --reason",
    ],
)
def test_a_childs_name_in_a_command_line_free_text_is_refused_and_stored_nowhere(
    store, agro_exporter, today, capsys, option
):
    from remediation_flows.cli import main

    reference, commands = _cli_free_texts(store, agro_exporter, today)
    before = cw.case_view(store, reference), acts_audited(store, reference)
    assert main([*commands[option], "--url", store.url]) == 2
    error = capsys.readouterr().err
    assert "appears to contain the identity of the child of case" in error, error
    assert "zarqa" not in error.lower()
    assert (cw.case_view(store, reference), acts_audited(store, reference)) == before
    assert_no_secret_outside_the_protected_table(store)


def test_a_childs_name_in_a_link_reissue_reason_is_refused_and_no_link_is_sent(store, agro_exporter, capsys):
    from remediation_flows.cli import main
    from remediation_flows.core.store.schema import OutboxMessage, TaskLink

    reference = _plan_proposed(store, agro_exporter)
    with store.reading() as session:
        links, mails = (
            session.scalar(select(func.count()).select_from(table)) for table in (TaskLink, OutboxMessage)
        )
    command = ["task-link", "reissue", reference, "--step", "remediation_plan"]
    command += ["--to", "elena.torres@centro-mx.example", "--by", ACTOR, "--reason", "Zarqa lost it"]
    assert main([*command, "--url", store.url]) == 2
    error = capsys.readouterr().err
    assert "reason: appears to contain the identity of the child of case" in error and "Zarqa" not in error
    with store.reading() as session:
        assert (
            session.scalar(select(func.count()).select_from(TaskLink)),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
        ) == (links, mails)
    assert_no_secret_outside_the_protected_table(store)
    command[-1] = "the email was deleted"
    assert main([*command, "--url", store.url]) == 0  # the same re-issue with a clean reason goes through
