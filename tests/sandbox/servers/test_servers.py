"""Real model servers of the sandbox: build the venvs, train iris, serve it, predict, fail, stop.

The venvs are built once (``python -m sandbox.servers.build``, a no-op when they exist); the
tests are skipped only when they cannot be built because the package index is unreachable.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pytest

from sandbox.servers import ServerFailed, ServerNotAvailable, launch
from sandbox.servers import build as servers_build
from sandbox.servers.launcher import _group_members, _proc_state

pytestmark = pytest.mark.sandbox

REPO_ROOT = Path(__file__).resolve().parents[3]
IRIS_DIR = REPO_ROOT / "examples" / "iris"
SAMPLE = json.loads((IRIS_DIR / "sample_request.json").read_text())
SAMPLE_V2 = json.loads((IRIS_DIR / "sample_request_v2.json").read_text())
# the sample rows are iris rows 0, 51 and 100: setosa, versicolor, virginica
SAMPLE_LABELS = [0, 1, 2]
READY_TIMEOUT = 90


def _pinned_sklearn() -> str:
    for line in servers_build.requirements_file("seldon").read_text().splitlines():
        if line.startswith("scikit-learn=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("requirements-seldon.txt pins no scikit-learn")


def _post(url: str, body: dict, timeout: float = 30) -> dict:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data
        return json.loads(data)
    finally:
        conn.close()


def _live_members(pgid: int) -> list[int]:
    return [pid for pid in _group_members(pgid) if _proc_state(pid) not in ("Z", "X", None)]


def _assert_stopped(proc) -> None:
    proc.stop(grace=10)
    assert proc.exit_code is not None
    assert _live_members(proc.pid) == [], f"processes left in group {proc.pid}"
    assert not proc.ready()


def _assert_iris_probabilities(probs) -> None:
    assert len(probs) == 3
    for row, label in zip(probs, SAMPLE_LABELS, strict=True):
        assert len(row) == 3
        assert sum(row) == pytest.approx(1.0, abs=1e-6)
        assert all(0.0 <= p <= 1.0 for p in row)
        assert max(range(3), key=row.__getitem__) == label
        assert row[label] > 0.5


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def server_venvs():
    try:
        return servers_build.ensure()
    except servers_build.BuildError as exc:
        if exc.offline:
            lines = str(exc).strip().splitlines()
            pytest.skip(f"server venvs cannot be built, the package index is unreachable: {lines[0]} ... {lines[-1]}")
        raise


def _main_venv_has_sklearn() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import sklearn"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def trainer_python(server_venvs) -> str:
    """The interpreter that trains: the main venv once it has scikit-learn (the pinned version),
    until then the seldon venv (same scikit-learn), run as a separate process either way."""
    if _main_venv_has_sklearn():
        return sys.executable
    return str(servers_build.venv_bin("seldon", "python"))


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory, trainer_python) -> Path:
    out = tmp_path_factory.mktemp("iris-model")
    proc = subprocess.run([trainer_python, str(IRIS_DIR / "train.py"), str(out)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]) == out.resolve()
    assert (out / "model.joblib").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9
    assert metrics["sklearn_version"] == _pinned_sklearn()
    return out


_EXTRA_MODELS = textwrap.dedent("""
    import json, pickle, sys
    from pathlib import Path
    import joblib, xgboost as xgb
    from sklearn.datasets import load_iris
    iris_dir, xgb_dir, mlflow_dir = map(Path, sys.argv[1:4])
    X, y = load_iris(return_X_y=True)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                        xgb.DMatrix(X, label=y), num_boost_round=20)
    xgb_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(xgb_dir / "model.bst"))
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    with open(mlflow_dir / "model.pkl", "wb") as f:
        pickle.dump(joblib.load(iris_dir / "model.joblib"), f)
    (mlflow_dir / "MLmodel").write_text(
        "artifact_path: model\\n"
        "flavors:\\n"
        "  python_function:\\n"
        "    loader_module: mlflow.sklearn\\n"
        "    model_path: model.pkl\\n"
        "    python_version: 3.11.7\\n"
        "  sklearn:\\n"
        "    pickled_model: model.pkl\\n"
        "    serialization_format: pickle\\n"
        "    sklearn_version: 1.9.1\\n")
""")


@pytest.fixture(scope="session")
def extra_models(tmp_path_factory, iris_model, server_venvs) -> dict[str, Path]:
    """An XGBoost booster and an MLflow-layout sklearn model (made in the seldon venv: it has xgboost)."""
    root = tmp_path_factory.mktemp("extra-models")
    paths = {"xgboost": root / "xgboost", "mlflow": root / "mlflow"}
    proc = subprocess.run(
        [str(servers_build.venv_bin("seldon", "python")), "-c", _EXTRA_MODELS, str(iris_model),
         str(paths["xgboost"]), str(paths["mlflow"])],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return paths


@pytest.fixture
def broken_model(tmp_path) -> Path:
    d = tmp_path / "broken-model"
    d.mkdir()
    (d / "model.joblib").write_bytes(b"this is not a joblib pickle\n")
    return d


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------

def test_build_is_idempotent(server_venvs):
    lines = []
    for name in servers_build.VENV_NAMES:
        assert servers_build.build(name, echo=lines.append) == server_venvs[name]
    assert all("up to date" in line for line in lines), lines
    assert servers_build.venv_dir("seldon") != servers_build.venv_dir("mlserver")
    assert Path(sys.prefix).resolve() not in {p.resolve() for p in server_venvs.values()}


def test_training_venv_uses_the_serving_sklearn():
    if not _main_venv_has_sklearn():
        pytest.skip(f"scikit-learn is not in the main venv yet (requirements-test.txt should pin "
                    f"scikit-learn=={_pinned_sklearn()}); training ran in the seldon venv")
    import sklearn

    assert sklearn.__version__ == _pinned_sklearn()


def test_seldon_sklearn_server_predicts_iris(iris_model, tmp_path):
    proc = launch("SKLEARN_SERVER", "seldon", iris_model, tmp_path / "work", env={"PREDICTIVE_UNIT_ID": "classifier"},
                  parameters=[])
    try:
        assert proc.health_url.endswith("/health/ping")
        proc.wait_ready(timeout=READY_TIMEOUT)
        assert proc.ready()
        answer = _post(proc.base_url + "/api/v1.0/predictions", SAMPLE)
        _assert_iris_probabilities(answer["data"]["ndarray"])
        assert answer["data"]["names"] == ["t:0", "t:1", "t:2"]
        assert answer["meta"]["requestPath"] == {"classifier": "seldonio/sklearnserver:1.18.2"}
        assert proc.error() is None
    finally:
        _assert_stopped(proc)
    assert proc.logs_path.is_file() and "Seldon Core version: 1.18.2" in proc.logs_path.read_text()


def test_seldon_sklearn_method_parameter(iris_model, tmp_path):
    proc = launch("SKLEARN_SERVER", "seldon", iris_model, tmp_path / "work", env={},
                  parameters=[{"name": "method", "value": "predict", "type": "STRING"}])
    try:
        proc.wait_ready(timeout=READY_TIMEOUT)
        answer = _post(proc.predict_url, SAMPLE)
        assert [int(v) for v in answer["data"]["ndarray"]] == SAMPLE_LABELS
    finally:
        _assert_stopped(proc)


def test_v2_sklearn_server_predicts_iris(iris_model, tmp_path):
    proc = launch("SKLEARN_SERVER", "v2", iris_model, tmp_path / "work", env={}, parameters=[], model_name="iris")
    try:
        assert proc.health_url.endswith("/v2/health/ready")
        proc.wait_ready(timeout=READY_TIMEOUT)
        answer = _post(proc.base_url + "/v2/models/iris/infer", SAMPLE_V2)
        out = answer["outputs"][0]
        assert out["name"] == "predict_proba" and out["shape"] == [3, 3]
        data = out["data"]
        _assert_iris_probabilities([data[i:i + 3] for i in range(0, 9, 3)])
        # without "outputs", MLServer's sklearn runtime answers predict()
        plain = _post(proc.predict_url, {"inputs": SAMPLE_V2["inputs"]})
        assert plain["outputs"][0]["data"] == SAMPLE_LABELS
    finally:
        _assert_stopped(proc)


def test_broken_model_reports_the_load_error(server_venvs, broken_model, tmp_path):
    procs = {protocol: launch("SKLEARN_SERVER", protocol, broken_model, tmp_path / protocol, env={}, parameters=[])
             for protocol in ("seldon", "v2")}  # both at once: the test waits for the slower only
    try:
        for protocol, proc in procs.items():
            with pytest.raises(ServerFailed) as info:
                proc.wait_ready(timeout=READY_TIMEOUT)
            message = str(info.value)
            assert "SKLEARN_SERVER" in message
            if protocol == "seldon":
                assert f"cannot load scikit-learn model {broken_model}/model.joblib" in message
            else:
                assert "Couldn't load model" in message
            assert "Traceback (most recent call last)" in message
            assert proc.error()  # still readable from the process object
            assert not proc.ready()
    finally:
        for proc in procs.values():
            proc.stop(grace=10)
    for proc in procs.values():
        assert _live_members(proc.pid) == []
        assert proc.error(), "the load error stays readable after stop()"


def test_missing_model_dir_reports_the_path(server_venvs, tmp_path):
    missing = tmp_path / "no-such-model"
    proc = launch("SKLEARN_SERVER", "seldon", missing, tmp_path / "work", env={}, parameters=[])
    try:
        with pytest.raises(ServerFailed, match=re.escape(f"model directory {missing} does not exist")):
            proc.wait_ready(timeout=READY_TIMEOUT)
    finally:
        _assert_stopped(proc)


@pytest.mark.parametrize("server", ["TENSORFLOW_SERVER", "TRITON_SERVER"])
def test_unavailable_servers_are_refused(server, tmp_path):
    with pytest.raises(ServerNotAvailable, match="not available in the sandbox"):
        launch(server, "seldon", tmp_path, tmp_path / "work", env={}, parameters=[])
    assert not (tmp_path / "work" / "server.log").exists()


def test_unknown_protocol_and_image_are_refused(tmp_path):
    with pytest.raises(ServerNotAvailable, match="protocol"):
        launch("SKLEARN_SERVER", "tensorflow", tmp_path, tmp_path / "w1", env={}, parameters=[])
    with pytest.raises(ServerNotAvailable, match=re.escape("image 'example.org/team/nothing:1.0' is not available")):
        launch("example.org/team/nothing:1.0", "seldon", None, tmp_path / "w2", env={}, parameters=[],
               images_dirs=[tmp_path / "images"])


def _seldon_and_v2(server: str, model_dir: Path, tmp_path: Path, model_name: str) -> dict:
    """Start the seldon and the V2 server at once, wait for both; returns {protocol: ServerProcess}."""
    procs = {protocol: launch(server, protocol, model_dir, tmp_path / protocol, env={}, parameters=[],
                              model_name=model_name) for protocol in ("seldon", "v2")}
    try:
        for proc in procs.values():
            proc.wait_ready(timeout=READY_TIMEOUT)
    except BaseException:
        for proc in procs.values():
            proc.stop()
        raise
    return procs


def test_xgboost_server(extra_models, tmp_path):
    procs = _seldon_and_v2("XGBOOST_SERVER", extra_models["xgboost"], tmp_path, "iris-xgb")
    try:
        _assert_iris_probabilities(_post(procs["seldon"].predict_url, SAMPLE)["data"]["ndarray"])
        out = _post(procs["v2"].predict_url, {"inputs": SAMPLE_V2["inputs"]})["outputs"][0]
        _assert_iris_probabilities([out["data"][i:i + 3] for i in range(0, 9, 3)])
    finally:
        for proc in procs.values():
            _assert_stopped(proc)


def test_mlflow_server_sklearn_flavour(extra_models, tmp_path):
    procs = _seldon_and_v2("MLFLOW_SERVER", extra_models["mlflow"], tmp_path, "iris-mlflow")
    try:
        labels = _post(procs["seldon"].predict_url, SAMPLE)["data"]["ndarray"]
        assert [int(v) for v in labels] == SAMPLE_LABELS
        labels = _post(procs["v2"].predict_url, {"inputs": SAMPLE_V2["inputs"]})["outputs"][0]["data"]
        assert [int(v) for v in labels] == SAMPLE_LABELS
    finally:
        for proc in procs.values():
            _assert_stopped(proc)


CUSTOM_CLASS = textwrap.dedent('''
    import joblib


    class IrisClassifier:
        def __init__(self, model_dir=None, scale=1.0):
            self.model_dir = model_dir
            self.scale = float(scale)
            self.model = None

        def load(self):
            self.model = joblib.load(self.model_dir + "/model.joblib")

        def predict(self, X, features_names=None):
            return self.model.predict_proba(X) * self.scale
''')


def test_custom_image_maps_to_a_class_directory(iris_model, tmp_path):
    image_dir = tmp_path / "images" / "iris-custom"
    (image_dir / ".s2i").mkdir(parents=True)
    (image_dir / "IrisClassifier.py").write_text(CUSTOM_CLASS)
    (image_dir / ".s2i" / "environment").write_text("MODEL_NAME=IrisClassifier\nSERVICE_TYPE=MODEL\n")
    proc = launch(
        "registry.example.org:5000/team/iris-custom:0.1", "seldon", None, tmp_path / "work",
        env={"PREDICTIVE_UNIT_ID": "iris"},
        parameters=[{"name": "model_dir", "value": str(iris_model), "type": "STRING"},
                    {"name": "scale", "value": "1.0", "type": "FLOAT"}],
        images_dirs=[tmp_path / "images"],
    )
    try:
        proc.wait_ready(timeout=READY_TIMEOUT)
        _assert_iris_probabilities(_post(proc.predict_url, SAMPLE)["data"]["ndarray"])
        assert "IrisClassifier" in " ".join(proc.command)
    finally:
        _assert_stopped(proc)


CUSTOM_V2_RUNTIME = textwrap.dedent('''
    import joblib
    from mlserver import MLModel
    from mlserver.codecs import NumpyCodec, NumpyRequestCodec
    from mlserver.types import InferenceResponse
    from mlserver.utils import get_model_uri


    class IrisRuntime(MLModel):
        async def load(self):
            self.model = joblib.load(await get_model_uri(self._settings, wellknown_filenames=["model.joblib"]))
            return True

        async def predict(self, payload):
            X = self.decode_request(payload, default_codec=NumpyRequestCodec)
            probs = self.model.predict_proba(X)
            return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("probs", probs)])
''')


def test_custom_image_v2_runtime(iris_model, tmp_path):
    image_dir = tmp_path / "images" / "iris-runtime"
    image_dir.mkdir(parents=True)
    (image_dir / "iris_runtime.py").write_text(CUSTOM_V2_RUNTIME)
    (image_dir / "model-settings.json").write_text(json.dumps({"implementation": "iris_runtime.IrisRuntime"}))
    proc = launch("team/iris-runtime:2", "v2", iris_model, tmp_path / "work", env={}, parameters=[],
                  model_name="iris", images_dirs=[tmp_path / "images"])
    try:
        proc.wait_ready(timeout=READY_TIMEOUT)
        out = _post(proc.predict_url, {"inputs": SAMPLE_V2["inputs"]})["outputs"][0]
        assert out["name"] == "probs"
        _assert_iris_probabilities([out["data"][i:i + 3] for i in range(0, 9, 3)])
    finally:
        _assert_stopped(proc)


def test_extract_error_picks_the_load_failure_over_shutdown_noise():
    from sandbox.servers.launcher import extract_error

    log = textwrap.dedent("""\
        2026-01-01 00:00:00,000 - seldon_core.microservice:main:578 - INFO:  Starting microservice.py:main
        [2026-01-01 00:00:01 +0000] [11] [ERROR] Exception in worker process
        Traceback (most recent call last):
          File "/srv/seldon_classes/SKLearnServer.py", line 40, in load
            self.model = joblib.load(path)
        [2026-01-01 00:00:01 +0000] [12] [INFO] Booting worker with pid: 12
        KeyError: 110

        The above exception was the direct cause of the following exception:

        Traceback (most recent call last):
          File "/srv/seldon_classes/SKLearnServer.py", line 42, in load
            raise RuntimeError("cannot load scikit-learn model /m/model.joblib: KeyError: 110") from exc
        RuntimeError: cannot load scikit-learn model /m/model.joblib: KeyError: 110
        Exception ignored in atexit callback: <function _exit_function at 0x7f>
        Traceback (most recent call last):
          File "/usr/lib/python3.11/multiprocessing/util.py", line 357, in _exit_function
        AssertionError: can only join a child process
        [2026-01-01 00:00:02 +0000] [10] [INFO] Reason: Worker failed to boot.
    """)
    text = extract_error(log)
    first, *rest = text.splitlines()
    assert first == "RuntimeError: cannot load scikit-learn model /m/model.joblib: KeyError: 110"
    assert "KeyError: 110" in rest and "Booting worker" not in text
    assert "can only join" not in text
    assert extract_error("") is None
    assert extract_error("all fine\n") is None
