"""Working-day clocks: holidays, weekends, declared working days, six-day weeks, closures, zones."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from remediation_flows.cli import main
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.model import Closure, Duration, DurationUnit, Site
from tests.conftest import EXAMPLES

WORKING = DurationUnit.WORKING_DAYS


def site(country: str, zone: str, **extra) -> Site:
    return Site(id=f"{country.lower()}-site", name="Test site", country=country, time_zone=zone, **extra)


def due(a_site: Site, start: str, amount: int, unit: DurationUnit = WORKING) -> dt.datetime:
    return SiteCalendar(a_site).due(dt.datetime.fromisoformat(start), Duration(amount, unit)).due_at


def test_public_holiday_and_country_weekend_are_skipped_in_bangladesh():
    dhaka = site("BD", "Asia/Dhaka")  # the country's week: Friday and Saturday off
    reckoning = SiteCalendar(dhaka).due(
        dt.datetime.fromisoformat("2026-12-14T10:00+06:00"), Duration(3, WORKING)
    )
    assert reckoning.due_at.isoformat() == "2026-12-20T23:59:59+06:00"
    text = "\n".join(reckoning.explanation)
    assert "skipped 2026-12-16 Wednesday: public holiday in BD: Victory Day" in text
    assert "skipped 2026-12-18 Friday: not in the working week in BD" in text
    assert "skipped 2026-12-19 Saturday: not in the working week in BD" in text


def test_egypt_works_sunday_to_thursday():
    cairo = site("EG", "Africa/Cairo")
    # Thursday 2026-11-26 + 1 working day: Friday and Saturday are the weekend.
    assert due(cairo, "2026-11-26T09:00+02:00", 1).date() == dt.date(2026, 11, 29)


def test_weekend_day_declared_a_working_day_counts_in_china():
    shenzhen = site("CN", "Asia/Shanghai")
    # Saturday 2026-02-14 is a make-up working day before the Spring Festival.
    assert due(shenzhen, "2026-02-13T09:00+08:00", 1).isoformat() == "2026-02-14T23:59:59+08:00"
    reckoning = SiteCalendar(shenzhen).due(
        dt.datetime.fromisoformat("2026-02-13T09:00+08:00"), Duration(1, WORKING)
    )
    assert "(Saturday declared a working day in CN)" in reckoning.explanation[1]
    # An ordinary Saturday does not count.
    assert due(shenzhen, "2026-03-06T09:00+08:00", 1).date() == dt.date(2026, 3, 9)


def test_six_day_week_counts_saturday(agro_exporter):
    six_day = agro_exporter.site("sinaloa-culiacan")
    five_day = agro_exporter.site("michoacan-uruapan")
    assert due(six_day, "2027-01-08T10:00", 1).date() == dt.date(2027, 1, 9)
    assert due(five_day, "2027-01-08T10:00", 1).date() == dt.date(2027, 1, 11)


def test_site_closure_days_are_skipped(agro_exporter):
    six_day = agro_exporter.site("sinaloa-culiacan")
    reckoning = SiteCalendar(six_day).due(dt.datetime.fromisoformat("2026-12-23T10:00"), Duration(1, WORKING))
    assert reckoning.due_at.date() == dt.date(2027, 1, 2)
    assert sum("site closed: Cierre de fin de año" in line for line in reckoning.explanation) == 9
    # A one-day closure on an ordinary working day.
    factory = site(
        "VN",
        "Asia/Ho_Chi_Minh",
        closures=(Closure(dt.date(2026, 11, 26), dt.date(2026, 11, 26), "fire drill"),),
    )
    assert due(factory, "2026-11-25T08:00+07:00", 1).date() == dt.date(2026, 11, 27)


def test_local_date_decides_the_start_day_not_utc():
    dhaka = site("BD", "Asia/Dhaka")
    # 20:00 UTC on Friday 18 December is 02:00 on Saturday 19 December in Dhaka.
    assert due(dhaka, "2026-12-18T20:00+00:00", 1).isoformat() == "2026-12-20T23:59:59+06:00"
    # A naive start is read in the site's zone.
    assert due(dhaka, "2026-12-17T23:30", 1).tzinfo == ZoneInfo("Asia/Dhaka")


def test_hours_are_elapsed_time_across_weekends_and_dst():
    dhaka = site("BD", "Asia/Dhaka")
    assert (
        due(dhaka, "2026-12-17T20:00+00:00", 72, DurationUnit.HOURS).isoformat()
        == "2026-12-21T02:00:00+06:00"
    )
    new_york = site("US", "America/New_York")
    # Clocks go forward on 8 March 2026: 24 elapsed hours land at 13:00 local.
    assert (
        due(new_york, "2026-03-07T12:00-05:00", 24, DurationUnit.HOURS).isoformat()
        == "2026-03-08T13:00:00-04:00"
    )


def test_calendar_days_end_at_close_of_day_whatever_holidays():
    dhaka = site("BD", "Asia/Dhaka")
    assert (
        due(dhaka, "2026-12-02T08:15+06:00", 14, DurationUnit.CALENDAR_DAYS).isoformat()
        == "2026-12-16T23:59:59+06:00"
    )


def test_shift_and_working_days_late(garment_brand):
    calendar = SiteCalendar(garment_brand.site("dhaka-knit-01"))  # six days, Friday off
    due_at = dt.datetime.fromisoformat("2026-12-14T23:59:59+06:00")  # Monday
    assert (
        calendar.shift_working_days(due_at, 3).isoformat() == "2026-12-19T23:59:59+06:00"
    )  # skips Victory Day, Friday
    assert (
        calendar.shift_working_days(due_at, -2).isoformat() == "2026-12-12T23:59:59+06:00"
    )  # Saturday works
    assert calendar.working_days_late(due_at, dt.datetime.fromisoformat("2026-12-14T23:59:59+06:00")) == 0
    assert calendar.working_days_late(due_at, dt.datetime.fromisoformat("2026-12-19T10:00+06:00")) == 3


def test_cli_deadline_prints_instant_then_reckoning(capsys):
    status = main(
        [
            "deadline",
            "--config",
            str(EXAMPLES / "garment_brand.yaml"),
            "--site",
            "dhaka-knit-01",
            "--step",
            "follow_up_visit",
            "--from",
            "2026-12-14T10:00:00+06:00",
        ]
    )
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2026-12-21T23:59:59+06:00"
    assert "  skipped 2026-12-16 Wednesday: public holiday in BD: Victory Day" in lines
    assert "  skipped 2026-12-18 Friday: not in the site's working week" in lines


def test_cli_deadline_errors_are_one_line(capsys):
    config = str(EXAMPLES / "garment_brand.yaml")
    cases = [
        (["--site", "nowhere", "--step", "closure", "--from", "2026-12-14T10:00"], "has no site 'nowhere'"),
        (["--site", "dhaka-knit-01", "--step", "lunch", "--from", "2026-12-14T10:00"], "has no step 'lunch'"),
        (
            ["--site", "dhaka-knit-01", "--step", "closure", "--from", "14/12/2026"],
            "is not an ISO 8601 date-time",
        ),
    ]
    for arguments, expected in cases:
        assert main(["deadline", "--config", config, *arguments]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err


def test_a_sites_holidays_are_the_librarys_for_its_country_and_subdivision():
    """The calendar loads the country's module alone; its holidays are those the library's lookup gives."""
    import holidays

    from remediation_flows.core.holiday_calendars import country_calendar

    for country, subdivision in (
        ("BD", None),
        ("MX", None),
        ("VN", None),
        ("EG", None),
        ("CN", None),
        ("US", "CA"),
    ):
        ours = country_calendar(country, subdivision)
        theirs = holidays.country_holidays(country, subdiv=subdivision)
        for year in (2025, 2026, 2027):
            days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(365)]
            assert [d for d in days if d in ours] == [d for d in days if d in theirs], (country, year)
            assert all(ours.get(d) == theirs.get(d) for d in days if d in theirs), (country, year)


def test_a_programme_loads_only_its_countries_holiday_modules():
    """In a fresh process (as each flow run is): the modules of the programme's two countries (its
    loading checks every site's calendar), not the library's 250."""
    import subprocess
    import sys

    probe = (
        "import sys; from remediation_flows.core.clocks import SiteCalendar; "
        "from remediation_flows.core.config import load_programme_file; "
        f"p = load_programme_file({str(EXAMPLES / 'garment_brand.yaml')!r}); "
        "SiteCalendar(p.site('dhaka-knit-01')).is_working_day(__import__('datetime').date(2026, 12, 16)); "
        "print(sorted(m for m in sys.modules if m.startswith('holidays.countries')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['holidays.countries.bangladesh', 'holidays.countries.vietnam']", loaded
