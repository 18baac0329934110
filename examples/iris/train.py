"""Train an iris classifier and write it as the sandbox's (and Seldon's) SKLEARN_SERVER expects.

    python examples/iris/train.py [OUTPUT_DIR]       # default: examples/iris/model

OUTPUT_DIR gets ``model.joblib`` (a fitted scikit-learn estimator: the SKLEARN_SERVER artifact,
for the Seldon protocol and for MLServer's V2 protocol alike), ``model-settings.json`` (for
running the directory with ``mlserver start`` directly) and ``metrics.json``. The path of the
output directory is printed on the last line. In an Argo step (the mlops.k8s.train_deploy role)::

    python train.py /mnt/models/iris/run-1 --location-file /tmp/model-location --relative-to /mnt/models

also writes the directory relative to the volume's mount (``iris/run-1``) to /tmp/model-location, the step's output
parameter: the model server then loads ``pvc://<claim>/iris/run-1``.

The model must be loaded by the SAME scikit-learn version: the sandbox server venvs pin the one
in sandbox/servers/requirements-*.txt; use that version here too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
SERVER_REQUIREMENTS = HERE.parent.parent / "sandbox" / "servers" / "requirements-seldon.txt"


def serving_sklearn_version() -> str | None:
    """The scikit-learn version the sandbox's model servers pin (None outside this repo)."""
    if SERVER_REQUIREMENTS.is_file():
        for line in SERVER_REQUIREMENTS.read_text().splitlines():
            if line.startswith("scikit-learn=="):
                return line.split("==", 1)[1].strip()
    return None


def train(output_dir: Path | str, *, seed: int = 0, name: str = "iris") -> dict:
    """Fit, evaluate and save; returns the metrics (also written to metrics.json)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    iris = load_iris()  # ships inside scikit-learn: no download
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.25, random_state=seed, stratify=iris.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    model.fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))
    joblib.dump(model, out / "model.joblib")
    (out / "model-settings.json").write_text(json.dumps({
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
    }, indent=2) + "\n")
    metrics = {
        "accuracy": accuracy,
        "classes": [str(c) for c in iris.target_names],
        "features": list(iris.feature_names),
        "sklearn_version": sklearn.__version__,
        "train_rows": len(x_train),
        "test_rows": len(x_test),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("output_dir", nargs="?", default=str(HERE / "model"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="iris", help="model name in model-settings.json (V2)")
    parser.add_argument("--location-file", help="also write the output directory's location to this file")
    parser.add_argument("--relative-to", help="with --location-file: write the location relative to this directory "
                        "(the mount path of the volume)")
    args = parser.parse_args(argv)
    metrics = train(args.output_dir, seed=args.seed, name=args.name)
    serving = serving_sklearn_version()
    if serving and serving != sklearn.__version__:
        print(f"WARNING: trained with scikit-learn {sklearn.__version__} but the sandbox servers load with "
              f"{serving}: the pickle may not load", file=sys.stderr)
    print(f"accuracy={metrics['accuracy']:.3f} sklearn={metrics['sklearn_version']}", file=sys.stderr)
    output = Path(args.output_dir).resolve()
    if args.location_file:
        location = output.relative_to(Path(args.relative_to).resolve()) if args.relative_to else output
        location_file = Path(args.location_file)
        location_file.parent.mkdir(parents=True, exist_ok=True)
        location_file.write_text(location.as_posix())  # no newline: the value is used as is
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
