# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ranges of the numbers the modules take (timeouts, counts, replicas), checked before any request."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

INT32_MAX = 2 ** 31 - 1  # replicas, history limits, ... are int32 fields of the Kubernetes API
# a timeout in seconds: up to a year (time.monotonic() + 10**30 would still work, but is surely a mistake)
MAX_SECONDS = 366 * 24 * 3600


def check_int(value, what, minimum=0, maximum=INT32_MAX):
    """``value`` (an int, or None for "not set") within ``minimum``..``maximum``; K8sError naming ``what``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > maximum:
        shown = str(value) if isinstance(value, int) and len(str(value)) <= 40 else type(value).__name__
        raise K8sError("%s must be a whole number from %d to %d (got %s)" % (what, minimum, maximum, shown))
    return value


def check_ints(params, ranges):
    """check_int for each ``{option: (minimum, maximum)}`` of ``ranges`` that is in ``params``."""
    for option in sorted(ranges):
        if option in params:
            minimum, maximum = ranges[option]
            check_int(params[option], option, minimum, maximum)
