"""What is allowed to differ, and what is known to be wrong.

ACCEPTED: a difference that is deliberate, matched by scenario id and difference path (fnmatch patterns), with
the reason. `only_missing=True`: accepted only where the emulator lacks the field / entry entirely (a built-in it
does not serve), never where it serves it differently.

KNOWN_WRONG: scenarios whose unaccepted differences are emulator bugs not fixed yet: the test is
xfail(strict=True), so fixing the emulator turns it into an XPASS failure until the entry is removed.
"""

from __future__ import annotations

from fid_harness import Accepted

ACCEPTED: list[Accepted] = [
]

KNOWN_WRONG: dict[str, str] = {
}
