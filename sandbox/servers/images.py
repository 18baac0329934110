"""The sandbox's "container images": what a predictor's server or image runs as a local process.

Two kinds of entries:

* **Prepackaged servers** - ``PREPACKAGED[(implementation, protocol)]``, e.g.
  ``("SKLEARN_SERVER", "seldon")``: a venv from :mod:`sandbox.servers.build` and a command-line
  builder. The Seldon protocol runs ``seldon-core-microservice <Class>`` with this package's own
  classes (``seldon_classes/``); V2 runs ``mlserver start`` on generated settings.
  ``TENSORFLOW_SERVER`` / ``TRITON_SERVER`` (and any server/protocol pair not in the table) raise
  :class:`ServerNotAvailable`.

* **Custom images** - a container image reference ``[registry/][repo/]<name>[:<tag>]`` maps to a
  local directory ``<images dir>/<name>/<tag>/`` or ``<images dir>/<name>/`` found on the image
  search path (the ``images_dirs`` argument of :func:`sandbox.servers.launch`, then
  ``$MLOPS_SANDBOX_IMAGES``, ``os.pathsep``-separated). The directory is what ``s2i`` would have
  built the image from:

  - ``<ModelName>.py`` with ``class <ModelName>`` (``predict(self, X, features_names)``,
    optional ``load()``): run with ``seldon-core-microservice <ModelName>`` in the seldon venv with
    the directory as working directory (so the class imports, like in the real image);
  - the class name comes from the container env ``MODEL_NAME``, else ``.s2i/environment``
    (``MODEL_NAME=...``, ``SERVICE_TYPE=...``; seldon's s2i convention), else the only ``*.py``
    file that defines a class of its own name;
  - optional ``requirements.txt``: installed once with ``uv pip install --target`` into
    ``<cache>/images/<name>-<hash>`` (constrained by the seldon lock, so numpy / scikit-learn stay
    those of the venv) and put on ``PYTHONPATH``;
  - for the V2 protocol, a ``model-settings.json`` (MLServer custom runtime): run with
    ``mlserver start`` in the mlserver venv, the directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.servers import build

SELDON_CLASSES_DIR = Path(__file__).resolve().parent / "seldon_classes"

PROTOCOL_ALIASES = {
    "seldon": "seldon",
    "v1": "seldon",
    "": "seldon",
    "v2": "v2",
    "kfserving": "v2",
    "kserve": "v2",
    "oip": "v2",
    "tensorflow": "tensorflow",
}


class ServerNotAvailable(ValueError):
    """The server/protocol (or image) cannot run in the sandbox."""


def normalize_protocol(protocol: str | None) -> str:
    key = (protocol or "seldon").strip().lower()
    if key not in PROTOCOL_ALIASES:
        raise ServerNotAvailable(f"unknown protocol {protocol!r} (sandbox supports: seldon, v2)")
    return PROTOCOL_ALIASES[key]


@dataclass
class LaunchPlan:
    """What to run for one predictor: a command, its env additions and working directory."""

    kind: str  # "seldon" or "mlserver"
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    health_path: str = "/health/ping"
    predict_path: str = "/api/v1.0/predictions"
    # V2: the model's own readiness (MLServer answers /v2/health/ready before a failed model is dropped)
    model_ready_path: str | None = None
    description: str = ""
    # the image the real operator would run (seldon-core reports it in meta.requestPath)
    image: str = ""


@dataclass
class Ports:
    http: int
    grpc: int
    metrics: int


# ---------------------------------------------------------------------------------------------
# Seldon protocol
# ---------------------------------------------------------------------------------------------

def _seldon_parameters(parameters: list[dict] | None, model_dir: Path | None) -> list[dict]:
    """Graph parameters in the shape seldon-core's ``PREDICTIVE_UNIT_PARAMETERS`` wants, plus model_uri."""
    out = []
    for p in parameters or []:
        if "name" not in p:
            raise ValueError(f"graph parameter without a name: {p!r}")
        out.append({"name": p["name"], "value": str(p.get("value", "")), "type": p.get("type") or "STRING"})
    if model_dir is not None and not any(p["name"] == "model_uri" for p in out):
        out.append({"name": "model_uri", "value": str(model_dir), "type": "STRING"})
    return out


def _seldon_command(class_name: str, ports: Ports, service_type: str = "MODEL") -> list[str]:
    exe = build.venv_bin("seldon", "seldon-core-microservice")
    return [str(exe), class_name, "--service-type", service_type,
            "--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--metrics-port", str(ports.metrics)]


def _seldon_env(parameters: list[dict], ports: Ports, pythonpath: list[Path]) -> dict[str, str]:
    return {
        "PREDICTIVE_UNIT_PARAMETERS": json.dumps(parameters),
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(ports.http),
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": str(ports.grpc),
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(ports.metrics),
        "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath),
        # one gunicorn worker: a model per process is plenty in the sandbox
        "GUNICORN_WORKERS": "1",
    }


def _seldon_prepackaged(class_name: str, image: str):
    def builder(*, model_dir, workdir, parameters, ports, model_name, **_):
        params = _seldon_parameters(parameters, model_dir)
        return LaunchPlan(
            kind="seldon",
            argv=_seldon_command(class_name, ports),
            cwd=workdir,
            env=_seldon_env(params, ports, [SELDON_CLASSES_DIR]),
            description=f"seldon-core-microservice {class_name}",
            image=image,
        )

    return builder


# ---------------------------------------------------------------------------------------------
# V2 protocol (MLServer)
# ---------------------------------------------------------------------------------------------

def _param_map(parameters: list[dict] | None) -> dict[str, str]:
    return {p["name"]: str(p.get("value", "")) for p in parameters or [] if "name" in p}


def _mlserver_settings(workdir: Path, ports: Ports) -> Path:
    repo = workdir / "mlserver"
    repo.mkdir(parents=True, exist_ok=True)
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": ports.http,
        "grpc_port": ports.grpc,
        "metrics_port": ports.metrics,
        # mlserver 1.7.1's parallel inference workers die with uvloop 0.23: serve in-process.
        "parallel_workers": 0,
        "load_models_at_startup": True,
        "model_repository_root": str(repo),
        "metrics_dir": str(workdir / "mlserver-metrics"),
    }
    (repo / "settings.json").write_text(json.dumps(settings, indent=2))
    return repo


def _mlserver_plan(repo: Path, workdir: Path, model_name: str, pythonpath: list[Path], what: str) -> LaunchPlan:
    return LaunchPlan(
        kind="mlserver",
        argv=[str(build.venv_bin("mlserver", "mlserver")), "start", str(repo)],
        cwd=workdir,
        env={"PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)} if pythonpath else {},
        health_path="/v2/health/ready",
        predict_path=f"/v2/models/{model_name}/infer",
        model_ready_path=f"/v2/models/{model_name}/ready",
        description=what,
    )


def _write_model_settings(repo: Path, model_name: str, settings: dict) -> None:
    model_dir = repo / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    settings = {**settings, "name": model_name}
    (model_dir / "model-settings.json").write_text(json.dumps(settings, indent=2))


def _mlflow_artifact(model_dir: Path) -> tuple[str, Path]:
    """(implementation, file) for an MLflow model directory, read from its MLmodel file."""
    import yaml

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise ServerNotAvailable(f"MLFLOW_SERVER: {model_dir} has no MLmodel file")
    flavors = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors") or {}
    if "sklearn" in flavors:
        return "mlserver_sklearn.SKLearnModel", model_dir / flavors["sklearn"].get("pickled_model", "model.pkl")
    if "xgboost" in flavors:
        return "mlserver_xgboost.XGBoostModel", model_dir / flavors["xgboost"].get("data", "model.xgb")
    raise ServerNotAvailable(
        f"MLFLOW_SERVER with the V2 protocol: flavours {sorted(flavors)} need mlserver-mlflow, which the "
        "sandbox does not install (supported: sklearn, xgboost)"
    )


def _mlserver_prepackaged(implementation: str):
    def builder(*, model_dir, workdir, parameters, ports, model_name, **_):
        repo = _mlserver_settings(workdir, ports)
        params = _param_map(parameters)
        impl, uri = implementation, model_dir
        if implementation == "mlflow" and model_dir is not None:
            impl, uri = _mlflow_artifact(Path(model_dir))
        extra = {}
        if "method" in params:  # the Seldon-protocol parameter, as MLServer's sklearn predict_fn
            extra["predict_fn"] = params["method"]
        model_settings = {
            "implementation": impl,
            "parameters": {"uri": str(uri) if uri is not None else None, "version": params.get("version", "v1"),
                           "extra": extra},
        }
        _write_model_settings(repo, model_name, model_settings)
        return _mlserver_plan(repo, workdir, model_name, [], f"mlserver start ({impl})")

    return builder


PREPACKAGED = {
    ("SKLEARN_SERVER", "seldon"): ("seldon", _seldon_prepackaged("SKLearnServer", "seldonio/sklearnserver:1.18.2")),
    ("XGBOOST_SERVER", "seldon"): ("seldon", _seldon_prepackaged("XGBoostServer", "seldonio/xgboostserver:1.18.2")),
    ("MLFLOW_SERVER", "seldon"): ("seldon", _seldon_prepackaged("MLFlowServer", "seldonio/mlflowserver:1.18.2")),
    ("SKLEARN_SERVER", "v2"): ("mlserver", _mlserver_prepackaged("mlserver_sklearn.SKLearnModel")),
    ("XGBOOST_SERVER", "v2"): ("mlserver", _mlserver_prepackaged("mlserver_xgboost.XGBoostModel")),
    ("MLFLOW_SERVER", "v2"): ("mlserver", _mlserver_prepackaged("mlflow")),
}
UNAVAILABLE = {
    "TENSORFLOW_SERVER": "needs TensorFlow Serving (a C++ server image)",
    "TRITON_SERVER": "needs NVIDIA Triton Inference Server (a C++ server image)",
    "TEMPO_SERVER": "needs the Tempo runtime",
    "HUGGINGFACE_SERVER": "needs transformers and model weights from a hub",
}


def is_prepackaged(server: str) -> bool:
    return server.upper() in {s for s, _ in PREPACKAGED} or server.upper() in UNAVAILABLE


def prepackaged(server: str, protocol: str):
    """(venv name, plan builder) for a prepackaged server, or ServerNotAvailable."""
    key = (server.upper(), normalize_protocol(protocol))
    if key[0] in UNAVAILABLE:
        raise ServerNotAvailable(f"{key[0]} is not available in the sandbox: it {UNAVAILABLE[key[0]]}")
    if key not in PREPACKAGED:
        servers = sorted({s for s, _ in PREPACKAGED})
        raise ServerNotAvailable(
            f"{key[0]} with protocol {key[1]!r} is not available in the sandbox "
            f"(available: {', '.join(servers)} with protocols seldon and v2)"
        )
    return PREPACKAGED[key]


# ---------------------------------------------------------------------------------------------
# Custom images
# ---------------------------------------------------------------------------------------------

_IMAGE_RE = re.compile(r"^(?:(?P<prefix>.*)/)?(?P<name>[^/:@]+)(?::(?P<tag>[^/@]+))?(?:@.+)?$")


def parse_image(image: str) -> tuple[str, str]:
    """``registry:5000/team/iris-model:0.1`` -> ``("iris-model", "0.1")``."""
    m = _IMAGE_RE.match(image.strip())
    if not m:
        raise ServerNotAvailable(f"cannot parse container image {image!r}")
    return m.group("name"), m.group("tag") or "latest"


def image_search_path(images_dirs=None) -> list[Path]:
    dirs = [Path(d) for d in images_dirs or []]
    env = os.environ.get("MLOPS_SANDBOX_IMAGES", "")
    dirs += [Path(d) for d in env.split(os.pathsep) if d]
    return dirs


def find_image_dir(image: str, images_dirs=None) -> Path:
    name, tag = parse_image(image)
    search = image_search_path(images_dirs)
    for root in search:
        for candidate in (root / name / tag, root / name):
            if candidate.is_dir() and (
                any(candidate.glob("*.py")) or (candidate / "model-settings.json").is_file()
            ):
                return candidate
    where = ", ".join(str(d) for d in search) or "(no images directory configured: set MLOPS_SANDBOX_IMAGES)"
    raise ServerNotAvailable(
        f"image {image!r} is not available in the sandbox: no directory {name}/{tag}/ or {name}/ "
        f"with a model class in {where}"
    )


def _s2i_environment(image_dir: Path) -> dict[str, str]:
    path = image_dir / ".s2i" / "environment"
    out = {}
    if path.is_file():
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip().strip("'\"")
    return out


def _guess_class(image_dir: Path) -> str:
    found = []
    for py in sorted(image_dir.glob("*.py")):
        if re.search(rf"^class\s+{re.escape(py.stem)}\b", py.read_text(errors="replace"), re.M):
            found.append(py.stem)
    if len(found) == 1:
        return found[0]
    raise ServerNotAvailable(
        f"image directory {image_dir}: cannot tell the model class "
        f"({'candidates: ' + ', '.join(found) if found else 'no <Name>.py defining class <Name>'}); "
        "set MODEL_NAME in .s2i/environment or the container env"
    )


def _image_deps(image_dir: Path, venv: str) -> list[Path]:
    """Install the image's requirements.txt (once per content hash) into a --target dir."""
    req = image_dir / "requirements.txt"
    if not req.is_file() or not req.read_text().strip():
        return []
    digest = hashlib.sha256(req.read_bytes() + build.requirements_hash(venv).encode()).hexdigest()[:12]
    target = build.cache_root().parent / "images" / f"{image_dir.name}-{digest}"
    if (target / ".complete").is_file():
        return [target]
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [build._uv(), "pip", "install", "--quiet", "--python", str(build.venv_bin(venv, "python")),
           "--target", str(tmp), "-r", str(req), "-c", str(build.lock_file(venv))]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ServerNotAvailable(f"image {image_dir.name}: installing requirements.txt failed:\n{proc.stderr[-3000:]}")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    (target / ".complete").write_text("")
    return [target]


def custom_image(image: str, protocol: str, images_dirs=None, env=None):
    """(venv name, plan builder) for a custom container image mapped to a local directory."""
    proto = normalize_protocol(protocol)
    image_dir = find_image_dir(image, images_dirs)
    if proto == "v2":
        if not (image_dir / "model-settings.json").is_file():
            raise ServerNotAvailable(f"image {image!r} ({image_dir}) has no model-settings.json for the V2 protocol")

        def v2_builder(*, model_dir, workdir, parameters, ports, model_name, **_):
            repo = _mlserver_settings(workdir, ports)
            settings = json.loads((image_dir / "model-settings.json").read_text())
            params = settings.setdefault("parameters", {}) or {}
            settings["parameters"] = params
            if model_dir is not None:
                params["uri"] = str(model_dir)
            _write_model_settings(repo, model_name, settings)
            pythonpath = [image_dir, *_image_deps(image_dir, "mlserver")]
            return _mlserver_plan(repo, workdir, model_name, pythonpath, f"mlserver start (image {image})")

        return "mlserver", v2_builder
    if proto != "seldon":
        raise ServerNotAvailable(f"protocol {protocol!r} is not available in the sandbox for custom images")
    s2i = _s2i_environment(image_dir)
    env = env or {}
    class_name = env.get("MODEL_NAME") or s2i.get("MODEL_NAME") or _guess_class(image_dir)
    service_type = env.get("SERVICE_TYPE") or s2i.get("SERVICE_TYPE") or "MODEL"

    def seldon_builder(*, model_dir, workdir, parameters, ports, model_name, **_):
        params = _seldon_parameters(parameters, None)
        pythonpath = [image_dir, *_image_deps(image_dir, "seldon")]
        plan_env = _seldon_env(params, ports, pythonpath)
        if model_dir is not None:
            plan_env["SANDBOX_MODEL_DIR"] = str(model_dir)
        return LaunchPlan(
            kind="seldon",
            argv=_seldon_command(class_name, ports, service_type),
            cwd=image_dir,
            env=plan_env,
            description=f"seldon-core-microservice {class_name} (image {image} from {image_dir})",
            image=image,
        )

    return "seldon", seldon_builder
