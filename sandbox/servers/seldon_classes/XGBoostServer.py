"""Seldon-protocol server for XGBoost models (implementation XGBOOST_SERVER) in the sandbox.

Artifact: ``model.bst`` (XGBoost's own booster format; ``model.json`` / ``model.ubj`` also work)
in the model directory. ``predict`` returns the booster's output (class probabilities for
``multi:softprob`` objectives).
"""

from __future__ import annotations

import logging

from sandbox_model_files import as_array, find_artifact

log = logging.getLogger("sandbox.XGBoostServer")

MODEL_FILES = ("model.bst", "model.json", "model.ubj")


class XGBoostServer:
    def __init__(self, model_uri: str | None = None, **extra):
        if extra:
            log.warning("ignoring unknown parameters: %s", ", ".join(sorted(extra)))
        self.model_uri = model_uri
        self.booster = None
        self.ready = False

    def load(self):
        import xgboost as xgb

        path = find_artifact(self.model_uri, MODEL_FILES)
        log.info("loading XGBoost booster from %s", path)
        try:
            self.booster = xgb.Booster(model_file=str(path))
        except Exception as exc:
            raise RuntimeError(f"cannot load XGBoost model {path}: {type(exc).__name__}: {exc}") from exc
        self.ready = True

    def predict(self, X, features_names=None, meta=None):
        import xgboost as xgb

        if not self.ready:
            self.load()
        return self.booster.predict(xgb.DMatrix(as_array(X, features_names)))

    def health_status(self):
        if not self.ready:
            raise RuntimeError("model not loaded")
        return {"status": "ok"}

    def init_metadata(self):
        return {"name": "xgboost", "versions": ["sandbox"], "platform": "seldon"}
