"""The collector's config file: check-config, one message per kind of mistake, flags over the file."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from server.cli import build_parser
from server.config import (
    CollectorConfigError,
    load_collector_config,
    serve_config,
    serve_settings,
)
from tests.conftest import REPO_DIR


def check_config(*args):
    return subprocess.run([sys.executable, "-m", "server", "check-config", *map(str, args)],
                          cwd=REPO_DIR, capture_output=True, text=True, timeout=60)


def test_the_example_loads_with_check_config():
    result = check_config("deploy/collector.example.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("deploy/collector.example.toml: OK")
    settings = json.loads(check_config("deploy/collector.example.toml", "--json").stdout)["collector"]
    assert settings == {"data_dir": "", "ingest": "tcp://0.0.0.0:5555", "insecure": False, "http": "", "metrics": "",
                        "trusted_proxy": "",
                        "database": "", "media": ""}


def write(tmp_path, text):
    path = tmp_path / "collector.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("[collector]\ndatadir = \"/x\"\n", 'collector.datadir = "/x": expected no such key; collector has data_dir'),
    ("[server]\n", "server = {...}: expected no such key; the file has collector, review"),
    ("[review]\noverlap_rate = 1.5\n", "review.overlap_rate = 1.5: expected share of frames reviewed blind"),
    ("[review]\ngold_rate = -0.1\n", "review.gold_rate = -0.1: expected a fraction in [0, 1]"),
    ("[collector]\ninsecure = 1\n", "collector.insecure = 1: expected true or false"),
    ("[collector]\nhttp = \"localhost\"\n", 'collector.http = "localhost": expected HOST:PORT'),
    ("[collector]\ningest = \"0.0.0.0:5555\"\n", 'collector.ingest = "0.0.0.0:5555": expected an endpoint'),
    ("[collector]\ningest = \"off\"\n", 'ingest = "off" (from'),  # a web-only node without http
    ("[collector]\ndatabase = \"mysql://db/x\"\n", 'collector.database = "mysql://db/x": expected a database URL'),
    ("collector = 3\n", "collector = 3: expected a table"),
    ("[collector\n", "not valid TOML"),
])
def test_each_kind_of_mistake_gives_one_line_naming_key_value_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CollectorConfigError, match=None) as caught:
        load_collector_config(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
    result = check_config(path)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("edgelabel-collector check-config: error:")


def serve_args(*argv):
    return build_parser().parse_args(["serve", *map(str, argv)])


def test_a_web_only_node_in_the_file_or_by_flag(tmp_path):
    path = write(tmp_path, '[collector]\ndata_dir = "/x"\ningest = "off"\nhttp = "127.0.0.1:8080"\n')
    assert load_collector_config(path).collector.ingest == "off"
    assert check_config(path).returncode == 0
    assert serve_config(serve_args("--data-dir", tmp_path, "--no-ingest", "--http", "127.0.0.1:0")).collector.ingest == "off"
    with pytest.raises(CollectorConfigError, match="--ingest and --no-ingest"):
        serve_config(serve_args("--data-dir", tmp_path, "--no-ingest", "--ingest", "tcp://127.0.0.1:5555"))


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, '[collector]\ndata_dir = "/srv/edgelabel"\nhttp = "127.0.0.1:8080"\ninsecure = true\n')
    settings = serve_settings(serve_args("--config", path))
    assert (settings.data_dir, settings.http, settings.insecure) == ("/srv/edgelabel", "127.0.0.1:8080", True)
    assert settings.ingest == "tcp://0.0.0.0:5555"
    settings = serve_args("--config", path, "--data-dir", tmp_path, "--http", "127.0.0.1:9000")
    settings = serve_settings(settings)
    assert settings.data_dir == str(tmp_path) and settings.http == "127.0.0.1:9000"
    with pytest.raises(CollectorConfigError, match=r"^--metrics: collector.metrics = \"x\": expected HOST:PORT"):
        serve_settings(serve_args("--config", path, "--metrics", "x"))


def test_a_data_directory_is_still_required(tmp_path):
    with pytest.raises(CollectorConfigError, match="give --data-dir DIR, or set collector.data_dir"):
        serve_settings(serve_args())
    assert serve_settings(serve_args("--data-dir", tmp_path)).data_dir == str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "server", "serve"], cwd=REPO_DIR, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "collector.data_dir" in result.stderr


def test_check_config_tries_the_database_and_names_it_when_it_cannot_connect(tmp_path, postgres_cluster):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write(tmp_path, f'[collector]\ndatabase = "postgresql://edgelabel:secret@127.0.0.1:{port}/edgelabel"\n')
    result = check_config(path)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgelabel-collector check-config: error: collector.database: "
                                                   f"cannot connect to postgresql+psycopg://edgelabel:***@127.0.0.1:{port}/")
    assert "secret" not in result.stderr

    url = postgres_cluster.new_database()
    path = write(tmp_path, f'[collector]\ndatabase = "{url}"\n')
    result = check_config(path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["collector"]["database"] == url
    assert serve_settings(serve_args("--data-dir", tmp_path, "--database", url)).database == url
