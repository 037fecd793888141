"""Load and validate enterprise programme documents.

Validation runs in two passes and reports every problem at once: the JSON
Schema (the contract a person can read), then the cross-field rules a schema
cannot express (roles with no contact, unknown time zones, ladder order...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator, ValidationError

from remediation_flows.core.config.bounded_yaml import load_bounded
from remediation_flows.core.config.minimum_age import NATIONAL_MINIMUM_AGES
from remediation_flows.core.config.model import (
    DEFAULT_IDENTITY_RETENTION_MONTHS,
    WEEKDAY_NUMBERS,
    ApprovalPolicy,
    Closure,
    DueDiligenceRule,
    Duration,
    DurationUnit,
    LadderLevel,
    MonitoringRule,
    Person,
    Programme,
    RegimeSetting,
    Role,
    Site,
    StepRule,
    StipendRule,
)
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.holiday_calendars import country_calendar
from remediation_flows.core.resources import schemas_dir
from remediation_flows.core.untrusted_input import (
    EXCERPT_CHARS,
    UnreadableInput,
    describe,
    excerpt,
    read_utf8_file,
    shorten_message,
)

PROGRAMME_SCHEMA = "enterprise_programme.schema.json"
#: A programme of a few hundred sites is some 100 KB; ten times the largest we have measured (5 MB).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class ConfigProblem:
    """One broken rule: where (file and JSON path) and what."""

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {shorten_message(self.path, 120)}: {shorten_message(self.message)}"


class ConfigInvalid(RemediationError):
    """A programme document breaks one or more rules; ``problems`` lists them all."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema document called ``name``, from schemas/ (in the checkout, or the installed package)."""
    schema: dict[str, Any] = json.loads((schemas_dir() / name).read_text(encoding="utf-8"))
    return schema


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text, dates left as text; a syntax error, or a document that nests too deep or
    whose aliases expand too far, becomes a :class:`ConfigInvalid` naming line and column."""
    try:
        return load_bounded(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigInvalid(
            [ConfigProblem(source, "$", f"YAML does not parse at {where}: {problem}")]
        ) from None


def read_yaml_file(path: str | Path) -> Any:
    """The YAML document in a file; :class:`ConfigInvalid` names the file when it cannot be read,
    is larger than :data:`MAX_DOCUMENT_BYTES`, is not UTF-8 (with the byte offset) or does not parse."""
    path = Path(path)
    try:
        text = read_utf8_file(path, MAX_DOCUMENT_BYTES)
    except UnreadableInput as error:
        raise ConfigInvalid([ConfigProblem(error.source, "$", error.reason)]) from None
    return parse_yaml(text, str(path))


def load_programme_file(path: str | Path) -> Programme:
    """Read, validate and build the programme in a YAML file."""
    return load_programme_document(read_yaml_file(path), str(path))


def load_programme_document(
    document: Any, source: str = "<document>", *, check_calendars: bool = True
) -> Programme:
    """Validate a parsed programme document and build the typed :class:`Programme`.

    ``check_calendars=False`` skips asking the holidays package for each site's calendar, for a
    document checked so when it was registered: the question imports every country's calendar
    module (half a second), which a flow's process, new at every step of a case, would pay again.
    """
    if not isinstance(document, dict):
        sections = ", ".join(load_schema(PROGRAMME_SCHEMA)["required"])
        raise ConfigInvalid(
            [
                ConfigProblem(
                    source,
                    "$",
                    f"expected a mapping with the sections {sections}; found {describe(document)}",
                )
            ]
        )
    problems = schema_problems(document, PROGRAMME_SCHEMA, source)
    if not problems:
        problems = _cross_field_problems(document, source, check_calendars)
    if problems:
        raise ConfigInvalid(problems)
    return _build(document)


@cache
def _validators(schema_name: str) -> tuple[Callable[[Any], bool], Draft202012Validator]:
    schema = load_schema(schema_name)
    return jsonschema_rs.validator_for(schema).is_valid, Draft202012Validator(schema)


def schema_errors(document: Any, schema_name: str) -> list[ValidationError]:
    """Every JSON Schema violation of ``document`` (none when it is valid).

    The compiled validator (jsonschema-rs) answers whether there is any, a hundred times faster;
    only then does the Python one list them, so that messages and paths read as they always have.
    The Python validator has the last word: where the two disagree on an edge (say, ``\\d`` and
    non-ASCII digits), what it finds is what is reported.
    """
    is_valid, validator = _validators(schema_name)
    if is_valid(document):
        return []
    return list(validator.iter_errors(document))


def schema_problems(document: Any, schema_name: str, source: str) -> list[ConfigProblem]:
    """Every JSON Schema violation of ``document``, in document order, each naming its rule."""
    problems = []
    for error in sorted(schema_errors(document, schema_name), key=lambda e: list(map(str, e.path))):
        problems.append(
            ConfigProblem(source, error.json_path, f"{schema_message(error)} (rule: {error.validator})")
        )
    return problems


def schema_message(error: ValidationError, withheld: bool = False) -> str:
    """The schema's message for ``error``, quoting at most an excerpt of the value it is about.

    jsonschema quotes the whole value, which for a large one is a large line; ``withheld``
    leaves the value out altogether (a child's name or birth date).
    """
    message = error.message
    if withheld or len(message) > EXCERPT_CHARS * 2:
        quoted = repr(error.instance)
        if quoted in message:
            message = message.replace(quoted, "the value" if withheld else excerpt(error.instance), 1)
    return shorten_message(message)


def _cross_field_problems(
    doc: dict[str, Any], source: str, check_calendars: bool = True
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def problem(path: str, message: str) -> None:
        problems.append(ConfigProblem(source, path, message))

    contact_roles = set(doc["contacts"])
    overrides = doc.get("minimum_working_age", {})
    seen_sites: dict[str, int] = {}
    for index, site in enumerate(doc["sites"]):
        path = f"$.sites[{index}]"
        if site["id"] in seen_sites:
            problem(
                f"{path}.id", f"duplicate site id '{site['id']}' (first at $.sites[{seen_sites[site['id']]}])"
            )
        seen_sites.setdefault(site["id"], index)
        try:
            ZoneInfo(site["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            problem(
                f"{path}.time_zone",
                f"unknown time zone '{site['time_zone']}' (use an IANA name such as Asia/Dhaka)",
            )
        country = site["country"]
        if country not in overrides and country not in NATIONAL_MINIMUM_AGES:
            problem(
                f"{path}.country",
                f"no minimum working age for country '{country}': add it under $.minimum_working_age",
            )
        calendar_problem = (
            _holiday_calendar_problem(country, site.get("subdivision")) if check_calendars else None
        )
        if calendar_problem is not None:
            problem(f"{path}.{calendar_problem[0]}", calendar_problem[1])
        for closure_index, closure in enumerate(site.get("closure_days", [])):
            closure_path = f"{path}.closure_days[{closure_index}]"
            first = _parse_date(closure["from"], f"{closure_path}.from", problem)
            last = _parse_date(closure.get("to", closure["from"]), f"{closure_path}.to", problem)
            if first and last and last < first:
                problem(f"{closure_path}.to", f"closure ends ({last}) before it starts ({first})")

    ladders = doc.get("escalation_ladders", {})
    for name, ladder in ladders.items():
        _check_ladder(ladder, f"$.escalation_ladders.{name}", contact_roles, problem)

    for section in ("remediation", "due_diligence"):
        for step_name, step in doc[section]["steps"].items():
            path = f"$.{section}.steps.{step_name}"
            for role_path, role in [(f"{path}.owner", step["owner"])] + [
                (f"{path}.approval[{i}]", r) for i, r in enumerate(step.get("approval", []))
            ]:
                if role not in contact_roles:
                    problem(role_path, f"role '{role}' has no contact under $.contacts")
            escalation = step.get("escalation", "default")
            if isinstance(escalation, str):
                if escalation not in ladders:
                    problem(
                        f"{path}.escalation",
                        f"no escalation ladder named '{escalation}' under $.escalation_ladders",
                    )
            else:
                _check_ladder(escalation, f"{path}.escalation", contact_roles, problem)
    return problems


@cache
def _holiday_calendar_problem(country: str, subdivision: str | None) -> tuple[str, str] | None:
    """What is wrong with the site's holiday calendar, as (field, message); asked once per pair,
    since a programme of thousands of sites has a handful of countries."""
    try:
        country_calendar(country, subdivision)
    except NotImplementedError:
        return "country", f"no public-holiday calendar for country '{country}'"
    except Exception as error:  # the holidays package raises a bare exception for a bad subdivision
        return "subdivision", str(error)
    return None


def _check_ladder(ladder: list[dict[str, Any]], path: str, contact_roles: set[str], problem: Any) -> None:
    previous: int | None = None
    for index, level in enumerate(ladder):
        offset = level["offset_working_days"]
        if previous is not None and offset <= previous:
            problem(
                f"{path}[{index}].offset_working_days",
                f"ladder offsets must increase: {offset} follows {previous}",
            )
        previous = offset
        for role_index, role in enumerate(level["notify"]):
            if role not in contact_roles:
                problem(
                    f"{path}[{index}].notify[{role_index}]", f"role '{role}' has no contact under $.contacts"
                )


def _parse_date(text: str, path: str, problem: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problem(path, f"'{text}' is not a calendar date")
        return None


def _duration(raw: dict[str, Any]) -> Duration:
    return Duration(raw["amount"], DurationUnit(raw["unit"]))


def _ladder(raw: list[dict[str, Any]]) -> tuple[LadderLevel, ...]:
    return tuple(
        LadderLevel(level["name"], level["offset_working_days"], tuple(Role(r) for r in level["notify"]))
        for level in raw
    )


def _steps(raw_steps: dict[str, Any], ladders: dict[str, Any]) -> dict[str, StepRule]:
    steps = {}
    for name, raw in raw_steps.items():
        escalation = raw.get("escalation", "default")
        ladder = ladders[escalation] if isinstance(escalation, str) else escalation
        steps[name] = StepRule(
            step=name,
            deadline=_duration(raw["deadline"]),
            owner=Role(raw["owner"]),
            approval=tuple(Role(r) for r in raw.get("approval", [])),
            ladder=_ladder(ladder),
            approval_policy=ApprovalPolicy(**raw.get("approval_policy", {})),
        )
    return steps


def _with_payment_step(steps: dict[str, StepRule]) -> dict[str, StepRule]:
    """The steps, with ``stipend_payment`` added when the programme names none.

    A payment is the enterprise's task like enrolment: by default its payer is the enterprise
    focal point and its ladder that of school reintegration. Its deadline is never reckoned (a
    payment is due on the programme's payment day), so the reintegration's stands in.
    """
    if "stipend_payment" in steps:
        return steps
    reintegration = steps["school_reintegration"]
    return steps | {
        "stipend_payment": StepRule(
            step="stipend_payment",
            deadline=reintegration.deadline,
            owner=Role.ENTERPRISE_FOCAL_POINT,
            approval=(),
            ladder=reintegration.ladder,
        )
    }


def _people_by_role(raw: dict[str, Any]) -> dict[Role, tuple[Person, ...]]:
    return {
        Role(role): tuple(Person(p["name"], p["email"], p.get("language")) for p in people)
        for role, people in raw.items()
    }


def _build(doc: dict[str, Any]) -> Programme:
    sites = {}
    for raw in doc["sites"]:
        week = raw.get("working_week")
        sites[raw["id"]] = Site(
            id=raw["id"],
            name=raw["name"],
            country=raw["country"],
            time_zone=raw["time_zone"],
            subdivision=raw.get("subdivision"),
            kind=raw.get("kind"),
            working_week=frozenset(WEEKDAY_NUMBERS[d] for d in week) if week else None,
            closures=tuple(
                Closure(
                    dt.date.fromisoformat(c["from"]),
                    dt.date.fromisoformat(c.get("to", c["from"])),
                    c["reason"],
                )
                for c in raw.get("closure_days", [])
            ),
            contacts=_people_by_role(raw.get("contacts", {})),
            language=raw.get("language"),
        )
    # The cross-field pass has made sure every site's country has an age.
    minimum_age = {
        site.country: NATIONAL_MINIMUM_AGES[site.country].age
        for site in sites.values()
        if site.country in NATIONAL_MINIMUM_AGES
    } | dict(doc.get("minimum_working_age", {}))
    ladders = doc.get("escalation_ladders", {})
    monitoring = doc["remediation"]["monitoring"]
    dd = doc["due_diligence"]
    enterprise = doc["enterprise"]
    return Programme(
        enterprise_id=enterprise["id"],
        name=enterprise["name"],
        language=enterprise["language"],
        sector=enterprise.get("sector"),
        financial_year_end=enterprise.get("financial_year_end"),
        contacts=_people_by_role(doc["contacts"]),
        sites=sites,
        minimum_working_age=minimum_age,
        remediation_steps=_with_payment_step(_steps(doc["remediation"]["steps"], ladders)),
        monitoring=MonitoringRule(
            follow_up_offsets=tuple(_duration(d) for d in monitoring["follow_up_offsets"]),
            repeat_every=_duration(monitoring["repeat_every"]) if "repeat_every" in monitoring else None,
            until_minimum_working_age=monitoring.get("until_minimum_working_age", True),
            max_visits=monitoring.get("max_visits"),
        ),
        due_diligence=DueDiligenceRule(
            cycle_start_month=dd["cycle_start_month"],
            risk_assessment_every_months=dd.get("risk_assessment_every_months", 12),
            policy_review_every_months=dd.get("policy_review_every_months", 24),
            report_due_months_after_year_end=dd.get("report_due_months_after_year_end", 4),
            steps=_steps(dd["steps"], ladders),
            legal_regimes=tuple(
                RegimeSetting(
                    regime=setting["regime"],
                    assessment_every_months=setting.get("assessment_every_months"),
                    annual_report=setting.get("annual_report"),
                    report_due_months_after_year_end=setting.get("report_due_months_after_year_end"),
                )
                for setting in dd.get("legal_regimes", ())
            ),
            reassess_site_on_new_case=dd.get("reassess_site_on_new_case", False),
        ),
        identity_retention_months=doc.get("retention", {}).get(
            "identity_months", DEFAULT_IDENTITY_RETENTION_MONTHS
        ),
        stipends=StipendRule(**doc["remediation"].get("stipends", {})),
        document=doc,
        fingerprint=hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest(),
    )
