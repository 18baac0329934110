"""The benchmarks' pictures, from the JSON results they write in ``benchmarks/results/`` (Agg backend, PNG):

* ``scaling.png``: seconds against the number of objects: ``bulk_apply.json`` (N mixed objects, mlops.k8s apply
  against kubectl apply --server-side) and ``seldon_scale.json`` (N SeldonDeployments each waited Available,
  mlops.k8s against kubernetes.core), the sizes on a log scale, one panel each;
* ``predict_latency.png``: ``predict.json``, the histogram of one batch's per-request latencies with its p50, p95
  and p99, and the percentiles the ``mlops.k8s.model_predict`` task returned for its batch.

A missing JSON file leaves its panel out (and says so). Run: ``.venv/bin/python benchmarks/plot.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COLORS = {"mlops.k8s": "tab:blue", "kubectl": "tab:gray", "kubernetes.core": "tab:orange"}


def load(name: str) -> dict | None:
    path = RESULTS / name
    if not path.exists():
        print("plot: %s not found, its picture is left out" % path, file=sys.stderr)
        return None
    return json.loads(path.read_text())


def curve(ax, rows: list[dict], key: str, label_of, xlabel: str, title: str, note: str = "") -> None:
    measured = [r for r in rows if r.get(key) == r.get(key)]  # leaves out missing values and NaN
    highest = {}  # x -> the largest value there: its label goes above the point, the others' below
    for r in measured:
        highest[r["n"]] = max(highest.get(r["n"], r[key]), r[key])
    for side in sorted({r["side"] for r in rows}):
        pts = sorted((r["n"], r[key]) for r in measured if r["side"] == side)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=COLORS.get(side), label=label_of(side))
            for x, y in pts:
                ax.annotate("%.1f" % y, (x, y), textcoords="offset points", xytext=(4, 5 if y >= highest[x] else -12),
                            fontsize=7, color=COLORS.get(side))
    if note:
        ax.text(0.02, 0.02, note, transform=ax.transAxes, fontsize=7, va="bottom")
    ax.set_xscale("log")
    sizes = sorted({r["n"] for r in rows})
    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: "%g" % v))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds (ansible-playbook / kubectl wall time)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def scaling() -> Path | None:
    bulk, sdeps = load("bulk_apply.json"), load("seldon_scale.json")
    panels = [p for p in (bulk, sdeps) if p]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    i = 0
    if bulk:
        curve(axes[0][i], bulk["rows"], "apply",
              lambda s: "mlops.k8s.apply (one task)" if s == "mlops.k8s" else "kubectl apply --server-side",
              "objects applied", "Bulk apply of N mixed objects (%s, %d cores)" % (bulk["date"], bulk["cores"]))
        i += 1
    if sdeps:
        curve(axes[0][i], sdeps["rows"], "wall",
              lambda s: ("mlops.k8s.apply, wait (one watch)" if s == "mlops.k8s"
                         else "kubernetes.core.k8s + k8s_info until (delay %ss)" % sdeps.get("delay")),
              "SeldonDeployments, each waited Available",
              "N SeldonDeployments in one play (%s, %d cores)" % (sdeps["date"], sdeps["machine"]["cores"]),
              note="\n".join(sorted({"not run: %d: %s" % (s["n"], s["why"].split(" (")[0])
                                     for s in sdeps.get("skipped") or []})))
    fig.tight_layout()
    path = RESULTS / "scaling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency() -> Path | None:
    data = load("predict.json")
    if not data:
        return None
    values = data["latencies_ms"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.hist(values, bins=60, color="tab:blue", alpha=0.75,
            label="%d requests of predict_batch.run (each latency)" % len(values))
    styles = {"p50": "-", "p95": "--", "p99": ":"}
    for pct, style in styles.items():
        v = data["batch"]["latency_ms"].get(pct)
        if v is not None:
            ax.axvline(v, color="black", linestyle=style, linewidth=1, label="%s %.1f ms" % (pct, v))
    task = data["task"].get("latency_ms") or {}
    for pct, style in styles.items():
        v = task.get(pct)
        if v is not None:
            ax.axvline(v, color="tab:red", linestyle=style, linewidth=1,
                       label="model_predict task's %s %.1f ms" % (pct, v))
    ax.set_xlabel("latency, ms (request start to end of answer)")
    ax.set_ylabel("requests")
    ax.set_title("%d predictions, %d at a time, iris SKLEARN_SERVER via the gateway (%s)" % (
        data["count"], data["concurrency"], data["date"]), fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = RESULTS / "predict_latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> int:
    for path in (scaling(), latency()):
        if path:
            print("plot: wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
