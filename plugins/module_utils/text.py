# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small text helpers for messages: one line, bounded length, a number of seconds, a lenient int."""

from __future__ import annotations

import json


def clip(text, limit):
    """``text`` cut to ``limit`` characters, the cut marked with ``...`` (None: no limit)."""
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def one_line(text, limit=None):
    """``text`` (anything, through str) with every run of white space, newlines included, made one space."""
    return clip(" ".join(str(text).split()), limit)


def short(text, limit=400):
    """one_line() with a bound: for messages from the cluster (pod and event messages) quoted in a summary."""
    return one_line(text, limit)


def short_repr(value, limit=80):
    """repr() of a value, bounded."""
    return clip(repr(value), limit)


def compact_json(value, limit=300):
    """A value as compact, sorted JSON, bounded."""
    return clip(json.dumps(value, sort_keys=True, default=str), limit)


def seconds(value):
    """A number of seconds for a message: whole below 10 when whole, one decimal below 10, rounded from 10."""
    value = float(value)
    return ("%d" % round(value)) if value >= 10 or value.is_integer() else ("%.1f" % value)


def to_int(value):
    """An int of a status field that may be missing, None or not a number (then 0)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
