"""``edgelabel-collector classes``: the project's class taxonomy (list, import, export, map)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from server.commands.database_option import add_data_dir_argument, add_database_argument

EPILOG = """\
examples:
  edgelabel-collector classes list --data-dir /var/lib/edgelabel
  edgelabel-collector classes import taxonomy.toml --data-dir /var/lib/edgelabel
  edgelabel-collector classes import taxonomy.yaml --replace --data-dir /var/lib/edgelabel
  edgelabel-collector classes export --out taxonomy.toml --data-dir /var/lib/edgelabel
  edgelabel-collector classes map yolox-nano person pedestrian --data-dir /var/lib/edgelabel
  edgelabel-collector classes apply --dry-run --data-dir /var/lib/edgelabel

A taxonomy file (TOML, or YAML with the same keys):

  [classes.pedestrian]
  guideline = "Anyone on foot. Box the whole body, occluded parts too."
  aliases = ["person", "walker"]

  [models."yolox-nano"]        # this model's class name = project class (or an alias of one)
  person = "pedestrian"

A model class whose name is a class or an alias needs no mapping. Model classes that map to no
class are flagged UNMAPPED by 'list'. Example crops are picked in the web UI (/classes).
Labels verified before a taxonomy change keep their names until 'apply' renames them.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "classes", help="manage the class taxonomy: guidelines, aliases, model class mapping",
        description="Manage the project's classes: their guidelines, aliases and how each model's classes map "
                    "onto them.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="classes_command", metavar="CLASSES_COMMAND", required=True)

    def sub(name: str, help: str, handler):
        command = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=EPILOG,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        add_data_dir_argument(command)
        add_database_argument(command)
        command.set_defaults(handler=handler)
        return command

    listing = sub("list", "list classes and how each model's classes map (UNMAPPED flagged)", run_list)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    importing = sub("import", "import a taxonomy file (.toml, .yaml or .yml), checked before anything changes",
                    run_import)
    importing.add_argument("file", type=Path, metavar="FILE")
    importing.add_argument("--replace", action="store_true",
                           help="the file is the whole taxonomy: classes it leaves out are removed (with their "
                                "examples); by default its classes are added or replaced and the others kept")
    importing.add_argument("--user", default="cli", help="who made the change, for the record (default: %(default)s)")
    exporting = sub("export", "write the taxonomy as a file 'import' takes back", run_export)
    exporting.add_argument("--out", type=Path, metavar="FILE",
                           help="file to write (.toml, .yaml or .yml); default: TOML on stdout")
    mapping = sub("map", "map a model's class to a project class (or --remove the mapping)", run_map)
    mapping.add_argument("model_id", help="the model id as the edge sends it (see 'classes list')")
    mapping.add_argument("model_class", help="the model's class name, e.g. person")
    mapping.add_argument("class_name", nargs="?", help="the project class (or an alias of one)")
    mapping.add_argument("--remove", action="store_true", help="remove the mapping instead")
    mapping.add_argument("--user", default="cli", help="who made the change, for the record (default: %(default)s)")
    applying = sub("apply", "rename labels stored before the taxonomy (aliases, mapped model classes) to its classes",
                   run_apply)
    applying.add_argument("--dry-run", action="store_true", help="report what would be renamed; change nothing")
    applying.add_argument("--json", action="store_true", help="machine-readable output")
    applying.add_argument("--user", default="cli", help="who made the change, for the record (default: %(default)s)")
    return parser


def run_list(args: argparse.Namespace) -> int:
    from server.taxonomy import queries as taxonomy_queries

    with _connection(args.data_dir, args.database) as conn:
        described = taxonomy_queries.describe(conn)
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    if described["empty"]:
        print("no classes: names pass through as the models send them (import a taxonomy file to define classes)")
    for spec in described["classes"]:
        aliases = f" (aliases: {', '.join(spec['aliases'])})" if spec["aliases"] else ""
        guideline = spec["guideline"].splitlines()[0] if spec["guideline"] else "no guideline yet"
        print(f"{spec['name']}{aliases}: {guideline} [{len(spec['examples'])} example crop(s)]")
    for model in described["models"]:
        print(f"model {model['model_id']}:")
        for row in model["classes"]:
            if row["how"] is None:
                print(f"  {row['model_class']} -> UNMAPPED")
            elif row["how"] != "model":
                print(f"  {row['model_class']} -> {row['class_name']} ({row['how']})")
        if not described["empty"] and model["unmapped"]:
            print(f"  {len(model['unmapped'])} unmapped class(es): reviewers see them under the model's name")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from server.taxonomy import document
    from server.taxonomy import queries as taxonomy_queries

    with _connection(args.data_dir, args.database, write=True) as conn:
        taxonomy = document.read(args.file, taxonomy_queries.load(conn), args.replace)
        taxonomy_queries.save(conn, taxonomy, args.user, time.time())
    print(f"{args.file}: {len(taxonomy.classes)} class(es), "
          f"{sum(len(spec.aliases) for spec in taxonomy.classes)} alias(es), {len(taxonomy.mappings)} mapping(s) "
          "now in the taxonomy")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from server.errors import CollectorError
    from server.taxonomy import document
    from server.taxonomy import queries as taxonomy_queries

    with _connection(args.data_dir, args.database) as conn:
        taxonomy = taxonomy_queries.load(conn)
    if args.out is None:
        sys.stdout.write(document.dump(taxonomy, "toml"))
        return 0
    text = document.dump(taxonomy, document.format_of(args.out))
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CollectorError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"{len(taxonomy.classes)} class(es) written to {args.out}")
    return 0


def run_map(args: argparse.Namespace) -> int:
    from server.taxonomy import queries as taxonomy_queries
    from server.taxonomy.model import TaxonomyError

    if args.remove == (args.class_name is not None):
        raise TaxonomyError("give either the project class to map to, or --remove")
    with _connection(args.data_dir, args.database, write=True) as conn:
        taxonomy = taxonomy_queries.load(conn).with_mapping(args.model_id, args.model_class, args.class_name)
        taxonomy_queries.save(conn, taxonomy, args.user, time.time())
        class_name, how = taxonomy.project_class(args.model_id, args.model_class)
    shown = f"{class_name} ({how})" if how else "UNMAPPED"
    print(f"model {args.model_id}: {args.model_class} -> {shown}")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from server.taxonomy import queries as taxonomy_queries
    from server.taxonomy.relabel import relabel

    # A dry run renames inside a transaction that is rolled back: the report is exactly what a
    # real run would do.
    with _connection(args.data_dir, args.database, write=not args.dry_run) as conn:
        taxonomy = taxonomy_queries.load(conn)
        report = relabel(conn, taxonomy, args.user, time.time())
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **report.as_dict()}, indent=2))
        return 0
    if taxonomy.empty:
        print("no classes: nothing to apply (import a taxonomy file first)")
        return 0
    verb = "would rename" if args.dry_run else "renamed"
    for row in report.as_dict()["renamed"]:
        print(f"{verb} {row['labels']} {row['table']} label(s) {row['from']!r} -> {row['to']!r}")
    annotations = sum(count for (table, _, _), count in report.renamed.items() if table == "annotations")
    print(f"{verb} {annotations} verified label(s) on {report.frames} frame(s)")
    for name, count in report.unresolved.items():
        print(f"left {count} label(s) {name!r}: not a class, an alias or a mapped model class "
              f"(add it as an alias, or map it with 'classes map')")
    return 0


@contextmanager
def _connection(data_dir: Path, database: str | None, write: bool = False):
    """A connection to the data directory's database, in one transaction (a write one to write;
    otherwise rolled back at the end)."""
    from server.db import open_database

    with open_database(data_dir, "upgrade", database) as db:  # upgrades the schema if needed (the taxonomy needs 0006_taxonomy)
        with (db.write if write else db.read)("change the taxonomy" if write else "read the taxonomy") as conn:
            yield conn
