"""Public-holiday calendars by country, from the ``holidays`` package, one country's module at a time."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path

import holidays


@cache
def country_calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    """The public holidays of ``country`` (and ``subdivision``), as ``holidays.country_holidays`` gives
    them, with the same exceptions for an unknown country or subdivision; built once per pair."""
    calendar_class = country_class(country)
    if calendar_class is None:  # not in the registry: the library's own lookup says what is wrong
        return holidays.country_holidays(country, subdiv=subdivision)
    return calendar_class(subdiv=subdivision)


def country_class(country: str) -> type[holidays.HolidayBase] | None:
    """The country's holiday class, its module alone loaded, or None if the registry lacks it.

    ``holidays.country_holidays`` imports every country's module (about 250) to find one: 0.12 s of
    every flow process's first deadline, where loading the one module the site needs takes 3 ms.
    """
    from holidays.registry import COUNTRIES

    # The codes as the library's lookup takes them (its attribute names): exact, upper case.
    found = next(((module, names) for module, names in COUNTRIES.items() if country in names[1:]), None)
    if found is None:
        return None
    module_name, (class_name, *_) = found
    qualified = f"holidays.countries.{module_name}"
    module = sys.modules.get(qualified)
    if module is None:
        # Loaded by its file, not through the package: the package's __init__ imports every country.
        path = Path(holidays.__file__).parent / "countries" / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(qualified, path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[qualified]
            return None
    calendar_class: type[holidays.HolidayBase] = getattr(module, class_name)
    return calendar_class
