"""A waiting run's name and tags say what it waits for, of whom, where, and whether it is late."""

from __future__ import annotations

import datetime as dt

from remediation_flows.flows.wait_labels import OVERDUE, relabelled, short_due, wait_name, wait_tags

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def test_the_name_says_the_step_the_due_date_in_site_time_and_who():
    name = wait_name(
        "CL-2026-000002", "on_site_assessment", "2026-11-28 15:18 (Asia/Dhaka, UTC+06:00)", ["case_manager"]
    )
    assert name == "CL-2026-000002 · on-site assessment · due 28 Nov 15:18 (case manager)"


def test_an_approval_names_every_role_still_to_answer():
    name = wait_name("CL-2026-000002", "remediation_plan", None, ["supervisor", "enterprise_focal_point"])
    assert name == "CL-2026-000002 · remediation plan (supervisor, enterprise focal point)"
    assert short_due("2026-12-01 09:05 (America/Mexico_City, UTC-06:00)") == "1 Dec 09:05"


def test_tags_name_the_role_enterprise_site_and_overdue_once_late():
    due_later = NOW + dt.timedelta(hours=1)
    assert wait_tags("northwind-apparel", "dhaka-knit-01", ["case_manager"], due_later, NOW) == [
        "waiting:case-manager",
        "enterprise:northwind-apparel",
        "site:dhaka-knit-01",
    ]
    late = wait_tags(
        "northwind-apparel", "dhaka-knit-01", ["case_manager"], NOW - dt.timedelta(minutes=1), NOW
    )
    assert late[-1] == OVERDUE


def test_a_new_wait_replaces_the_last_waits_tags_and_keeps_the_others():
    current = ["case:CL-2026-000002", "remediation", "waiting:case-manager", "site:dhaka-knit-01", OVERDUE]
    new = ["waiting:supervisor", "enterprise:northwind-apparel", "site:dhaka-knit-01"]
    assert relabelled(current, new) == [
        "case:CL-2026-000002",
        "remediation",
        "waiting:supervisor",
        "enterprise:northwind-apparel",
        "site:dhaka-knit-01",
    ]
