"""Prefect blocks a program manager edits in the UI's Blocks page."""

from remediation_flows.blocks.case_store import CaseStoreConnection
from remediation_flows.blocks.enterprise_programme import EnterpriseProgramme
from remediation_flows.blocks.mail_transport import MailTransport

__all__ = ["CaseStoreConnection", "EnterpriseProgramme", "MailTransport"]
