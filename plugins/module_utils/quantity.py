# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes resource quantities (``resource.Quantity``): parsing and comparison.

``parse_quantity("1.5Gi") == Decimal(1610612736)``. Binary suffixes (Ki, Mi, Gi, Ti, Pi, Ei), decimal suffixes
(n, u, m, k, M, G, T, P, E) and exponents (``1e3``, ``1E3``) are understood exactly as the API server does, so
``2Gi == 2048Mi`` and ``1G < 1Gi``. Exact arithmetic (Decimal), never floats.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18")}

# sign, number, then an exponent (e/E followed by digits) or a suffix; "1E" is exa, "1E3" is 1000.
_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$"
)


class QuantityError(K8sError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value, what="quantity"):
    """The exact value of a quantity (``str``, ``int`` or ``float``) as a Decimal; QuantityError if invalid."""
    if isinstance(value, bool) or value is None:
        raise QuantityError("%s: %r is not a Kubernetes quantity" % (what, value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(
            "%s: %r is not a Kubernetes quantity (use a number with an optional suffix: Ki, Mi, Gi, Ti, Pi, Ei "
            "(powers of 1024), k, M, G, T, P, E (powers of 1000) or m (milli), for example 10Gi or 500m)"
            % (what, value))
    try:
        number = Decimal(match.group("number"))
        if match.group("exp"):
            number = number.scaleb(int(match.group("exp")[1:]))
        suffix = match.group("suffix") or ""
        number *= BINARY[suffix] if suffix in BINARY else DECIMAL[suffix]
    except (InvalidOperation, ValueError):
        raise QuantityError("%s: %r is not a Kubernetes quantity" % (what, value)) from None
    return -number if match.group("sign") == "-" else number


def compare_quantities(a, b):
    """-1, 0 or 1 as quantity ``a`` is smaller than, equal to or larger than ``b``."""
    qa, qb = parse_quantity(a), parse_quantity(b)
    return (qa > qb) - (qa < qb)


def format_bytes(value):
    """A readable size for messages: the largest binary unit that divides the value, else bytes."""
    number = parse_quantity(value)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = BINARY[suffix]
        if number >= unit and number % unit == 0:
            return "%s%s" % (int(number / unit), suffix)
    if number == number.to_integral_value():
        return "%d bytes" % int(number)
    return "%s bytes" % number.normalize()


def validate_quantities(values, what):
    """Check every value of a mapping (quota ``hard``, LimitRange defaults); return it with string values."""
    out = {}
    for key, value in (values or {}).items():
        parse_quantity(value, "%s.%s" % (what, key))
        out[str(key)] = str(value)
    return out
