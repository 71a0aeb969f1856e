"""The ``d8a`` command line: demo, replay, columns, migrate, worker and serve."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from d8a.errors import ConfigurationError, MissingDependencyError

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from d8a.demo import run_demo, summary

    warehouse = run_demo(args.dir)
    print(summary(warehouse))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from d8a.cli_commands import replay

    return replay(args)


def _columns(args: argparse.Namespace) -> int:
    from d8a.cli_commands import columns

    return columns(args)


def _migrate(args: argparse.Namespace) -> int:
    from d8a.cli_commands import migrate

    return migrate(args)


def _worker(args: argparse.Namespace) -> int:
    from d8a.cli_commands import _config
    from d8a.cli_worker import worker

    return worker(args, _config(args))


def _serve(args: argparse.Namespace) -> int:
    from d8a.cli_commands import _config
    from d8a.cli_serve import serve

    return serve(args, _config(args))


def _queue_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", help="queue URL (sqlite:///queue.db, redis://host:port/db)")
    parser.add_argument("--state", help="protosession state URL")
    parser.add_argument("--partitions", type=_positive, help="queue partitions")


def _backend_options(parser: argparse.ArgumentParser, *, config_required: bool) -> None:
    parser.add_argument(
        "--config",
        required=config_required,
        help="TOML config file (keys: setting names and backends; D8A_<KEY> overrides)",
    )
    parser.add_argument("--warehouse", help="warehouse URL, overriding the config")
    parser.add_argument("--layout", help="table layout (embedded, split, ga4_export)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``d8a`` command."""
    from d8a.cli_commands import FORMATS
    from d8a.cli_serve import add_serve_options
    from d8a.cli_worker import add_worker_options

    parser = argparse.ArgumentParser(prog="d8a", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="replay the bundled sample traffic into a SQLite warehouse and summarise it"
    )
    demo.add_argument("--dir", default="d8a-demo", help="where to write queue.db and events.db")
    demo.set_defaults(func=_demo)
    replay = commands.add_parser("replay", help="replay a JSON Lines file of request dicts")
    replay.add_argument("file", help="JSON Lines file (.jsonl or .jsonl.gz)")
    _backend_options(replay, config_required=False)
    replay.add_argument(
        "--progress-every", type=_positive, default=1000, help="requests between progress lines"
    )
    replay.set_defaults(func=_replay)
    columns = commands.add_parser("columns", help="print the column catalogue of a protocol")
    columns.add_argument("--protocol", default="ga4", help="protocol id (ga4, d8a, matomo)")
    columns.add_argument("--format", choices=FORMATS, default="table")
    columns.set_defaults(func=_columns)
    migrate = commands.add_parser("migrate", help="create the warehouse tables; print the DDL")
    _backend_options(migrate, config_required=True)
    migrate.add_argument("--dry-run", action="store_true", help="print the DDL, run nothing")
    migrate.set_defaults(func=_migrate)
    worker = commands.add_parser("worker", help="run the worker loop until SIGTERM")
    _backend_options(worker, config_required=False)
    _queue_options(worker)
    add_worker_options(worker)
    worker.add_argument("--poll", type=float, default=0.5, help="seconds to wait when idle")
    worker.set_defaults(func=_worker)
    serve = commands.add_parser("serve", help="run the collector (and worker) on uvicorn")
    _backend_options(serve, config_required=False)
    _queue_options(serve)
    add_serve_options(serve)
    serve.set_defaults(func=_serve)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except (ConfigurationError, MissingDependencyError) as exc:
        print(f"d8a: error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
