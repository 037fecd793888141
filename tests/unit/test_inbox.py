"""What waits for whom: every open wait with the roles that must act, most urgent first, per role."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from remediation_flows.core import casework as cw
from remediation_flows.core.inbox import open_waits, waits_by_role
from remediation_flows.flows.remediation.inbox import inbox_key, inbox_markdown
from tests.unit.test_task_links import CASE_MANAGER, case_awaiting_plan_approval


def _open(store, programme, notified_at: dt.datetime) -> str:
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id="dhaka-knit-01",
        notified_at=notified_at,
        source=cw.Source.AUDIT,
    )
    return cw.open_case(store, programme, notification, actor=CASE_MANAGER).reference


def test_each_wait_names_the_roles_that_must_act_most_urgent_first(store, garment_brand):
    now = dt.datetime.now(dt.UTC)
    late = _open(store, garment_brand, now - dt.timedelta(days=10))  # its 72 hours are long gone
    approval = case_awaiting_plan_approval(store, garment_brand)
    with store.reading() as session:
        waits = open_waits(session, now)
    by_case = {w.reference: w for w in waits}
    assert by_case[late].roles == ("case_manager",) and by_case[late].step == "on_site_assessment"
    assert by_case[late].working_days_late > 0
    assert set(by_case[approval].roles) == {"supervisor", "enterprise_focal_point"}
    assert by_case[approval].working_days_late == 0
    assert [w.due_at for w in waits] == sorted(w.due_at for w in waits)
    by_role = waits_by_role(waits)
    assert [w.reference for w in by_role["supervisor"]] == [approval]
    assert late in [w.reference for w in by_role["case_manager"]]


def test_the_inbox_costs_the_same_few_queries_however_many_cases_are_open(store, garment_brand):
    now = dt.datetime.now(dt.UTC)
    counted: list[int] = []
    for more in (2, 12):  # 2 open cases, then 14
        for _ in range(more):
            _open(store, garment_brand, now)
        statements = [0]

        def count(*_args, statements=statements):
            statements[0] += 1

        event.listen(store.engine, "before_cursor_execute", count)
        try:
            waits = _waits(store, now)
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        counted.append(statements[0])
    assert len({w.reference for w in waits}) == 14
    assert counted[0] == counted[1], f"queries grew with the open cases: {counted}"


def _waits(store, now):
    with store.reading() as session:
        return open_waits(session, now)


def test_an_inbox_links_each_case_to_its_waiting_run(store, garment_brand):
    now = dt.datetime.now(dt.UTC)
    reference = _open(store, garment_brand, now - dt.timedelta(days=10))
    with store.reading() as session:
        waits = open_waits(session, now)
    text = inbox_markdown("case_manager", waits, {reference: "1234-run"}, "http://127.0.0.1:4200")
    assert text.startswith("# What waits for the case manager")
    assert f"[{reference}](http://127.0.0.1:4200/runs/flow-run/1234-run)" in text
    assert "on site assessment" in text and "Asia/Dhaka" in text
    assert inbox_key("enterprise_focal_point") == "inbox-enterprise-focal-point"
