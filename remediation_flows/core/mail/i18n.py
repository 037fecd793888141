"""The words of every email, per language (English, Spanish, Simplified Chinese)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "task_link": "Your personal task page (works once, only for you)",
        "instr.link_reissued": "A new personal link replaces the one sent before, which no longer works.",
        "greeting": "Hello,",
        "footer": (
            "This message was sent by the remediation programme. It names the case only by its "
            "reference; never reply with a child's personal details."
        ),
        "case": "Case reference",
        "site": "Site",
        "what": "What to do",
        "due": "Due by",
        "contact": "Contact",
        "owner": "Who must act",
        "late": "Working days overdue",
        "reason": "Reason",
        "previous_due": "Previous due date",
        "task_subject": "[{case}] Task: {title}, due {due}",
        "task_lead": "A remediation task needs your action.",
        "task_action": "Please complete it by the date above and reply to the contact when it is done.",
        "reminder_subject": "[{case}] Reminder: {title} is due {due}",
        "reminder_lead": "This is a reminder: the milestone below is due soon.",
        "due_subject": "[{case}] Due now: {title}",
        "due_lead": "The milestone below has reached its due date and is not yet done.",
        "overdue_subject": "[{case}] Overdue by {late} working day(s): {title}",
        "overdue_lead": "The milestone below is overdue and has been escalated to you.",
        "escalation_action": "Please act on it now or ask the program manager for an extension.",
        "extension_subject": "[{case}] New due date for {title}: {due}",
        "extension_lead": "The due date of the milestone below has been moved.",
        "extension_action": "Reminders and escalation now follow the new date.",
        "failed_subject": "Undelivered email: {subject}",
        "failed_lead": "An email could not be delivered after every retry.",
        "failed_action": "Please check the addresses and the mail server, then contact the recipients.",
        "unplaceable_subject": "Escalation stopped for {key}: cannot place its ladder",
        "unplaceable_lead": "The escalation sweep cannot compute this milestone's ladder, so no reminder or escalation can fire for it until this is fixed. The sweep tries again every time it runs.",
        "unplaceable_action": "Please check the enterprise's programme (its sites and steps) and register a valid version.",
        "problem": "Problem",
        "milestone": "Milestone",
        "recipients": "Recipients",
        "error": "Last error",
        "cycle": "Due-diligence cycle",
        "instr.remove_from_work": (
            "Remove the child from all work at once and keep the child in a safe place. Do not dismiss the "
            "child or family members. The case manager will carry out the on-site assessment by the due "
            "date; please cooperate with the age verification."
        ),
        "instr.on_site_assessment": (
            "Carry out the on-site assessment: verify the age discreetly, interview the child and guardian, "
            "obtain their consent and record the outcome."
        ),
        "instr.remediation_plan": (
            "Draft the remediation plan with the child, the guardian, the supplier and the school, "
            "and submit it for approval."
        ),
        "instr.review_plan": (
            "Review the proposed remediation plan ({pathway}; monthly stipend {stipend}; "
            "school fees {fees}; paid by {payer}) and record your decision."
        ),
        "instr.school_reintegration": (
            "Confirm the child's enrolment ({pathway}) and send the enrolment letter to the case manager. "
            "The monthly stipend of {stipend} is asked of its payer month by month, each payment confirmed "
            "with its reference."
        ),
        "instr.young_worker_protection": (
            "Move the young worker out of hazardous tasks, end night shifts and cut working hours to the "
            "legal limit; confirm each measure to the case manager."
        ),
        "instr.follow_up_visit": (
            "Carry out follow-up visit {number}: check school attendance, the stipend payments and that "
            "the child has not returned to work."
        ),
        "instr.stipend_payment": (
            "Pay {title} of {amount} to the family by the date above, then confirm the payment with its "
            "amount, date and reference (bank transfer, mobile money or receipt number)."
        ),
        "instr.closure": "Review the case for closure and record your decision.",
        "instr.back_at_work": (
            "The child was found working again at a follow-up visit. The case is re-opened and a new "
            "remediation plan is due."
        ),
        "instr.plan_rejected": "The remediation plan was not approved ({comment}). Please revise and resubmit it.",
        "instr.due_diligence": "Carry out this step of the {year} child-labour due-diligence cycle and record it in the programme.",
        "instr.site_reassessment": "A new case was opened at site {site}: reassess the site's child-labour risk.",
        "role.enterprise_focal_point": "enterprise focal point",
        "role.enterprise_leadership": "enterprise leadership",
        "role.program_manager": "program manager",
        "role.case_manager": "case manager",
        "role.supervisor": "supervisor",
        "role.director": "director",
    },
    "es": {
        "task_link": "Su página de tarea personal (funciona una vez, solo para usted)",
        "instr.link_reissued": "Un nuevo enlace personal reemplaza al enviado antes, que ya no funciona.",
        "greeting": "Hola:",
        "footer": (
            "Este mensaje lo envía el programa de remediación. Nombra el caso solo por su referencia; "
            "nunca responda con datos personales de un niño o niña."
        ),
        "case": "Referencia del caso",
        "site": "Centro de trabajo",
        "what": "Qué hacer",
        "due": "Fecha límite",
        "contact": "Contacto",
        "owner": "Quién debe actuar",
        "late": "Días hábiles de retraso",
        "reason": "Motivo",
        "previous_due": "Fecha límite anterior",
        "task_subject": "[{case}] Tarea: {title}, vence el {due}",
        "task_lead": "Una tarea de remediación requiere su acción.",
        "task_action": "Complétela antes de la fecha indicada y avise al contacto cuando esté hecha.",
        "reminder_subject": "[{case}] Recordatorio: {title} vence el {due}",
        "reminder_lead": "Recordatorio: el hito siguiente vence pronto.",
        "due_subject": "[{case}] Vence hoy: {title}",
        "due_lead": "El hito siguiente ha llegado a su fecha límite y aún no está cumplido.",
        "overdue_subject": "[{case}] Retraso de {late} día(s) hábil(es): {title}",
        "overdue_lead": "El hito siguiente está vencido y se le ha escalado.",
        "escalation_action": "Actúe ahora o solicite una prórroga a la gerencia del programa.",
        "extension_subject": "[{case}] Nueva fecha límite para {title}: {due}",
        "extension_lead": "Se ha cambiado la fecha límite del hito siguiente.",
        "extension_action": "Los recordatorios y escalamientos siguen ahora la nueva fecha.",
        "failed_subject": "Correo no entregado: {subject}",
        "failed_lead": "Un correo no pudo entregarse tras todos los reintentos.",
        "failed_action": "Revise las direcciones y el servidor de correo, y contacte a los destinatarios.",
        "unplaceable_subject": "Escalamiento detenido para {key}: no se puede calcular su escalera",
        "unplaceable_lead": "El barrido de escalamiento no puede calcular la escalera de este hito, así que ningún recordatorio ni escalamiento puede dispararse hasta que se corrija. El barrido lo vuelve a intentar cada vez que se ejecuta.",
        "unplaceable_action": "Revise el programa de la empresa (sus sitios y pasos) y registre una versión válida.",
        "problem": "Problema",
        "milestone": "Hito",
        "recipients": "Destinatarios",
        "error": "Último error",
        "cycle": "Ciclo de debida diligencia",
        "instr.remove_from_work": (
            "Retire de inmediato al niño o niña de todo trabajo y manténgalo en un lugar seguro. No despida "
            "al niño ni a sus familiares. La persona gestora del caso realizará la evaluación en el lugar "
            "antes de la fecha límite; colabore con la verificación de edad."
        ),
        "instr.on_site_assessment": (
            "Realice la evaluación en el lugar: verifique la edad con discreción, entreviste al niño o niña "
            "y a su tutor, obtenga su consentimiento y registre el resultado."
        ),
        "instr.remediation_plan": (
            "Elabore el plan de remediación con el niño o niña, su tutor, el proveedor y la escuela, "
            "y preséntelo para su aprobación."
        ),
        "instr.review_plan": (
            "Revise el plan de remediación propuesto ({pathway}; estipendio mensual {stipend}; "
            "cuotas escolares {fees}; pagado por {payer}) y registre su decisión."
        ),
        "instr.school_reintegration": (
            "Confirme la inscripción ({pathway}) y envíe la constancia de inscripción a la persona gestora "
            "del caso. El estipendio mensual de {stipend} se pide a quien lo paga mes a mes, y cada pago "
            "se confirma con su referencia."
        ),
        "instr.young_worker_protection": (
            "Retire a la persona trabajadora joven de tareas peligrosas, elimine los turnos nocturnos y "
            "reduzca la jornada al límite legal; confirme cada medida a la persona gestora del caso."
        ),
        "instr.follow_up_visit": (
            "Realice la visita de seguimiento {number}: compruebe la asistencia escolar, el pago del "
            "estipendio y que el niño o niña no haya vuelto a trabajar."
        ),
        "instr.stipend_payment": (
            "Pague {title} de {amount} a la familia antes de la fecha indicada y confirme el pago con su "
            "importe, fecha y referencia (transferencia bancaria, dinero móvil o número de recibo)."
        ),
        "instr.closure": "Revise el caso para su cierre y registre su decisión.",
        "instr.back_at_work": (
            "En una visita de seguimiento se encontró al niño o niña trabajando de nuevo. El caso se reabre "
            "y se requiere un nuevo plan de remediación."
        ),
        "instr.plan_rejected": "El plan de remediación no fue aprobado ({comment}). Revíselo y preséntelo de nuevo.",
        "instr.due_diligence": "Realice este paso del ciclo {year} de debida diligencia sobre trabajo infantil y regístrelo en el programa.",
        "instr.site_reassessment": "Se abrió un caso nuevo en el sitio {site}: vuelva a evaluar su riesgo de trabajo infantil.",
        "role.enterprise_focal_point": "punto focal de la empresa",
        "role.enterprise_leadership": "dirección de la empresa",
        "role.program_manager": "gerencia del programa",
        "role.case_manager": "gestor(a) del caso",
        "role.supervisor": "supervisión",
        "role.director": "dirección",
    },
    "zh": {
        "task_link": "您的个人任务页面（仅限您本人，仅可使用一次）",
        "instr.link_reissued": "新的个人链接取代之前发送的链接，旧链接已失效。",
        "greeting": "您好：",
        "footer": "本邮件由补救项目发送，仅以案例编号指代案例；请勿在回复中提供儿童的个人信息。",
        "case": "案例编号",
        "site": "工作地点",
        "what": "需要完成的工作",
        "due": "截止时间",
        "contact": "联系人",
        "owner": "负责角色",
        "late": "逾期工作日",
        "reason": "原因",
        "previous_due": "原截止时间",
        "task_subject": "[{case}] 任务：{title}，截止 {due}",
        "task_lead": "有一项补救任务需要您处理。",
        "task_action": "请在上述时间前完成，并在完成后告知联系人。",
        "reminder_subject": "[{case}] 提醒：{title} 将于 {due} 到期",
        "reminder_lead": "提醒：以下事项即将到期。",
        "due_subject": "[{case}] 今日到期：{title}",
        "due_lead": "以下事项已到截止时间，尚未完成。",
        "overdue_subject": "[{case}] 已逾期 {late} 个工作日：{title}",
        "overdue_lead": "以下事项已逾期，现升级至您处理。",
        "escalation_action": "请立即处理，或向项目经理申请延期。",
        "extension_subject": "[{case}] {title} 新截止时间：{due}",
        "extension_lead": "以下事项的截止时间已调整。",
        "extension_action": "提醒和升级将按新的截止时间进行。",
        "failed_subject": "邮件未能送达：{subject}",
        "failed_lead": "一封邮件在多次重试后仍未能送达。",
        "failed_action": "请检查收件地址和邮件服务器，并联系收件人。",
        "unplaceable_subject": "{key} 的升级已停止：无法计算其升级阶梯",
        "unplaceable_lead": "升级巡检无法计算此里程碑的升级阶梯，在修正之前不会发出任何提醒或升级。巡检每次运行时都会重试。",
        "unplaceable_action": "请检查企业的项目配置（站点和步骤），并登记一个有效的版本。",
        "problem": "问题",
        "milestone": "里程碑",
        "recipients": "收件人",
        "error": "最后错误",
        "cycle": "尽职调查周期",
        "instr.remove_from_work": (
            "请立即让该儿童停止一切工作并安置在安全的地方。不得解雇该儿童或其家庭成员。"
            "个案经理将在截止时间前完成现场评估，请配合年龄核实。"
        ),
        "instr.on_site_assessment": "请完成现场评估：谨慎核实年龄，访谈儿童及监护人，取得同意并记录结果。",
        "instr.remediation_plan": "请与儿童、监护人、供应商和学校共同制定补救计划，并提交审批。",
        "instr.review_plan": (
            "请审阅补救计划（{pathway}；每月生活补助 {stipend}；学费 {fees}；"
            "支付方：{payer}）并记录您的决定。"
        ),
        "instr.school_reintegration": (
            "请确认入学（{pathway}）并将入学证明发送给个案经理。每月生活补助 {stipend} 将按月向支付方催缴，"
            "每笔付款须附参考号确认。"
        ),
        "instr.young_worker_protection": "请让未成年工脱离危险作业，停止夜班，并将工时减至法定上限；逐项向个案经理确认。",
        "instr.follow_up_visit": "请完成第 {number} 次跟进探访：核查上学情况、补助发放情况以及儿童是否重返工作。",
        "instr.stipend_payment": (
            "请在上述日期前向家庭支付{title}（{amount}），并确认付款的金额、日期和参考号（银行转账、移动支付或收据编号）。"
        ),
        "instr.closure": "请审核该案例是否可以结案并记录您的决定。",
        "instr.back_at_work": "跟进探访发现该儿童再次工作。案例已重新开启，需要制定新的补救计划。",
        "instr.plan_rejected": "补救计划未获批准（{comment}）。请修改后重新提交。",
        "instr.due_diligence": "请完成 {year} 年度童工尽职调查周期的这一步骤，并在项目中记录。",
        "instr.site_reassessment": "场所 {site} 新开了一个个案：请重新评估该场所的童工风险。",
        "role.enterprise_focal_point": "企业联络人",
        "role.enterprise_leadership": "企业管理层",
        "role.program_manager": "项目经理",
        "role.case_manager": "个案经理",
        "role.supervisor": "主管",
        "role.director": "总监",
    },
}

STEP_TITLES: dict[str, dict[str, str]] = {
    "en": {
        "on_site_assessment": "On-site assessment",
        "remediation_plan": "Remediation plan",
        "school_reintegration": "School reintegration",
        "young_worker_protection": "Young-worker protection",
        "follow_up_visit": "Follow-up visit",
        "stipend_payment": "Stipend payment",
        "stipend": "Monthly stipend",
        "interim_support": "Interim support",
        "closure": "Case closure",
        "risk_assessment": "Risk assessment",
        "policies_and_procedures": "Policies and procedures",
        "training": "Training and capacity building",
        "monitoring": "Monitoring",
        "communication": "Annual due-diligence report",
    },
    "es": {
        "on_site_assessment": "Evaluación en el lugar",
        "remediation_plan": "Plan de remediación",
        "school_reintegration": "Reintegración escolar",
        "young_worker_protection": "Protección de trabajador(a) joven",
        "follow_up_visit": "Visita de seguimiento",
        "stipend_payment": "Pago del estipendio",
        "stipend": "Estipendio mensual",
        "interim_support": "Apoyo provisional",
        "closure": "Cierre del caso",
        "risk_assessment": "Evaluación de riesgos",
        "policies_and_procedures": "Políticas y procedimientos",
        "training": "Formación y fortalecimiento de capacidades",
        "monitoring": "Monitoreo",
        "communication": "Informe anual de debida diligencia",
    },
    "zh": {
        "on_site_assessment": "现场评估",
        "remediation_plan": "补救计划",
        "school_reintegration": "重返校园",
        "young_worker_protection": "未成年工保护",
        "follow_up_visit": "跟进探访",
        "stipend_payment": "生活补助发放",
        "stipend": "每月生活补助",
        "interim_support": "过渡期生活支持",
        "closure": "结案",
        "risk_assessment": "风险评估",
        "policies_and_procedures": "政策与程序",
        "training": "培训与能力建设",
        "monitoring": "监测",
        "communication": "年度尽职调查报告",
    },
}


def words(language: str) -> dict[str, str]:
    """The strings of ``language``, falling back to English for any missing one."""
    return STRINGS["en"] | STRINGS.get(language, {})


def step_title(language: str, step: str) -> str:
    """The step's name in ``language``; unknown steps show their identifier."""
    return STEP_TITLES.get(language, {}).get(step) or STEP_TITLES["en"].get(step, step)
