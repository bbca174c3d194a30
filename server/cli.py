"""``edgelabel-collector``: the collector's command line.

Domain errors (``CollectorError``) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from pathlib import Path

from edge import logs
from edge.contract.command_line import run_handler
from server.commands import classes as classes_command
from server.commands import duplicates as duplicates_command
from server.commands import export as export_command
from server.commands import import_ as import_command
from server.commands import init as init_command
from server.commands import media as media_command
from server.commands import migrate as migrate_command
from server.commands import models as models_command
from server.commands import synthesize as synthesize_command
from server.commands import users as users_command
from server.commands.database_option import add_data_dir_argument, add_database_argument, fill_from_config
from server.commands.init import require_data_dir
from server.errors import CollectorError

log = logging.getLogger("server.cli")

from server.config import DEFAULT_INGEST  # noqa: E402  (re-exported: other modules import it from here)

DESCRIPTION = """\
edgelabel collector: receive pre-labeled keyframes from edge agents, store them, and serve them
for review and export.

examples:
  edgelabel-collector demo
  edgelabel-collector init --data-dir /var/lib/edgelabel
  edgelabel-collector serve --data-dir /var/lib/edgelabel
  edgelabel-collector check-config /etc/edgelabel/collector.toml
  edgelabel-collector keys add-device cam-01 --data-dir /var/lib/edgelabel \\
      --endpoint tcp://collector.example:5555 --out cam-01.toml
  edgelabel-collector stats --data-dir /var/lib/edgelabel --json
  edgelabel-collector duplicates --data-dir /var/lib/edgelabel --json
  edgelabel-collector export yolo --data-dir /var/lib/edgelabel --out datasets/cams-yolo
  edgelabel-collector import photos/ --data-dir /var/lib/edgelabel
  edgelabel-collector classes import taxonomy.toml --data-dir /var/lib/edgelabel
  edgelabel-collector models add best.onnx --name cams-v2 --data-dir /var/lib/edgelabel
  edgelabel-collector models evaluate cams-v2 --baseline yolox_nano --data-dir /var/lib/edgelabel --report eval
  edgelabel-collector synthesize --data-dir /var/lib/edgelabel --device cam-01 --classes person --count 100
  edgelabel-collector users add alice --role reviewer --data-dir /var/lib/edgelabel   # password on stdin
"""


def _parser(subparsers, name: str, help: str, epilog: str, handler) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=help, description=help[0].upper() + help[1:] + ".", epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgelabel-collector", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = _parser(
        commands, "serve", "receive frames from edge agents and store them",
        "examples:\n  edgelabel-collector serve --data-dir /var/lib/edgelabel --ingest tcp://0.0.0.0:5555\n"
        "  # also the review web UI (login with accounts from 'users add'; put TLS in front beyond localhost)\n"
        "  edgelabel-collector serve --data-dir /var/lib/edgelabel --http 127.0.0.1:8080\n"
        "  # settings from a file (deploy/collector.example.toml); a flag wins over the file\n"
        "  edgelabel-collector serve --config /etc/edgelabel/collector.toml --http 127.0.0.1:8081\n"
        "  # a web-only node (no ZeroMQ socket) on the shared database, e.g. behind a load balancer\n"
        "  edgelabel-collector serve --data-dir /var/lib/edgelabel --database postgresql://edgelabel@db/edgelabel \\\n"
        "      --no-ingest --http 0.0.0.0:8080\n",
        cmd_serve,
    )
    serve.add_argument("--config", type=Path, metavar="FILE",
                       help="collector config file (TOML, every key: deploy/collector.example.toml); flags override it")
    serve.add_argument("--data-dir", type=Path,
                       help="where the collector keeps everything it owns (required, here or as collector.data_dir)")
    add_database_argument(serve, with_config=False)  # serve's own --config (above) holds more
    serve.add_argument("--ingest", default=None, metavar="tcp://HOST:PORT",
                       help=f"address to receive frames on (default: {DEFAULT_INGEST})")
    serve.add_argument("--no-ingest", action="store_true",
                       help="a web-only node: serve --http without receiving frames (no ZeroMQ socket; "
                            'collector.ingest = "off" in the config file)')
    serve.add_argument("--insecure", action="store_true", default=None,
                       help="accept unencrypted frames from any device (local experiments only)")
    serve.add_argument("--metrics", metavar="HOST:PORT", default=None,
                       help="serve Prometheus metrics on http://HOST:PORT/metrics (no login: bind it to an "
                            "address only your monitoring can reach)")
    serve.add_argument("-v", "--verbose", action="count", default=0)
    from server.api.options import add_http_arguments
    from server.media.options import add_media_argument

    add_media_argument(serve)

    add_http_arguments(serve)

    check = _parser(
        commands, "check-config", "validate a collector config file and print the effective settings",
        "examples:\n  edgelabel-collector check-config /etc/edgelabel/collector.toml\n"
        "  edgelabel-collector check-config deploy/collector.example.toml --json\n\n"
        "exit status: 0 when valid, 2 with a one-line error naming the key, the value and what was expected\n",
        cmd_check_config,
    )
    check.add_argument("file", type=Path, metavar="FILE", help="collector config file (TOML)")
    check.add_argument("--json", action="store_true", help="print the effective settings as JSON")

    keys = _parser(commands, "keys", "manage device keys (CURVE)", "example:\n  edgelabel-collector keys list --data-dir DIR\n", None)
    key_commands = keys.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND", required=True)
    add = _parser(
        key_commands, "add-device", "create a device's credentials file and allow its key",
        "example:\n  edgelabel-collector keys add-device cam-01 --data-dir /var/lib/edgelabel \\\n"
        "      --endpoint tcp://collector.example:5555 --out cam-01.toml\n"
        "  # copy cam-01.toml to the device, then:\n"
        "  edgelabel-agent run --source 0 --model yolox-nano --credentials cam-01.toml\n"
        "  # two ingest nodes sharing this data directory's keys: the agent fails over from A to B\n"
        "  edgelabel-collector keys add-device cam-02 --data-dir /var/lib/edgelabel \\\n"
        "      --endpoint tcp://node-a:5555 --endpoint tcp://node-b:5555 --out cam-02.toml\n",
        cmd_keys_add,
    )
    add.add_argument("name", help="device name (it must match the name the agent sends)")
    add_data_dir_argument(add)
    add.add_argument("--endpoint", required=True, action="append", metavar="tcp://HOST:PORT",
                     help="address the device should connect to; repeat it for collector nodes sharing these keys, "
                          "which the agent fails over between in the order given")
    add.add_argument("--out", required=True, type=Path, help="credentials file to write (secret: give it to the device only)")
    add.add_argument("--require-redaction", type=_redaction_kinds, default=(), metavar="KINDS",
                     help="reject this device's frames unless its agent redacted these (e.g. faces, or faces,heads: "
                          "'edgelabel-agent run --redact ...'); rejections count as redaction_required in stats")
    remove = _parser(
        key_commands, "remove-device", "revoke a device: its key can no longer connect",
        "example:\n  edgelabel-collector keys remove-device cam-01 --data-dir /var/lib/edgelabel\n",
        cmd_keys_remove,
    )
    remove.add_argument("name")
    add_data_dir_argument(remove)
    listing = _parser(
        key_commands, "list", "list the devices allowed to connect",
        "example:\n  edgelabel-collector keys list --data-dir /var/lib/edgelabel --json\n", cmd_keys_list,
    )
    add_data_dir_argument(listing)
    listing.add_argument("--json", action="store_true")
    signing = _parser(
        key_commands, "show-signing-key", "print the public key that signs model offers (model_signing_key)",
        "examples:\n  edgelabel-collector keys show-signing-key --data-dir /var/lib/edgelabel\n"
        "  # credentials issued before model rollouts lack it: add it, then copy the file to the device again\n"
        "  edgelabel-collector keys show-signing-key --data-dir /var/lib/edgelabel --add-to cam-01.toml\n",
        cmd_keys_signing,
    )
    add_data_dir_argument(signing)
    signing.add_argument("--add-to", type=Path, action="append", default=[], metavar="CREDENTIALS",
                         help="write it into this credentials file as model_signing_key (repeatable)")

    stats = _parser(
        commands, "stats", "print what the collector has stored",
        "example:\n  edgelabel-collector stats --data-dir /var/lib/edgelabel --json\n", cmd_stats,
    )
    add_data_dir_argument(stats)
    add_database_argument(stats)
    stats.add_argument("--json", action="store_true", help="machine-readable output")

    init_command.add_parser(commands)
    classes_command.add_parser(commands)
    duplicates_command.add_parser(commands)
    export_command.add_parser(commands)
    import_command.add_parser(commands)
    synthesize_command.add_parser(commands)
    users_command.add_parser(commands)
    media_command.add_parser(commands)
    migrate_command.add_parser(commands)
    models_command.add_parser(commands)

    demo = _parser(
        commands, "demo", "run a collector and an agent on a sample clip, end to end",
        "examples:\n  edgelabel-collector demo\n"
        "  edgelabel-collector demo --source my_clip.mp4 --model yolox_nano.onnx --data-dir ./demo-data\n",
        cmd_demo,
    )
    demo.add_argument("--source", help="clip to use instead of the sample clip (downloaded once and cached)")
    demo.add_argument("--model", help="ONNX model path instead of the pinned YOLOX-Nano download")
    demo.add_argument("--data-dir", type=Path, default=Path("edgelabel-demo"),
                      help="collector data directory for the demo (default: ./%(default)s)")
    demo.add_argument("--port", type=int, default=0, help="ingest port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--no-wait", action="store_true",
                      help="stop the collector and exit once the agent is done, instead of keeping the review UI up "
                           "(until Enter on a terminal, else until SIGTERM/SIGINT)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def handle() -> int:
        fill_from_config(args)  # first: a database named in the file makes a local data directory optional
        require_data_dir(args)
        return args.handler(args)

    return run_handler(f"edgelabel-collector {args.command}", handle, (CollectorError,))


def cmd_serve(args: argparse.Namespace) -> int:
    from server.config import NO_INGEST, serve_config
    from server.consistency.reviews import ConsistencyPolicy
    from server.datadir import DataDir
    from server.db import DB_FILENAME
    from server.file_modes import loose_modes
    from server.keys import KeyStore
    from server.media import open_media
    from server.metrics import CollectorMetrics
    from server.receiver import Receiver
    from server.web.serve import start_from_args

    config = serve_config(args)
    settings = config.collector
    review_policy = ConsistencyPolicy(overlap_rate=config.review.overlap_rate, gold_rate=config.review.gold_rate,
                                      agreement_threshold=config.review.agreement_threshold)
    # The rest of serve (and the review API) reads the merged settings from args.
    args.data_dir, args.ingest, args.insecure = Path(settings.data_dir), settings.ingest, settings.insecure
    args.http, args.metrics = settings.http or None, settings.metrics or None
    args.trusted_proxy = settings.trusted_proxy
    logs.configure(args.verbose)  # the same one-line-per-event format as the agent's
    store = DataDir.open(args.data_dir, database=settings.database or None,
                         media=open_media(settings.media, args.data_dir, config.s3))
    if settings.ingest == NO_INGEST:
        return _serve_web_only(args, store, review_policy)
    keys = None if args.insecure else KeyStore(args.data_dir)
    for path, mode, wanted in loose_modes(args.data_dir, DB_FILENAME):
        log.warning("%s is open to other users (mode %o; expected %o): chmod %o %s", path, mode, wanted, wanted, path)
    if keys is None:
        log.warning("INSECURE: accepting unencrypted frames from any device on %s (--insecure)", args.ingest)
    receiver = Receiver(store, args.ingest, keys)
    api = metrics = None
    try:
        api = start_from_args(args, review_policy, store.db, store.media)  # one database and media for both
        if args.metrics:
            metrics = _start_metrics(args.metrics, CollectorMetrics(store.db, receiver.counts))
    except BaseException:
        if api is not None:
            api.stop()
        receiver.close()
        store.close()
        raise
    signal.signal(signal.SIGTERM, lambda *_: receiver.stop())
    signal.signal(signal.SIGINT, lambda *_: receiver.stop())
    if keys is not None:
        devices = len(keys.devices())
        log.info("collector public key %s; %d device(s) allowed", keys.collector_keys().public, devices)
        if not devices:
            log.warning("no device may connect yet: add one with 'edgelabel-collector keys add-device NAME "
                        "--data-dir %s --endpoint tcp://HOST:PORT --out NAME.toml'", args.data_dir)
    # Scripts and tests wait for this line to know the socket is bound.
    print(f"listening on {receiver.bound_endpoint} ({'insecure' if keys is None else 'CURVE'}), data in {args.data_dir}",
          flush=True)
    if api is not None:
        print(f"review API on {api.url}", flush=True)
    if metrics is not None:
        print(f"metrics on {metrics.url}", flush=True)
    try:
        receiver.serve_forever()
    finally:
        receiver.close()
        if api is not None:
            api.stop()
        if metrics is not None:
            metrics.stop()
        store.close()
    log.info("stopped: %d frames stored, %d retransmits of stored frames, %d rejected this run",
             receiver.counts.stored, receiver.counts.retransmits, sum(receiver.counts.rejected.values()))
    return 0


def _serve_web_only(args: argparse.Namespace, store, review_policy) -> int:
    """``serve --no-ingest``: the review UI and API (and metrics) until SIGTERM or SIGINT; no ZeroMQ socket."""
    import threading

    from server.metrics import CollectorMetrics
    from server.receiver import IngestCounts
    from server.web.serve import start_from_args

    api = metrics = None
    try:
        api = start_from_args(args, review_policy, store.db, store.media)
        if args.metrics:
            metrics = _start_metrics(args.metrics, CollectorMetrics(store.db, IngestCounts()))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        # Scripts and tests wait for these lines, as for an ingest node's "listening on".
        print(f"review API on {api.url}", flush=True)
        print(f"no ingest: a web-only node (no ZeroMQ socket), data in {args.data_dir}", flush=True)
        if metrics is not None:
            print(f"metrics on {metrics.url}", flush=True)
        while not stop.wait(0.5):  # short waits: the signal handler runs between them
            pass
    finally:
        if api is not None:
            api.stop()
        if metrics is not None:
            metrics.stop()
        store.close()
    log.info("stopped: web-only node")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from edge.contract.config_files import as_dict, as_toml
    from server.config import load_collector_config

    config = load_collector_config(args.file)
    if config.collector.database:
        _check_database(config.collector.database)
    if config.collector.media:
        _try_media(config)
    if args.json:
        print(json.dumps(as_dict(config), indent=2))
    else:
        print(f"{args.file}: OK")
        if not config.collector.data_dir:
            print("# still to give on the command line: collector.data_dir (or --data-dir)")
        print(as_toml(config))
    return 0


def _check_database(url: str) -> None:
    """Connect to the configured database once, so a wrong URL, host or password shows here, not at serve."""
    from sqlalchemy import create_engine, text

    from server.db.database import display_url, normalize_url, require_driver
    from server.errors import StoreError

    normalized = normalize_url(url)
    if normalized.startswith("sqlite"):
        return  # created by serve if missing; nothing to connect to yet
    require_driver()
    engine = create_engine(normalized)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001  (any driver error: the operator needs its first line)
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"collector.database: cannot connect to {display_url(normalized)}: {detail}") from None
    finally:
        engine.dispose()


def _try_media(config) -> None:
    """Reach the configured bucket, so a wrong name, endpoint or key shows now rather than at ingest."""
    from server.config import CollectorConfigError
    from server.errors import StoreError
    from server.media import open_media

    try:
        media = open_media(config.collector.media, Path(config.collector.data_dir or "."), config.s3)
        try:
            media.check()
        finally:
            media.close()
    except StoreError as exc:
        raise CollectorConfigError(f"collector.media {config.collector.media!r}: {exc}") from None


def _start_metrics(address: str, metrics):
    from edge.contract.metrics_http import MetricsServer

    try:
        return MetricsServer(address, metrics)
    except OSError as exc:
        raise CollectorError(f"cannot serve metrics on {address}: {exc.strerror or exc}") from None


def cmd_keys_add(args: argparse.Namespace) -> int:
    from server.keys import KeyStore

    keys = KeyStore(args.data_dir)
    keys.collector_keys(create=False)  # a device's credentials name this collector's key: it must exist already
    credentials = keys.add_device(args.name, args.endpoint, args.out,
                                                     require_redaction=args.require_redaction)
    print(f"device {credentials.device!r} added; credentials written to {args.out} (keep it secret)"
          + (f"; its frames must be redacted: {', '.join(args.require_redaction)}" if args.require_redaction else ""))
    return 0


def _redaction_kinds(text: str) -> list[str]:
    from server.redaction_policy import parse_required

    try:
        return parse_required(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_keys_remove(args: argparse.Namespace) -> int:
    from server.keys import KeyStore

    KeyStore(args.data_dir).remove_device(args.name)
    print(f"device {args.name!r} removed; its key can no longer connect")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from server.keys import KeyStore

    devices = KeyStore(args.data_dir).devices()
    if args.json:
        print(json.dumps(devices, indent=2, sort_keys=True))
    else:
        for name, info in sorted(devices.items()):
            print(f"{name}\t{info['public_key']}")
    return 0


def cmd_keys_signing(args: argparse.Namespace) -> int:
    from server.keys import KeyStore

    keys = KeyStore(args.data_dir)
    keys.collector_keys(create=False)  # the data directory of a collector, not any folder
    print(keys.model_signing_keys().public)
    for path in args.add_to:
        keys.add_signing_key_to(path)
        print(f"{path}: model_signing_key written (copy it to the device again)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from server.datadir import DataDir

    with DataDir.open_readonly(args.data_dir, args.database) as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats, indent=2, sort_keys=True))
    else:
        print(format_stats(stats))
    return 0


def format_stats(stats: dict) -> str:
    totals = stats["totals"]
    lines = [f"{totals['frames']} frames, {totals['detections']} detections from {totals['devices']} device(s); "
             f"{totals['media_bytes'] / 1e6:.1f} MB of images in {stats['database'].rsplit('/', 1)[0]}"]
    now = time.time()
    for name, device in sorted(stats["devices"].items()):
        seen = f"last frame {_ago(now, device['last_seen'])}" if device["last_seen"] else "no frames yet"
        line = f"  {name}: {device['frames']} frames, {seen}"
        status = device.get("status")
        if status:
            line += (f"; heartbeat {_ago(now, status['received_at'])}: {status.get('fps', 0):.1f} fps, "
                     f"{int(status.get('spooled', 0))} spooled, {int(status.get('evicted', 0))} evicted")
        lines.append(line)
        lines += [f"    {_field_line(row)}" for row in stats.get("field", []) if row["device"] == name]
    if stats["redactions"]["frames"]:
        lines.append(f"redacted on the device: {stats['redactions']['frames']} frames ("
                     + ", ".join(f"{kind} {n}" for kind, n in stats["redactions"]["by_kind"].items()) + ")")
    if stats["rejections"]["by_code"]:
        lines.append("rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["rejections"]["by_code"].items())))
    return "\n".join(lines)


def _field_line(row: dict) -> str:
    """A model's stretch on a device (:func:`server.field_precision.field_rows`) in one line."""
    line = f"{row['model_id']}: {row['frames']} frames, {row['verified_frames']} reviewed"
    if row["precision"] is not None:
        line += f", precision {row['precision']:.3f}"
    if row["correction_rate"] is not None:
        line += f", correction rate {row['correction_rate']:.3f}"
    change = row["change"]
    if change is not None and change["precision"] is not None:
        line += (f" ({change['precision']:+.3f} precision, {change['correction_rate']:+.3f} corrections"
                 f" vs {change['previous_model_id']})")
    return line


def _ago(now: float, then: float) -> str:
    seconds = max(0.0, now - then)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    return run_demo(source=args.source, model=args.model, data_dir=args.data_dir, port=args.port,
                    wait=not args.no_wait)
