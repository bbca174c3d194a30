"""The credentials file: one collector (the original shape), several nodes sharing a key, a key per node."""

from __future__ import annotations

import subprocess
import sys

import pytest
import zmq

from edge.contract.credentials import (
    CollectorEndpoint,
    CredentialsError,
    DeviceCredentials,
    read_credentials,
    write_credentials,
)
from edge.contract.errors import ConfigError
from tests.helpers import init_collector


def keypair() -> tuple[str, str]:
    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


DEVICE_PUBLIC, DEVICE_SECRET = keypair()
KEY_A, _ = keypair()
KEY_B, _ = keypair()
DEVICE_LINES = f'device = "cam"\ndevice_public_key = "{DEVICE_PUBLIC}"\ndevice_secret_key = "{DEVICE_SECRET}"\n'


def read(tmp_path, text: str) -> DeviceCredentials:
    path = tmp_path / "cam.toml"
    path.write_text(text)
    return read_credentials(path)


def test_a_file_of_the_original_shape_still_loads(tmp_path):
    # Exactly what 'keys add-device' wrote before several endpoints existed.
    credentials = read(tmp_path, f'device = "cam"\nendpoint = "tcp://a:5555"\ndevice_public_key = "{DEVICE_PUBLIC}"\n'
                                 f'device_secret_key = "{DEVICE_SECRET}"\ncollector_public_key = "{KEY_A}"\n')
    assert credentials.collectors == (CollectorEndpoint("tcp://a:5555", KEY_A),)
    assert (credentials.endpoint, credentials.collector_public_key) == ("tcp://a:5555", KEY_A)
    assert credentials == DeviceCredentials.single("cam", "tcp://a:5555", DEVICE_PUBLIC, DEVICE_SECRET, KEY_A)


def test_a_list_of_endpoints_shares_one_collector_key(tmp_path):
    credentials = read(tmp_path, DEVICE_LINES + f'endpoints = ["tcp://a:5555", "tcp://b:5555"]\n'
                                                f'collector_public_key = "{KEY_A}"\n')
    assert credentials.collectors == (CollectorEndpoint("tcp://a:5555", KEY_A), CollectorEndpoint("tcp://b:5555", KEY_A))
    assert credentials.endpoints == ("tcp://a:5555", "tcp://b:5555")


def test_collectors_tables_give_each_endpoint_its_own_key(tmp_path):
    credentials = read(tmp_path, DEVICE_LINES + f'[[collectors]]\nendpoint = "tcp://a:5555"\npublic_key = "{KEY_A}"\n'
                                                f'[[collectors]]\nendpoint = "tcp://b:5555"\npublic_key = "{KEY_B}"\n')
    assert credentials.collectors == (CollectorEndpoint("tcp://a:5555", KEY_A), CollectorEndpoint("tcp://b:5555", KEY_B))


@pytest.mark.parametrize("collectors, shape", [
    ((CollectorEndpoint("tcp://a:5555", KEY_A),), "\nendpoint = "),
    ((CollectorEndpoint("tcp://a:5555", KEY_A), CollectorEndpoint("tcp://[::1]:5555", KEY_A)), "\nendpoints = "),
    ((CollectorEndpoint("tcp://a:5555", KEY_A), CollectorEndpoint("tcp://b:5555", KEY_B)), "\n[[collectors]]\n"),
])
def test_written_credentials_read_back_in_the_simplest_shape(tmp_path, collectors, shape):
    credentials = DeviceCredentials("cam", DEVICE_PUBLIC, DEVICE_SECRET, collectors)
    write_credentials(tmp_path / "cam.toml", credentials)
    assert read_credentials(tmp_path / "cam.toml") == credentials
    assert shape in (tmp_path / "cam.toml").read_text()


def test_flag_endpoints_take_the_files_key_for_them_or_its_one_shared_key():
    shared = DeviceCredentials("cam", DEVICE_PUBLIC, DEVICE_SECRET, (CollectorEndpoint("tcp://a:5555", KEY_A),))
    # One key for all nodes: any endpoint given on the command line uses it (as before several endpoints).
    assert shared.collectors_for(["tcp://x:1", "tcp://a:5555"]) == (
        CollectorEndpoint("tcp://x:1", KEY_A), CollectorEndpoint("tcp://a:5555", KEY_A))
    own = DeviceCredentials("cam", DEVICE_PUBLIC, DEVICE_SECRET, (CollectorEndpoint("tcp://a:5555", KEY_A),
                                                                   CollectorEndpoint("tcp://b:5555", KEY_B)))
    assert own.collectors_for(["tcp://b:5555"]) == (CollectorEndpoint("tcp://b:5555", KEY_B),)
    with pytest.raises(CredentialsError, match=r"no collector key for tcp://x:1: the credentials list tcp://a:5555, "
                                               r"tcp://b:5555 with a key each"):
        own.collectors_for(["tcp://a:5555", "tcp://x:1"])


@pytest.mark.parametrize("text, message", [
    ("", "lacks device, device_public_key, device_secret_key, endpoint, collector_public_key"),
    (DEVICE_LINES, "lacks endpoint, collector_public_key"),
    (DEVICE_LINES + 'endpoint = "tcp://a:5555"\n', "lacks collector_public_key"),
    (DEVICE_LINES + f'endpoint = "tcp://a:5555"\nendpoints = ["tcp://b:5555"]\ncollector_public_key = "{KEY_A}"\n',
     "has both endpoint and endpoints: expected one of endpoint or endpoints with collector_public_key, or "
     "[[collectors]] tables"),
    (DEVICE_LINES + f'endpoints = []\ncollector_public_key = "{KEY_A}"\n', "endpoints must be a non-empty list"),
    (DEVICE_LINES + f'endpoints = "tcp://a:5555"\ncollector_public_key = "{KEY_A}"\n',
     "endpoints must be a non-empty list"),
    (DEVICE_LINES + f'endpoints = ["tcp://a:5555", 7]\ncollector_public_key = "{KEY_A}"\n',
     'endpoints[1] must be an endpoint such as "tcp://collector:5555"'),
    (DEVICE_LINES + f'endpoints = ["tcp://a:5555", "tcp://a:5555"]\ncollector_public_key = "{KEY_A}"\n',
     "lists tcp://a:5555 more than once"),
    (DEVICE_LINES + 'endpoint = "tcp://a:5555"\ncollector_public_key = "short"\n',
     "collector_public_key is not a 40-character Z85 CURVE key"),
    (DEVICE_LINES + f'[[collectors]]\nendpoint = "tcp://a:5555"\npublic_key = "{KEY_A}"\n'
                    f'[[collectors]]\nendpoint = "tcp://b:5555"\n', "collectors[1] has endpoint: expected endpoint and "
                                                                    "public_key"),
    (DEVICE_LINES + '[[collectors]]\nendpoint = "tcp://a:5555"\npublic_key = "nope"\n',
     "collectors[0].public_key is not a 40-character Z85 CURVE key"),
    (DEVICE_LINES + f'collector_public_key = "{KEY_A}"\n[[collectors]]\nendpoint = "tcp://a:5555"\n'
                    f'public_key = "{KEY_A}"\n', "has both collector_public_key and [[collectors]]"),
    (DEVICE_LINES + 'collectors = "tcp://a:5555"\n', "collectors must be one or more [[collectors]] tables"),
    (DEVICE_LINES + f'endpoint = "tcp://a:5555"\ncollector_public_key = "{KEY_A}"\nport = 5555\n',
     "has unknown keys: port"),
    ("device = \n", "is not valid TOML"),
])
def test_bad_credentials_raise_one_typed_line(tmp_path, text, message):
    with pytest.raises(CredentialsError) as caught:
        read(tmp_path, text)
    assert isinstance(caught.value, ConfigError)  # what the CLIs turn into one line and exit status 2
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(tmp_path / "cam.toml") in str(caught.value)


def test_run_refuses_a_collector_flag_the_credentials_have_no_key_for_before_loading_anything(tmp_path):
    path = tmp_path / "cam.toml"
    write_credentials(path, DeviceCredentials("cam", DEVICE_PUBLIC, DEVICE_SECRET, (
        CollectorEndpoint("tcp://a:5555", KEY_A), CollectorEndpoint("tcp://b:5555", KEY_B))))
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--source", "no-such-clip.mp4", "--model",
                             "no-such-model.onnx", "--credentials", str(path), "--collector", "tcp://c:5555"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("edgelabel-agent run: error: no collector key for tcp://c:5555: the credentials "
                                     "list tcp://a:5555, tcp://b:5555 with a key each; use one of those or add it to "
                                     "the file's [[collectors]]")


def test_a_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(CredentialsError, match="credentials file not found"):
        read_credentials(tmp_path / "nope.toml")


def test_keys_add_device_writes_every_endpoint_given_in_order(tmp_path):
    out = tmp_path / "cam.toml"
    init_collector(tmp_path / "data")
    added = subprocess.run([sys.executable, "-m", "server", "keys", "add-device", "cam", "--data-dir",
                            str(tmp_path / "data"), "--endpoint", "tcp://a:5555", "--endpoint", "tcp://b:5555",
                            "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    credentials = read_credentials(out)
    assert credentials.endpoints == ("tcp://a:5555", "tcp://b:5555")
    assert len({c.public_key for c in credentials.collectors}) == 1  # the nodes share this data directory's keys
    assert "endpoints = [" in out.read_text()
    twice = subprocess.run([sys.executable, "-m", "server", "keys", "add-device", "cam2", "--data-dir",
                            str(tmp_path / "data"), "--endpoint", "tcp://a:5555", "--endpoint", "tcp://a:5555",
                            "--out", str(tmp_path / "cam2.toml")], capture_output=True, text=True, timeout=60)
    assert twice.returncode != 0 and "tcp://a:5555 given more than once" in twice.stderr
    assert len(twice.stderr.strip().splitlines()) == 1
