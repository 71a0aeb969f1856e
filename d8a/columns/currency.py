"""Currency conversion to USD for the ``*_in_usd`` columns (reference §4.8), offline.

The ``currency_rates`` setting is read by :func:`currency_rates` into an object
with ``rate(currency) -> float | None`` (USD per one unit of ``currency``):

- a mapping such as ``{"EUR": 1.08, "GBP": 1.27}``;
- the path of a JSON file holding such a mapping;
- any object with a ``rate`` method (a host's own source, e.g. refreshed daily).

There is no network access: the original downloaded rates for seven base
currencies; here every currency the host gives a rate for works. A currency
without a rate gives NULL, never an error. :func:`to_usd` rounds half to even
on the cent, as the original does.
"""

from __future__ import annotations

import json
import math
import os
import typing as t
from collections.abc import Mapping
from typing import Any

from d8a.errors import ConfigurationError

__all__ = ["CurrencyRates", "StaticRates", "currency_rates", "to_usd"]


@t.runtime_checkable
class CurrencyRates(t.Protocol):
    """A source of exchange rates. ``rate`` must be thread-safe and do no slow I/O:
    it is called on the hot path, once per converted value."""

    def rate(self, currency: str) -> float | None:
        """USD per one unit of ``currency`` (an upper-case ISO code), or None if unknown."""


class StaticRates:
    """Fixed rates from a mapping of currency code to USD rate (codes in any case)."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self._rates = {code.upper(): float(rate) for code, rate in rates.items()}

    def rate(self, currency: str) -> float | None:
        """See :class:`CurrencyRates`."""
        return self._rates.get(currency)

    def __repr__(self) -> str:
        return f"StaticRates({self._rates!r})"


def _checked(rates: object, where: str) -> StaticRates:
    if not isinstance(rates, Mapping):
        raise ConfigurationError(f"currency_rates {where} must be a mapping of code to USD rate")
    for code, rate in rates.items():
        if not isinstance(code, str) or not code.strip():
            raise ConfigurationError(f"currency_rates {where}: {code!r} is not a currency code")
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or rate <= 0
        ):
            raise ConfigurationError(
                f"currency_rates {where}: the rate of {code} must be a positive number, "
                f"not {rate!r}"
            )
    return StaticRates(rates)


def currency_rates(value: object) -> CurrencyRates | None:
    """Read the ``currency_rates`` setting (see the module docstring); None stays None.

    Raises ConfigurationError for anything else, a missing or unreadable file, or
    a rate that is not a positive number."""
    if value is None:
        return None
    if isinstance(value, CurrencyRates) and not isinstance(value, Mapping):
        return value
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"currency_rates file {path!r}: {exc}") from None
        return _checked(data, f"file {path!r}")
    if isinstance(value, Mapping):
        return _checked(value, "mapping")
    raise ConfigurationError(
        "currency_rates must be a mapping of currency code to USD rate, the path of a "
        f"JSON file of one, or an object with rate(currency); not {value!r}"
    )


def to_usd(value: Any, currency: Any, rates: CurrencyRates | None) -> float | None:
    """``value`` in ``currency`` as USD, rounded half to even on the cent.

    None when the value or currency is missing or not a number/string, or the
    currency has no rate; a USD value is returned unchanged."""
    if not isinstance(value, float | int) or isinstance(value, bool):
        return None
    if not isinstance(currency, str) or not currency:
        return None
    code = currency.upper()
    if code == "USD":
        return float(value)
    if rates is None:
        return None
    rate = rates.rate(code)
    if rate is None:
        return None
    cents = value * rate * 100
    return round(cents) / 100 if math.isfinite(cents) else None
