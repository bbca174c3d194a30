"""``edgelabel-collector users``: reviewer accounts of the web UI (add, list, remove)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from server.commands.database_option import add_data_dir_argument, add_database_argument

EPILOG = """\
examples:
  printf '%s\\n' 'a long passphrase' | edgelabel-collector users add alice --role reviewer --data-dir /var/lib/edgelabel
  edgelabel-collector users add root --role admin --data-dir /var/lib/edgelabel    # asks for the password
  edgelabel-collector users list --data-dir /var/lib/edgelabel
  edgelabel-collector users remove alice --data-dir /var/lib/edgelabel

The password is read from stdin (first line), never from the command line, where other users of
the machine could see it; on a terminal it is asked for without echo. It is stored as an scrypt hash.
Reviewers review; admins also see the dashboard.
"""
LIST_EPILOG = """\
example:
  edgelabel-collector users list --data-dir /var/lib/edgelabel
"""
REMOVE_EPILOG = """\
example:
  edgelabel-collector users remove alice --data-dir /var/lib/edgelabel   # also ends alice's open sessions
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "users", help="manage reviewer accounts of the web UI",
        description="Manage the accounts that may log in to the review web UI.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="users_command", metavar="USERS_COMMAND", required=True)
    add = commands.add_parser("add", help="add an account (password on stdin)", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("name", help="login name: letters, digits, . _ @ -")
    add.add_argument("--role", required=True, choices=("reviewer", "admin"))
    add_data_dir_argument(add)
    add_database_argument(add)
    add.set_defaults(handler=run_add)
    listing = commands.add_parser("list", help="list accounts", epilog=LIST_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(listing)
    add_database_argument(listing)
    listing.set_defaults(handler=run_list)
    remove = commands.add_parser("remove", help="remove an account and end its sessions", epilog=REMOVE_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    remove.add_argument("name", help="the account to remove")
    add_data_dir_argument(remove)
    add_database_argument(remove)
    remove.set_defaults(handler=run_remove)
    return parser


def run_add(args: argparse.Namespace) -> int:
    from server.auth.accounts import Accounts

    with _accounts(args.data_dir, args.database, Accounts) as accounts:  # first: no password asked for nothing
        accounts.add(args.name, args.role, _read_password())
    print(f"account {args.name!r} added ({args.role})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from server.auth.accounts import Accounts

    with _accounts(args.data_dir, args.database, Accounts) as accounts:
        for account in accounts.list():
            print(f"{account['name']}\t{account['role']}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from server.auth.accounts import Accounts

    with _accounts(args.data_dir, args.database, Accounts) as accounts:
        accounts.remove(args.name)
    print(f"account {args.name!r} removed; its sessions are ended")
    return 0


def _accounts(data_dir: Path, database: str | None, accounts_class):
    from server.db import open_database

    # Upgrades an older schema (accounts need 0004_accounts) but never creates a database: a wrong
    # --data-dir must not become a new, empty collector ('init' or 'serve' makes one).
    return accounts_class(open_database(data_dir, "upgrade", database), owns_db=True)


def _read_password() -> str:
    from server.auth.errors import AccountError

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AccountError("the two passwords differ")
        return password
    line = sys.stdin.readline()
    if not line:
        raise AccountError("no password on stdin (pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | ...)")
    return line.rstrip("\r\n")
