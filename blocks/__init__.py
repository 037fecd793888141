"""Prefect blocks a program manager edits in the UI's Blocks page."""

from blocks.case_store import CaseStoreConnection
from blocks.enterprise_programme import EnterpriseProgramme
from blocks.mail_transport import MailTransport

__all__ = ["CaseStoreConnection", "EnterpriseProgramme", "MailTransport"]
