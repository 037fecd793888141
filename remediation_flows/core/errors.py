"""The domain's error types: one per kind of refusal, each with a message a person can act on."""


class RemediationError(Exception):
    """Base of every error the core raises on purpose."""


class IllegalTransition(RemediationError):
    """A case was asked to move to a state, or to undergo an act, its current state does not allow.

    ``reason`` says so in words ("cannot propose a plan while the case is in on-site assessment");
    without it the message names the two states.
    """

    def __init__(
        self, case_reference: str, current: str, requested: str, *, reason: str | None = None
    ) -> None:
        why = reason or f"cannot move from '{current}' to '{requested}'"
        super().__init__(f"case {case_reference}: {why}")
        self.case_reference = case_reference
        self.current = current
        self.requested = requested


class NotFound(RemediationError):
    """A referenced enterprise, site, case or milestone does not exist."""


class InvalidInput(RemediationError):
    """Input from a person (a form, a file, a command line) breaks a rule."""
