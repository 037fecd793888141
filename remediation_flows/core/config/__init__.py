"""Enterprise programme configuration: the schema-validated YAML document and its typed form."""

from remediation_flows.core.config.loader import (
    ConfigInvalid,
    ConfigProblem,
    load_programme_document,
    load_programme_file,
)
from remediation_flows.core.config.model import Duration, DurationUnit, Programme, Role, Site, StepRule

__all__ = [
    "ConfigInvalid",
    "ConfigProblem",
    "Duration",
    "DurationUnit",
    "Programme",
    "Role",
    "Site",
    "StepRule",
    "load_programme_document",
    "load_programme_file",
]
