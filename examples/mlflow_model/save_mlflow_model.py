"""Write an iris classifier in the MLflow model format (what ``mlflow.sklearn.save_model`` writes), without MLflow.

    python examples/mlflow_model/save_mlflow_model.py OUTPUT_DIR

OUTPUT_DIR gets ``MLmodel`` (flavours ``python_function`` and ``sklearn``, pickle serialization) and
``model.pkl``: the directory an MLflow run logs as an artifact, which Seldon's ``MLFLOW_SERVER`` serves from its
``modelUri``. With MLflow installed, ``mlflow.get_artifact_uri("model")`` of a run gives the same layout on S3.
"""

from __future__ import annotations

import pickle
import platform
import sys
from pathlib import Path

import sklearn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "iris"))
from train import train  # noqa: E402 - the iris example's training code

MLMODEL = """artifact_path: model
flavors:
  python_function:
    env:
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: {python}
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: pickle
    sklearn_version: {sklearn}
mlflow_version: 2.12.1
"""


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "mlflow-model")
    work = out / "_train"
    train(work)
    import joblib

    model = joblib.load(work / "model.joblib")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    (out / "MLmodel").write_text(MLMODEL.format(python=platform.python_version(), sklearn=sklearn.__version__))
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
