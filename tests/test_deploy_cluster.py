"""The multi-node compose file (deploy/compose.cluster.yaml): its services hang together and every
collector node runs a command edgelabel-collector's own parser accepts, on the one database and the
one bucket. Docker itself does not run here; deploy/README.md says what was and was not run."""

import shlex
import tomllib

import pytest
import yaml

from server.cli import build_parser
from tests.conftest import REPO_DIR

DEPLOY = REPO_DIR / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.cluster.yaml").read_text())
SERVICES = COMPOSE["services"]
NODES = {name: service for name, service in SERVICES.items() if service.get("command", [None])[0] == "serve"}


def parse_serve(argv: list[str]):
    args = build_parser().parse_args(argv)  # argparse exits (SystemExit) on an unknown flag or a bad value
    args.web_only = bool(args.no_ingest)
    return args


def test_the_cluster_has_a_database_a_bucket_two_ingest_nodes_and_a_web_node():
    assert {"postgres", "s3", "bucket", "keys"} <= set(SERVICES)
    nodes = {name: parse_serve(service["command"]) for name, service in NODES.items()}
    ingest = [name for name, args in nodes.items() if not args.web_only]
    web = [name for name, args in nodes.items() if args.web_only]
    assert len(ingest) == 2 and len(web) == 1
    assert all(args.command == "serve" and not args.insecure for args in nodes.values())
    # One database, one bucket, one data directory (keys only) for all of them.
    assert {args.database for args in nodes.values()} == {"postgresql://edgelabel@postgres:5432/edgelabel"}
    assert len({args.media for args in nodes.values()}) == 1 and nodes[web[0]].media.startswith("s3://")
    assert {str(args.data_dir) for args in nodes.values()} == {"/data"}
    # Each ingest node on a port of its own, published; the web node serves HTTP only.
    ports = [nodes[name].ingest.rsplit(":", 1)[1] for name in ingest]
    assert len(set(ports)) == 2
    for name, port in zip(ingest, ports):
        assert f"{port}:{port}" in NODES[name]["ports"]
    assert nodes[web[0]].http


@pytest.mark.parametrize("name", sorted(NODES))
def test_every_node_shares_the_keys_volume_and_reaches_the_database_and_bucket(name):
    node = NODES[name]
    assert "collector-keys:/data" in node["volumes"]
    environment = node["environment"]
    assert {"PGPASSWORD", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(environment)
    assert environment["AWS_ENDPOINT_URL"].split("//")[1].split(":")[0] in SERVICES
    assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert node["depends_on"]["keys"]["condition"] == "service_completed_successfully"
    assert node["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    assert node["healthcheck"]["test"][0] == "CMD"


def test_dependencies_name_services_and_wait_only_for_health_that_is_checked():
    for name, service in SERVICES.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits for {dependency}'s health, never checked"
    assert set(COMPOSE["volumes"]) >= {volume.split(":")[0] for service in SERVICES.values()
                                       for volume in service.get("volumes", ()) if not volume.startswith(".")}


def test_the_image_is_built_with_the_postgres_and_s3_extras_and_keys_are_made_with_our_cli():
    build = SERVICES["keys"]["build"]  # the one service that builds it; the nodes run the image it tags
    assert {SERVICES["keys"]["image"]} == {node["image"] for node in NODES.values()}
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    extras = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = build["args"]["EXTRAS"].split(",")
    assert {"collector", "postgres", "s3"} <= set(wanted) and set(wanted) <= set(extras)
    init, add_device = (shlex.split(part) for part in SERVICES["keys"]["command"][0].split("||", 1)[1].split("&&"))
    assert init[0] == add_device[0] == "edgelabel-collector"
    initialised = build_parser().parse_args(init[1:])  # the schema and the key pair, before any node starts
    assert initialised.command == "init" and initialised.database == "postgresql://edgelabel@postgres:5432/edgelabel"
    args = build_parser().parse_args(add_device[1:])
    assert args.keys_command == "add-device" and str(args.data_dir) == "/data"
