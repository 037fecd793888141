"""Amounts of money: decimals in a currency's minor units, shown in the reader's locale.

Every email, artifact and page that shows an amount formats it here, so that the same stipend
reads the same everywhere ("BDT8,000.00" in English, "8.000,00 BDT" in Spanish), never a float's
"8000.0". Amounts are :class:`~decimal.Decimal` from the form to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.core import UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision

from remediation_flows.core.errors import InvalidInput


def minor_units(currency: str) -> int:
    """How many decimals the currency counts in (2 for BDT and MXN, 0 for VND), from CLDR."""
    return get_currency_precision(currency.upper())


def as_amount(value: Decimal | int | float | str, currency: str, what: str) -> Decimal:
    """``value`` as a non-negative decimal in the currency's minor units; ``what`` names it if refused.

    A float is read through its shortest text (1500.1 is 1500.10, not 1500.0999...).
    """
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InvalidInput(f"{what} '{value}' is not an amount") from None
    if not amount.is_finite():
        raise InvalidInput(f"{what} '{value}' is not an amount")
    if amount < 0:
        raise InvalidInput(f"{what} must not be negative (got {amount})")
    unit = Decimal(1).scaleb(-minor_units(currency))
    rounded = amount.quantize(unit, rounding=ROUND_HALF_EVEN)
    if rounded != amount:
        raise InvalidInput(f"{what} {amount} has more decimals than {currency.upper()} counts ({unit})")
    return rounded


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """The amount with its currency as a reader of ``language`` writes it (CLDR, via Babel)."""
    code = currency.upper()
    try:
        return format_currency(amount, code, locale=language, currency_digits=True)
    except UnknownLocaleError:
        return format_currency(amount, code, locale="en", currency_digits=True)


@dataclass(frozen=True)
class Money:
    """An amount in a currency, put into a message as it is and worded in each reader's locale."""

    amount: Decimal
    currency: str

    def in_language(self, language: str) -> str:
        """The amount with its currency as a reader of ``language`` writes it."""
        return format_money(self.amount, self.currency, language)
