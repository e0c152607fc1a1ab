"""`tipline import slack|mattermost` and `tipline export mattermost`: arguments, the progress bar
and the summary. The work is in actions.py; docs/subsystems/import.md says what is imported."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from tipline.config import Settings
    from tipline.domain.imports.actions import Export


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser("import", help="import a Slack or Mattermost export (docs/subsystems/import.md)")
    imp_sub = imp.add_subparsers(dest="import_format", required=True)
    slack = imp_sub.add_parser("slack", help="a Slack workspace export (ZIP)")
    slack.add_argument("export", type=Path, help="the export's .zip file")
    slack.add_argument(
        "--fetch-files",
        action="store_true",
        help="download files the archive does not hold from their URL (public addresses only)",
    )
    slack.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST_OR_CIDR",
        help="also fetch from this host or network although it is loopback or private (repeatable)",
    )
    mm = imp_sub.add_parser("mattermost", help="a Mattermost bulk-import file (JSONL)")
    mm.add_argument("export", type=Path, help="the .jsonl file")
    mm.add_argument(
        "--attachments", type=Path, default=None, help="where attachment paths start (default: the file's folder)"
    )
    mm.add_argument(
        "--team-as",
        choices=("auto", "prefix", "tag", "none"),
        default="auto",
        help="how a channel's team shows in its name: 'team/channel' (prefix), 'channel [team]' (tag), "
        "not at all (none), or a prefix only when the export has several teams (auto, the default)",
    )
    for p in (slack, mm):
        p.add_argument("--batch-size", type=int, default=5000, help="messages per transaction (default 5000)")
        p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    exp = sub.add_parser("export", help="export everything in another chat server's format")
    exp_sub = exp.add_subparsers(dest="export_format", required=True)
    mmx = exp_sub.add_parser("mattermost", help="Mattermost's bulk-import format (JSONL)")
    mmx.add_argument("out", type=Path, help="the .jsonl file to write")
    mmx.add_argument(
        "--attachments", type=Path, default=None, help="where attachments are written (default: OUT.data/)"
    )
    mmx.add_argument("--team", default="tipline", help="the team every channel is put in (default: tipline)")


class ProgressBar:
    """One line on a terminal, redrawn at most ten times a second; silent when not a terminal."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        pct = 100 * done // total if total else 100
        rate = done / max(now - self.start, 1e-6)
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\r{self.what} [{bar:<25}] {pct:3d}% {done:,}/{total:,} {rate:,.0f}/s ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(settings: Settings, args: argparse.Namespace, *, database_url: str) -> int:
    """Exit 0 when done, 2 when the export is refused (nothing was written), 1 when the import
    stopped part-way (run it again: it carries on where it stopped)."""
    return asyncio.run(_run(settings, args, database_url=database_url))


async def _run(settings: Settings, args: argparse.Namespace, *, database_url: str) -> int:
    from sqlalchemy import text

    from tipline.app import build_runtime
    from tipline.domain.imports.actions import do_export_mattermost, do_import
    from tipline.domain.imports.schemas import ImportFormatError
    from tipline.errors import DomainError

    rt = build_runtime(settings, database_url=database_url, jwt_key=b"unused" * 8)
    try:
        async with rt.engine.connect() as conn:
            if (await conn.execute(text("SELECT to_regclass('import_runs')"))).scalar() is None:
                print("error: the database is not migrated: run `tipline migrate` first", file=sys.stderr)
                return 2
        if args.command == "export":
            out: Path = args.out
            summary = await do_export_mattermost(
                rt, out_path=out, data_dir=args.attachments, team=args.team, progress=ProgressBar("conversations")
            )
            print(f"wrote {out}")
            print("\n".join(summary.lines()))
            return 0
        export = _export_for(settings, args)
        started = time.monotonic()
        try:
            result = await do_import(
                rt,
                export=export,
                file_name=args.export.name,
                progress=ProgressBar("messages"),
                batch_size=max(1, args.batch_size),
            )
        except ImportFormatError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        except (Exception, KeyboardInterrupt) as exc:
            # Only the kind and first line: a database error's text can quote what it was writing.
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(
                f"error: the import stopped ({type(exc).__name__}: {first[:200]}). What was committed "
                "stays; run the same command again to carry on.",
                file=sys.stderr,
            )
            return 1
        finally:
            export.close()
        elapsed = time.monotonic() - started
        if args.json:
            print(orjson.dumps({**result.as_dict(), "seconds": round(elapsed, 3)}).decode())
        else:
            print(f"imported {args.export} in {elapsed:.1f} s")
            print("\n".join(result.lines()))
        return 0
    finally:
        await rt.engine.dispose()


def _export_for(settings: Settings, args: argparse.Namespace) -> Export:
    from tipline.domain.imports.fetch import Fetcher, parse_allow
    from tipline.domain.imports.mattermost import MattermostExport
    from tipline.domain.imports.slack import SlackExport

    largest = max(
        settings.media_max_image_bytes,
        settings.media_max_audio_bytes,
        settings.media_max_video_bytes,
        settings.media_max_file_bytes,
    )
    if args.import_format == "slack":
        fetcher = None
        if args.fetch_files:
            hosts, nets = parse_allow(args.allow_host)
            fetcher = Fetcher(allow_hosts=hosts, allow_nets=nets)
        return SlackExport(args.export, fetcher=fetcher, max_file_bytes=largest)
    return MattermostExport(args.export, attachments=args.attachments, team_as=args.team_as, max_file_bytes=largest)
