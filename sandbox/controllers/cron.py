"""Standard 5-field cron schedules (as CronJob's spec.schedule): lists, ranges, steps, month/day names,
@yearly/@monthly/@weekly/@daily/@hourly and @every <duration>. Day-of-month and day-of-week combine with OR when
both are restricted, as in Vixie cron. Day-of-week is 0-6 (Sunday is 0 only): 7 is refused, as the parser both the
Kubernetes CronJob controller and Argo's CronWorkflow controller use (robfig/cron v3, bounds 0-6) refuses it."""

from __future__ import annotations

import datetime as dt
import re

_MONTHS = {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"])}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_BOUNDS = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS)]


class CronError(ValueError):
    pass


def _field(text: str, lo: int, hi: int, names: dict) -> tuple[set[int], bool]:
    out: set[int] = set()
    star = text.startswith(("*", "?"))
    for item in text.split(","):
        part = item
        step, has_step = 1, "/" in item
        if has_step:
            part, s = item.split("/", 1)
            if not s.isdigit() or int(s) == 0:
                raise CronError(f"invalid step {s!r}")
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        else:
            def val(x: str) -> int:
                x = x.lower()
                if x in names:
                    return names[x]
                if not x.isdigit():
                    raise CronError(f"failed to parse int from {x}")
                return int(x)
            if "-" in part:
                x, y = part.split("-", 1)
                a, b = val(x), val(y)
            else:
                a = val(part)
                b = hi if has_step else a
            if a < lo or b > hi or a > b:
                raise CronError(f"end of range ({b}) above maximum ({hi}): {part}" if b > hi
                                else f"beginning of range ({a}) beyond end of range ({b}): {part}")
        out.update(range(a, b + 1, step))
    return out, star


class Schedule:
    def __init__(self, expr: str):
        expr = expr.strip()
        m = re.match(r"^(?:TZ|CRON_TZ)=\S+\s+(.*)$", expr)
        if m:
            raise CronError("CRON_TZ or TZ used in schedule is not supported, please use timeZone instead")
        self.every: float | None = None
        if expr.startswith("@every "):
            self.every = _duration(expr[len("@every "):])
            return
        expr = _MACROS.get(expr, expr)
        parts = expr.split()
        if len(parts) != 5:
            raise CronError(f"expected exactly 5 fields, found {len(parts)}: {expr}")
        fields = [_field(p, lo, hi, names) for p, (lo, hi, names) in zip(parts, _BOUNDS, strict=True)]
        (self.minutes, _), (self.hours, _), (self.dom, self.dom_star), (self.months, _), (dow, self.dow_star) = fields
        self.dow = dow

    def _day_ok(self, t: dt.datetime) -> bool:
        dom_ok = t.day in self.dom
        dow_ok = (t.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next(self, after: dt.datetime) -> dt.datetime | None:
        """The first activation strictly after `after` (aware datetime), None if none within 5 years."""
        if self.every is not None:
            return after + dt.timedelta(seconds=self.every)
        t = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = after + dt.timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
                continue
            return t
        return None


def _duration(s: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s):
        if m.start() != pos:
            raise CronError(f"invalid duration {s!r}")
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(s) or total <= 0:
        raise CronError(f"invalid duration {s!r}")
    return total
