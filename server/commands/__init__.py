"""``edgelabel-collector`` subcommands that live in a module of their own: each has
``add_parser(subparsers)`` and ``run(args)``."""
