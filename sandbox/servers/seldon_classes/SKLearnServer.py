"""Seldon-protocol server for scikit-learn models (implementation SKLEARN_SERVER) in the sandbox.

Run by ``seldon-core-microservice SKLearnServer --service-type MODEL``; the operator passes the
graph ``parameters`` (plus ``model_uri``) through ``PREDICTIVE_UNIT_PARAMETERS``, and seldon-core
hands them to ``__init__`` as keyword arguments.

Artifact: ``model.joblib`` (or ``model.pkl`` / ``model.pickle``) in the model directory, written
with the same scikit-learn version as this venv has.
"""

from __future__ import annotations

import logging

from sandbox_model_files import as_array, find_artifact

log = logging.getLogger("sandbox.SKLearnServer")

METHODS = ("predict_proba", "predict", "decision_function", "transform")
MODEL_FILES = ("model.joblib", "model.pkl", "model.pickle")


class SKLearnServer:
    def __init__(self, model_uri: str | None = None, method: str = "predict_proba", **extra):
        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        if extra:
            log.warning("ignoring unknown parameters: %s", ", ".join(sorted(extra)))
        self.model_uri = model_uri
        self.method = method
        self.model = None
        self.ready = False

    def load(self):
        import joblib

        path = find_artifact(self.model_uri, MODEL_FILES)
        log.info("loading scikit-learn model from %s", path)
        try:
            self.model = joblib.load(path)
        except Exception as exc:
            raise RuntimeError(f"cannot load scikit-learn model {path}: {type(exc).__name__}: {exc}") from exc
        if not hasattr(self.model, self.method):
            raise AttributeError(f"{type(self.model).__name__} has no method {self.method!r}")
        self.ready = True
        log.info("loaded %s; serving %s", type(self.model).__name__, self.method)

    def predict(self, X, features_names=None, meta=None):
        if not self.ready:
            self.load()
        return getattr(self.model, self.method)(as_array(X, features_names))

    def health_status(self):
        if not self.ready:
            raise RuntimeError("model not loaded")
        return {"status": "ok"}

    def init_metadata(self):
        return {"name": "sklearn", "versions": ["sandbox"], "platform": "seldon"}
