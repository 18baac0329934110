"""The bad-input suite's session summary: how many generated cases each module was given and what came back.

Each test of test_bad_input_hypothesis.py records its counts as user properties (they travel from xdist workers
to the controller with the test report); this hook adds them up at the end of the run.
"""

from __future__ import annotations

COUNTERS = ("cases", "clean", "tracebacks", "writes", "accepted", "hung", "unclear", "by_design")


def pytest_terminal_summary(terminalreporter):
    totals = dict.fromkeys(COUNTERS, 0)
    per_module = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            props = dict(getattr(report, "user_properties", ()) or ())
            if getattr(report, "when", None) != "call" or "bad_input_module" not in props:
                continue
            per_module[props["bad_input_module"]] = props
            for key in COUNTERS:
                totals[key] += int(props.get("bad_input_" + key, 0))
    if not per_module:
        return
    terminalreporter.section("bad input (generated): cases per module")
    for name in sorted(per_module):
        props = per_module[name]
        terminalreporter.write_line("%-18s %s" % (name, "  ".join(
            "%s=%s" % (key, props.get("bad_input_" + key, 0)) for key in COUNTERS)))
    terminalreporter.write_line("%-18s %s" % ("TOTAL", "  ".join("%s=%s" % (k, totals[k]) for k in COUNTERS)))
    terminalreporter.write_line("(by_design: cases that succeed on purpose, listed with their reason in "
                                "ACCEPTED_BY_DESIGN; every other case must fail cleanly, without a write)")
    for name in sorted(per_module):
        for label in per_module[name].get("bad_input_design_labels") or ():
            terminalreporter.write_line("by design: %s [%s]" % (name, label))
