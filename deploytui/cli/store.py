"""`deploytui store push|pull SESSION --store URL`: copy a session between the sessions dir and a
PostgreSQL store, byte for byte (the record exported from either is the same)."""

from __future__ import annotations

import argparse
import sys

from deploytui.core.errors import DeployError
from deploytui.services.sessions import STORE_ENV, is_store_url, store_location
from deploytui.storage.fs import SessionStore


def run(args: argparse.Namespace) -> int:
    url = store_location(getattr(args, "store", None), args.sessions_dir)
    if not is_store_url(url):
        raise DeployError(f"store {args.action} needs a PostgreSQL store: --store URL or ${STORE_ENV}")
    from deploytui.storage.postgres import PostgresStore
    from deploytui.storage.postgres.transfer import pull, push

    files = SessionStore(args.sessions_dir)
    database = PostgresStore(str(url))
    try:
        if args.action == "push":
            count = push(files, database, args.session)
            print(
                f"deploytui: pushed {args.session} ({count} events) to {database.location}", file=sys.stderr
            )
        else:
            count = pull(database, files, args.session)
            print(f"deploytui: pulled {args.session} ({count} events) into {files.location}", file=sys.stderr)
    finally:
        database.close()
    return 0
