"""The mail transport block: where the outbox dispatcher sends email."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from remediation_flows.core.mail.transport import Security, SmtpSettings


class MailTransport(Block):
    """An SMTP server and the sender address for every email the programme sends."""

    _block_type_name = "Mail transport"
    _block_type_slug = "mail-transport"
    _description = "SMTP host, port, security, login and sender used by the outbox dispatcher."

    host: str = Field(title="SMTP host", examples=["smtp.example.org"])
    port: int = Field(default=587, ge=1, le=65535, title="Port")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        title="Security",
        description="STARTTLS (port 587), TLS (port 465) or none (local only).",
    )
    username: str | None = Field(default=None, title="User name")
    password: SecretStr | None = Field(default=None, title="Password")
    sender: str = Field(title="Sender address", examples=["Remediation programme <remediation@ngo.example>"])
    timeout_seconds: float = Field(default=30.0, gt=0, title="Timeout (seconds)")

    def settings(self) -> SmtpSettings:
        """The core's transport settings."""
        return SmtpSettings(
            host=self.host,
            port=self.port,
            sender=self.sender,
            security=Security(self.security),
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            timeout=self.timeout_seconds,
        )
