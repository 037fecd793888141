"""Prefect blocks a program manager edits in the UI's Blocks page."""

from remediation.blocks.case_store import CaseStoreConnection
from remediation.blocks.enterprise_programme import EnterpriseProgramme
from remediation.blocks.mail_transport import MailTransport

__all__ = ["CaseStoreConnection", "EnterpriseProgramme", "MailTransport"]
