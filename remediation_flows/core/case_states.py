"""The case state machine: every state a case can be in, and every act that moves a case between them.

Each act is declared once, with its name in words and the states it may start
from and lead to; the table of allowed moves is derived from those declarations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from remediation_flows.core.errors import IllegalTransition


class CaseState(StrEnum):
    NOTIFIED = "notified"
    ON_SITE_ASSESSMENT = "on_site_assessment"
    REMEDIATION_PLAN = "remediation_plan"
    SCHOOL_REINTEGRATION = "school_reintegration"
    YOUNG_WORKER_PROTECTION = "young_worker_protection"
    MONITORING = "monitoring"
    CLOSED = "closed"
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"

    @property
    def in_words(self) -> str:
        """The state as a person says it: "on-site assessment"."""
        return _STATE_WORDS.get(self, self.value.replace("_", " "))


_STATE_WORDS = {
    CaseState.ON_SITE_ASSESSMENT: "on-site assessment",
    CaseState.YOUNG_WORKER_PROTECTION: "young-worker protection",
    CaseState.REOPENED: "re-opened",
}


@dataclass(frozen=True, init=False)
class Act:
    """One act on a case: its name in words, the states it may start from and those it may lead to."""

    name: str
    sources: frozenset[CaseState]
    targets: frozenset[CaseState]

    def __init__(self, name: str, sources: Iterable[CaseState], targets: Iterable[CaseState]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sources", frozenset(sources))
        object.__setattr__(self, "targets", frozenset(targets))

    def check_source(self, case_reference: str, current: str) -> None:
        """Raise :class:`IllegalTransition` unless the act may start from ``current``."""
        if current not in self.sources:
            raise IllegalTransition(case_reference, current, self.name, reason=self.refusal(current))

    def check_target(self, case_reference: str, current: str, requested: str) -> None:
        """Raise :class:`IllegalTransition` unless the act may lead to ``requested``."""
        if requested not in self.targets:
            raise IllegalTransition(
                case_reference,
                current,
                requested,
                reason=f"{self.name} does not lead to {_in_words(requested)}",
            )

    def refusal(self, current: str) -> str:
        """ "cannot propose a plan while the case is in on-site assessment"."""
        return f"cannot {self.name} while the case is {_where(current)}"


def _in_words(state: str) -> str:
    try:
        return CaseState(state).in_words
    except ValueError:
        return f"'{state}'"


def _where(state: str) -> str:
    """ "in monitoring" for a stage of the work, "closed" for a state a case is simply in."""
    words = _in_words(state)
    return words if state in _STATUSES else f"in {words}"


#: States that say what the case is rather than which stage of the work it is in.
_STATUSES = frozenset({CaseState.NOTIFIED, CaseState.CLOSED, CaseState.REOPENED, CaseState.WITHDRAWN})

_S = CaseState

OPEN_A_CASE = Act("open a case", [_S.NOTIFIED], [_S.ON_SITE_ASSESSMENT])
RECORD_ASSESSMENT = Act(
    "record an on-site assessment", [_S.ON_SITE_ASSESSMENT], [_S.REMEDIATION_PLAN, _S.WITHDRAWN]
)
#: With no approval configured, a proposed plan is accepted at once.
PROPOSE_PLAN = Act(
    "propose a plan", [_S.REMEDIATION_PLAN], [_S.SCHOOL_REINTEGRATION, _S.YOUNG_WORKER_PROTECTION]
)
DECIDE_PLAN = Act(
    "decide on a plan", [_S.REMEDIATION_PLAN], [_S.SCHOOL_REINTEGRATION, _S.YOUNG_WORKER_PROTECTION]
)
RECORD_REINTEGRATION = Act(
    "record a reintegration", [_S.SCHOOL_REINTEGRATION, _S.YOUNG_WORKER_PROTECTION], [_S.MONITORING]
)
#: A follow-up that finds the child at work re-opens the case.
RECORD_FOLLOW_UP = Act("record a follow-up visit", [_S.MONITORING], [_S.REOPENED])
DECIDE_CLOSURE = Act("decide on closure", [_S.MONITORING], [_S.CLOSED])
REOPEN = Act("re-open the case", [_S.MONITORING, _S.CLOSED], [_S.REOPENED])
#: A re-opened case starts a new round; the act itself goes back to planning, and the
#: state machine has always also allowed a fresh assessment.
NEW_ROUND = Act("start a new round", [_S.REOPENED], [_S.REMEDIATION_PLAN, _S.ON_SITE_ASSESSMENT])
WITHDRAW = Act("withdraw the case", [_S.NOTIFIED, _S.ON_SITE_ASSESSMENT, _S.REMEDIATION_PLAN], [_S.WITHDRAWN])

#: Every act that moves a case, in the order of the lifecycle.
ACTS: tuple[Act, ...] = (
    OPEN_A_CASE,
    RECORD_ASSESSMENT,
    PROPOSE_PLAN,
    DECIDE_PLAN,
    RECORD_REINTEGRATION,
    RECORD_FOLLOW_UP,
    DECIDE_CLOSURE,
    REOPEN,
    NEW_ROUND,
    WITHDRAW,
)


def _derive_transitions(acts: Iterable[Act]) -> dict[CaseState, frozenset[CaseState]]:
    moves: dict[CaseState, set[CaseState]] = {state: set() for state in CaseState}
    for act in acts:
        for source in act.sources:
            moves[source] |= act.targets
    return {state: frozenset(targets) for state, targets in moves.items()}


#: Every move allowed between states: derived from the acts, never written by hand.
ALLOWED_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = _derive_transitions(ACTS)

#: A case in one of these has ended: the retention of the child's identity counts from then.
ENDED_STATES = frozenset({CaseState.CLOSED, CaseState.WITHDRAWN})
#: States in which a case still needs work.
OPEN_STATES = frozenset(CaseState) - ENDED_STATES


def check_transition(case_reference: str, current: str, requested: str) -> CaseState:
    """Return ``requested`` as a state if the move is allowed; raise :class:`IllegalTransition`."""
    try:
        target = CaseState(requested)
    except ValueError:
        raise IllegalTransition(case_reference, current, requested) from None
    if target not in ALLOWED_TRANSITIONS[CaseState(current)]:
        raise IllegalTransition(case_reference, current, requested)
    return target
