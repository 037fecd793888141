"""Step 3: training for key staff and suppliers, high-risk sites first; coverage against the plan."""

from __future__ import annotations

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.store import CaseStore
from remediation_flows.flows.due_diligence.answers import TrainingAttendanceAnswer, TrainingPlanAnswer
from remediation_flows.flows.prompts import apply, ask


async def train(store: CaseStore, view: dd.CycleView) -> None:
    high = [site for site, level in view.risk_levels.items() if level == "high"]
    first = f" (high-risk sites first: {', '.join(high)})" if high else ""
    if view.training_planned is None:
        prompt = f"{view.reference}-training-plan"
        answer = await ask(
            store,
            f"Cycle {view.reference}",
            prompt,
            TrainingPlanAnswer,
            question=f"Training plan for key staff and suppliers{first}",
            asked_of="the program manager",
            due=view.due_local,
        )
        await apply(
            store,
            view.reference,
            prompt,
            answer,
            lambda: dd.plan_training(
                store,
                view.enterprise_id,
                view.year,
                answer.sessions,
                answer.planned_participants,
                answer.answered_by,
            ),
        )
        return
    prompt = f"{view.reference}-training-attendance"
    answer = await ask(
        store,
        f"Cycle {view.reference}",
        prompt,
        TrainingAttendanceAnswer,
        question=f"Training attendance ({view.training_planned} planned)",
        asked_of="the program manager",
        due=view.due_local,
    )
    await apply(
        store,
        view.reference,
        prompt,
        answer,
        lambda: dd.record_training(store, view.enterprise_id, view.year, answer.attended, answer.answered_by),
    )
