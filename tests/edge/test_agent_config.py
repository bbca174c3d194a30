"""The agent's whole config file: check-config, one message per kind of mistake, flags over the file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edge.cli import build_parser
from edge.commands.run import load_run_config
from edge.config import AgentConfig, load_config
from edge.contract.errors import ConfigError
from tests.conftest import REPO_DIR

EXAMPLE = REPO_DIR / "deploy" / "agent.example.toml"


def check_config(*args):
    return subprocess.run([sys.executable, "-m", "edge", "check-config", *map(str, args)],
                          cwd=REPO_DIR, capture_output=True, text=True, timeout=60)


def test_the_example_loads_with_check_config():
    result = check_config("deploy/agent.example.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("deploy/agent.example.toml: OK")
    assert "jpeg_quality = 85" in result.stdout
    result = check_config("deploy/agent.example.toml", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["uplink"]["insecure"] is False


def write(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("[uplink]\njpeg_qualty = 80\n", "uplink.jpeg_qualty = 80: expected no such key; uplink has collector"),
    ("[detectr]\nmodel = \"x\"\n", "detectr = {...}: expected no such key; the file has selection, source, detector"),
    ("[uplink]\nwindow = \"32\"\n", 'uplink.window = "32": expected an integer'),
    ("[uplink]\ninsecure = \"yes\"\n", 'uplink.insecure = "yes": expected true or false'),
    ("[uplink]\njpeg_quality = 0\n", "uplink.jpeg_quality = 0: expected an integer in 1..100"),
    ("[detector]\nlayout = \"yolo\"\n", 'detector.layout = "yolo": expected one of "", "yolox"'),
    ("[metrics]\naddress = \"9465\"\n", 'metrics.address = "9465": expected HOST:PORT'),
    ("[source]\nimage_fps = -1\n", "source.image_fps = -1.0: expected a frame rate above 0"),
    ("[detector]\nproviders = []\n", "detector.providers = []: expected at least one execution provider"),
    ("[uplink]\nwindow = \n", "not valid TOML"),
    ("[uplink]\ncollector = 5555\n", "uplink.collector = 5555: expected a string or a list"),
    ("[uplink]\ncollector = [\"tcp://a:5555\", 5]\n", "uplink.collector[1] = 5: expected a string"),
    ("[uplink]\ncollector = [\"tcp://a:5555\", \"b:5555\"]\n",
     'uplink.collector = ["tcp://a:5555", "b:5555"]: expected an endpoint such as "tcp://collector:5555", a list'),
    ("[uplink]\ncollector = [\"tcp://a:5555\", \"tcp://a:5555\"]\n", "a list of distinct ones"),
    ("[uplink]\nfailover_after_s = -1\n", "uplink.failover_after_s = -1.0: expected seconds >= 0"),
])
def test_each_kind_of_mistake_gives_one_line_naming_key_value_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    result = check_config(path)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("edgelabel-agent check-config: error:")


def run_args(*argv):
    return build_parser().parse_args(["run", *map(str, argv)])


def test_flags_override_the_file_and_the_file_overrides_defaults(tmp_path):
    path = write(tmp_path, '[source]\nsource = "clip.mp4"\n[detector]\nmodel = "m.onnx"\nthreads = 2\n'
                           '[uplink]\ninsecure = true\ncollector = "tcp://127.0.0.1:5555"\njpeg_quality = 70\n'
                           '[selection.interval]\nmin_gap_s = 2.0\n')
    config = load_run_config(run_args("--config", path))
    assert (config.source.source, config.detector.model, config.detector.threads) == ("clip.mp4", "m.onnx", 2)
    assert config.uplink.jpeg_quality == 70 and config.uplink.insecure and config.uplink.window == 32
    config = load_run_config(run_args("--config", path, "--source", "other.mp4", "--jpeg-quality", "90",
                                      "--min-gap", "3", "--provider", "cuda", "--spool-dir", tmp_path))
    assert config.source.source == "other.mp4" and config.uplink.jpeg_quality == 90
    assert config.selection.interval.min_gap_s == 3.0 and config.detector.providers == ("cuda",)
    assert config.uplink.spool_dir == str(tmp_path) and config.detector.model == "m.onnx"
    # The security choice on the command line replaces the file's.
    config = load_run_config(run_args("--config", path, "--credentials", "cam.toml"))
    assert config.uplink.credentials == "cam.toml" and not config.uplink.insecure
    # A bad flag value is reported under the flag's name.
    with pytest.raises(ConfigError, match=r"^--jpeg-quality: uplink.jpeg_quality = 101: expected an integer in 1..100"):
        load_run_config(run_args("--config", path, "--jpeg-quality", "101"))


def test_collector_is_one_endpoint_or_a_list_and_repeated_flags_replace_the_files(tmp_path):
    path = write(tmp_path, '[source]\nsource = "clip.mp4"\n[detector]\nmodel = "m.onnx"\n'
                           '[uplink]\ninsecure = true\ncollector = ["tcp://a:5555", "tcp://b:5555"]\n'
                           'failover_after_s = 4.0\n')
    config = load_run_config(run_args("--config", path))
    assert config.uplink.collectors == ("tcp://a:5555", "tcp://b:5555") and config.uplink.failover_after_s == 4.0
    assert check_config(path).returncode == 0
    config = load_run_config(run_args("--config", path, "--collector", "tcp://c:5555", "--collector", "tcp://d:5555",
                                      "--failover-after", "2"))
    assert config.uplink.collectors == ("tcp://c:5555", "tcp://d:5555") and config.uplink.failover_after_s == 2.0
    config = load_run_config(run_args("--config", path, "--collector", "tcp://c:5555"))
    assert config.uplink.collectors == ("tcp://c:5555",)
    assert load_config(write(tmp_path, '[uplink]\ncollector = "tcp://a:5555"\n')).uplink.collectors == ("tcp://a:5555",)
    assert load_config(None).uplink.collectors == ()
    with pytest.raises(ConfigError, match=r"^--collector: uplink.collector = \["):
        load_run_config(run_args("--config", path, "--collector", "tcp://c:5555", "--collector", "c:5555"))


def test_flags_alone_still_work_without_a_file():
    config = load_run_config(run_args("--source", "clip.mp4", "--model", "m.onnx", "--insecure"))
    assert config.uplink.insecure and config.source.pace == 0 and config.detector.detect_every == 1
    assert config == AgentConfig(source=config.source, detector=config.detector, uplink=config.uplink)


@pytest.mark.parametrize("argv, message", [
    (("--model", "m.onnx", "--insecure"), "no source: give --source SRC, or set source.source"),
    (("--source", "c.mp4", "--insecure"), "no model: give --model MODEL, or set detector.model"),
    (("--source", "c.mp4", "--model", "m.onnx"), "give --credentials FILE or --insecure, or set uplink.credentials"),
])
def test_missing_required_settings_name_the_flag_and_the_key(argv, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(run_args(*argv))


def test_credentials_and_insecure_both_in_the_file_is_an_error(tmp_path):
    path = write(tmp_path, '[uplink]\ninsecure = true\ncredentials = "cam.toml"\n')
    result = check_config(path)
    assert result.returncode == 2 and "expected one of them, not both" in result.stderr
    with pytest.raises(ConfigError, match="not both"):
        load_run_config(run_args("--config", path, "--source", "c", "--model", "m"))


def test_runtime_keys_make_the_runtime_settings(tmp_path):
    from edge.commands.detector_args import settings_from_config

    path = write(tmp_path, '[detector]\nruntime = "openvino"\nthreads = 2\n[detector.openvino]\ndevice = "GPU"\n'
                           'precision = "bf16"\n')
    settings = settings_from_config(load_config(path).detector)
    assert (settings.name, settings.threads, settings.device, settings.precision) == ("openvino", 2, "GPU", "bf16")
    # Flags win: --runtime and --precision are config overrides like the others.
    config = load_run_config(run_args("--config", path, "--source", "c", "--model", "m", "--insecure",
                                      "--runtime", "onnxruntime", "--precision", "f32"))
    assert (config.detector.runtime, config.detector.openvino.precision) == ("onnxruntime", "f32")


def test_tensorrt_table_becomes_onnxruntime_provider_options(tmp_path):
    from edge.commands.detector_args import settings_from_config

    cache = tmp_path / "trt"
    path = write(tmp_path, f'[detector]\nproviders = ["tensorrt", "cuda", "cpu"]\n[detector.tensorrt]\nfp16 = true\n'
                           f'int8 = true\nint8_calibration_table = "{cache}/calibration.flatbuffers"\n'
                           f'max_workspace_mb = 2048\n')
    options = settings_from_config(load_config(path).detector).provider_options["TensorrtExecutionProvider"]
    assert options == {
        "trt_fp16_enable": "True", "trt_int8_enable": "True",
        "trt_int8_calibration_table_name": "calibration.flatbuffers",
        "trt_int8_use_native_calibration_table": "False",
        "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache),
        "trt_max_workspace_size": str(2048 * 2**20),
    }  # fmt: skip
    # Without the TensorRT provider the table is not read at all.
    path = write(tmp_path, '[detector.tensorrt]\nfp16 = true\n')
    assert settings_from_config(load_config(path).detector).provider_options == {}


@pytest.mark.parametrize("text, message", [
    ('[detector]\nruntime = "tflite"\n', 'detector.runtime = "tflite": expected one of "auto", "onnxruntime", "openvino"'),
    ('[detector.openvino]\nprecision = "int8"\n', 'detector.openvino.precision = "int8": expected one of "f32"'),
    ('[detector.openvino]\ndevice = "TPU"\n', 'detector.openvino.device = "TPU": expected an OpenVINO device'),
    ('[detector]\nproviders = ["tensorrt"]\n[detector.tensorrt]\nint8_calibration_table = "/t/c.cache"\n',
     "int8_calibration_table is set but int8 = false"),
    ('[detector]\nproviders = ["trt"]\n[detector.tensorrt]\nint8 = true\nint8_calibration_table = "/t/c.cache"\n'
     'engine_cache_dir = "/elsewhere"\n', "must be in engine_cache_dir /elsewhere"),
])
def test_runtime_mistakes_are_one_line_in_check_config(tmp_path, text, message):
    result = check_config(write(tmp_path, text))
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
