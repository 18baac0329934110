"""Seldon-protocol server for MLflow models (implementation MLFLOW_SERVER) in the sandbox.

MLflow itself is not installed: the sandbox reads the ``MLmodel`` file of the model directory and
loads the flavours it can without MLflow:

* ``sklearn`` - ``pickled_model`` (pickle / cloudpickle format), scikit-learn of this venv;
* ``xgboost`` - the booster file named by ``data``.

Other flavours (pyfunc with custom code, tensorflow, pytorch, ...) fail to load with a clear error.
Like the real server, ``predict`` calls the model's ``predict`` (``method`` selects another one).
"""

from __future__ import annotations

import logging

import joblib
from sandbox_model_files import as_array, local_path

log = logging.getLogger("sandbox.MLFlowServer")


def _read_mlmodel(model_dir):
    import yaml

    path = model_dir / "MLmodel"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no MLmodel file: not an MLflow model directory")
    spec = yaml.safe_load(path.read_text()) or {}
    return spec.get("flavors") or {}


class MLFlowServer:
    def __init__(self, model_uri: str | None = None, method: str = "predict", xtype: str = "ndarray", **extra):
        if extra:
            log.warning("ignoring unknown parameters: %s", ", ".join(sorted(extra)))
        self.model_uri = model_uri
        self.method = method
        self.model = None
        self.flavor = None
        self.ready = False

    def load(self):
        model_dir = local_path(self.model_uri)
        if model_dir.is_file():
            model_dir = model_dir.parent
        flavors = _read_mlmodel(model_dir)
        if "sklearn" in flavors:
            flavor = flavors["sklearn"]
            path = model_dir / flavor.get("pickled_model", "model.pkl")
            fmt = flavor.get("serialization_format", "cloudpickle")
            log.info("loading MLflow sklearn model %s (%s)", path, fmt)
            try:
                # joblib reads plain pickle streams too; cloudpickle (installed) resolves its own references
                self.model = joblib.load(path)
            except Exception as exc:
                raise RuntimeError(f"cannot load MLflow sklearn model {path}: {type(exc).__name__}: {exc}") from exc
            self.flavor = "sklearn"
        elif "xgboost" in flavors:
            import xgboost as xgb

            path = model_dir / flavors["xgboost"].get("data", "model.xgb")
            log.info("loading MLflow xgboost model %s", path)
            self.model = xgb.Booster(model_file=str(path))
            self.flavor = "xgboost"
        else:
            raise NotImplementedError(
                f"MLflow flavours {sorted(flavors)} are not supported by the sandbox MLFLOW_SERVER "
                "(supported: sklearn, xgboost)"
            )
        self.ready = True

    def predict(self, X, features_names=None, meta=None):
        if not self.ready:
            self.load()
        data = as_array(X, features_names)
        if self.flavor == "xgboost":
            import xgboost as xgb

            return self.model.predict(xgb.DMatrix(data))
        return getattr(self.model, self.method)(data)

    def health_status(self):
        if not self.ready:
            raise RuntimeError("model not loaded")
        return {"status": "ok"}
