"""Command line: ``python -m audit {verify,history,as-of,export,cross-check}``.

Exit status: 0 when nothing is wrong, 1 when something is (a finding, a drift), 2 on a usage
error or when the history cannot be read (no broker, unreadable archive or keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import orjson

from audit import __version__
from audit.findings import ERROR, Finding
from audit.schemas import DEFAULT_CONTRACTS, ContractError
from audit.sources import ArchiveSource, KafkaSource, SourceError
from audit.timeline import (
    Folder,
    as_of,
    history,
    parse_moment,
    parse_tz,
    render_history,
    to_csv,
)
from shared.contracts import topics

OK, FOUND, USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _dump(obj: Any) -> None:
    _out(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- reading


async def _kafka_envelopes(bootstrap: str, topic_names: tuple[str, ...]) -> list[tuple[str, Any]]:
    src = KafkaSource(bootstrap)
    out: list[tuple[str, Any]] = []
    async for topic, _p, records in src.batches(topic_names):
        for r in records:
            out.append((topic, r.value))
    return out


def load_history(args: argparse.Namespace) -> tuple[Folder, dict[str, dict[str, Any]]]:
    """The events folded per unit-year, and the newest checkpoint of each producer on the topic."""
    wanted = (topics.CHECKPOINTS, *topics.EVENT_TOPICS)
    if args.archive:
        src = ArchiveSource(Path(args.archive))
        raw = [(r.topic, r.value) for r in src.records(wanted)]
    else:
        raw = asyncio.run(_kafka_envelopes(args.bootstrap, wanted))
    folder = Folder()
    checkpoints: dict[str, dict[str, Any]] = {}
    for topic, value in raw:
        try:
            d = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            continue
        if not isinstance(d, dict):
            continue
        if topic == topics.CHECKPOINTS:
            p = d.get("producer")
            if (
                isinstance(p, str)
                and isinstance(d.get("sequence"), int)
                and (p not in checkpoints or d["sequence"] > checkpoints[p].get("sequence", 0))
            ):
                checkpoints[p] = d
        else:
            folder.add(d)
    return folder, checkpoints


# --------------------------------------------------------------------------- commands


def render_report(report: Any) -> str:
    s = report.stats
    lines = [
        f"Kiểm tra lịch sử / History verification — {report.source}",
        f"  topics {s['topics']}, partitions {s['partitions']}, records read {s['records']}",
        f"  events {s['events']}, inbound messages {s['inbound_messages']}, dead letters {s['dead_letters']}",
        f"  streams {s['streams']}, unit-years {s['unit_years']}, recognitions {s['recognitions']}, "
        f"HTTP-caused events {s['http_causes']}",
        f"  exemplary track (điển hình): streams {s.get('exemplary_streams', 0)}, "
        f"titles recognised {s.get('exemplary_recognitions', 0)}",
        f"  checkpoints {s['checkpoints']} (verified {s['checkpoints_verified']})",
    ]
    for producer, cp in report.checkpoints.items():
        lines.append(f"    {producer}: latest #{cp['sequence']} at {cp['issued_at']}, {cp['size']} records, key {cp['key_id']}")
    lines.append(f"  {s['events']} events in {s['seconds']} s ({s['events_per_second']} events/s)")
    lines.append(f"  findings: {s['errors']} errors, {s['notes']} notes")
    lines.append("")
    for f in report.findings:
        lines.append(_finding_line(f))
    lines.append("")
    lines.append(
        "RESULT: "
        + ("OK — the history is whole and unaltered as far as checked" if report.ok else "FAILED — see the errors above")
    )
    return "\n".join(lines) + "\n"


def _finding_line(f: Finding) -> str:
    tag = "ERROR" if f.severity == ERROR else "note "
    where = f.where()
    return f"{tag} {f.code}: {f.message}" + (f"\n      at {where}" if where else "")


def cmd_verify(args: argparse.Namespace) -> int:
    from audit.verify import load_keys, verify_archive, verify_kafka

    keys = load_keys(Path(args.keys) if args.keys else None)
    contracts = Path(args.contracts) if args.contracts else None
    if args.archive:
        report = verify_archive(
            Path(args.archive), keys, contracts=contracts, jobs=args.jobs or 0, require_checkpoints=args.require_checkpoints
        )
    else:
        report = asyncio.run(
            verify_kafka(args.bootstrap, keys, contracts=contracts, jobs=args.jobs, require_checkpoints=args.require_checkpoints)
        )
    if args.json:
        _dump(report.to_json())
    else:
        _out(render_report(report))
    return OK if report.ok else FOUND


def cmd_history(args: argparse.Namespace) -> int:
    folder, _ = load_history(args)
    items = history(folder, args.unit_year_id)
    st = folder.fold(args.unit_year_id)
    unit = st.unit if st else {}
    if args.json:
        _dump({"unit_year_id": args.unit_year_id, "unit": unit, "state": st.row() if st else None, "events": items})
    else:
        _out(render_history(args.unit_year_id, items, unit))
        if st:
            row = st.row()
            _out(f"\nTrạng thái hiện tại / current state: {row['state']} ({row['state_vi']})\n")
            if row["exemplary_state"]:
                title = f", quyết định {row['exemplary_decision_no']}" if row["exemplary_decision_no"] else ""
                because = f", thu hồi: {row['exemplary_revoked_because']}" if row["exemplary_state"] == "revoked" else ""
                _out(
                    "Danh hiệu điển hình / exemplary title: "
                    f"{row['exemplary_state']} ({row['exemplary_state_vi']}){title}{because}\n"
                )
    return OK if items else FOUND


def cmd_as_of(args: argparse.Namespace) -> int:
    tz = parse_tz(args.tz)
    try:
        until = parse_moment(args.moment, tz)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not (args.unit_year or args.province or args.commune or args.year):
        raise UsageError("as-of needs --unit-year, or --province / --commune / --year")
    folder, _ = load_history(args)
    rows = as_of(
        folder,
        until,
        unit_year=args.unit_year,
        province=args.province,
        commune=args.commune,
        year=args.year,
        state=args.state,
        exemplary_state=args.exemplary_state,
    )
    if args.format == "json":
        _dump({"as_of": until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "count": len(rows), "unit_years": rows})
    else:
        _out(to_csv(rows))
    return OK


def cmd_export(args: argparse.Namespace) -> int:
    from audit.sources import export

    manifest = asyncio.run(export(KafkaSource(args.bootstrap), Path(args.out)))
    if args.json:
        _dump(manifest)
    else:
        _out(f"exported {manifest['records']} records from {manifest['source']} to {args.out}\n")
        for producer, cp in manifest["latest_checkpoints"].items():
            _out(f"  latest checkpoint of {producer}: #{cp['sequence']} ({cp['issued_at']})\n")
    return OK


def cmd_cross_check(args: argparse.Namespace) -> int:
    from audit.crosscheck import cross_check

    folder, checkpoints = load_history(args)
    urls = {"registration": args.registration_url, "assessment": args.assessment_url, "approval": args.approval_url}
    findings, stats = asyncio.run(
        cross_check(folder, checkpoints, urls=urls, token=args.token, unit_years=args.unit_year or None)
    )
    errors = [f for f in findings if f.severity == ERROR]
    if args.json:
        _dump({"ok": not errors, "summary": stats, "findings": [f.to_json() for f in findings]})
    else:
        _out(f"Đối chiếu / cross-check of {stats['unit_years']} unit-years ({stats['requests']} requests)\n")
        for service, cp in stats.get("checkpoints", {}).items():
            _out(f"  checkpoint of {service}: {cp}\n")
        for f in findings:
            _out(_finding_line(f) + "\n")
        _out(f"RESULT: {'OK — no drift' if not errors else f'{len(errors)} drifts'}\n")
    if stats.get("unavailable"):
        print(f"error: cannot reach {', '.join(stats['unavailable'])}: nothing compared for it", file=sys.stderr)
        return USAGE
    return OK if not errors else FOUND


# --------------------------------------------------------------------------- parser


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m audit", description="Replay, verify and export the ANTT event history (see docs/audit.md)."
    )
    p.add_argument("--version", action="version", version=f"audit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def source(sp: argparse.ArgumentParser, archive: bool = True) -> None:
        sp.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap HOST:PORT (default %(default)s)")
        if archive:
            sp.add_argument("--archive", metavar="FILE", help="read an exported archive instead of the cluster")

    v = sub.add_parser("verify", help="prove the history whole and unaltered")
    source(v)
    v.add_argument(
        "--keys",
        metavar="PATH",
        help="trusted checkpoint keys: a JSON file or a folder of <producer>.pub (default: var/keys when it exists)",
    )
    v.add_argument("--contracts", metavar="DIR", help=f"the published JSON Schemas (default {DEFAULT_CONTRACTS})")
    v.add_argument("--require-checkpoints", action="store_true", help="a producer without any checkpoint is an error, not a note")
    v.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes, each checking a share of the partitions "
        "(default: one per core for a cluster, none for an archive; 0: none)",
    )
    v.add_argument("--json", action="store_true", help="machine-readable report")
    v.set_defaults(func=cmd_verify)

    h = sub.add_parser("history", help="a unit-year's timeline across the three services")
    source(h)
    h.add_argument("unit_year_id", metavar="UNIT_YEAR_ID", help="e.g. QNG-TB-T3:2025")
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=cmd_history)

    a = sub.add_parser("as-of", help="the state of unit-years at a past moment")
    source(a)
    a.add_argument("moment", metavar="T", help="RFC 3339 moment, or a date (the end of that day in --tz)")
    a.add_argument("--unit-year", metavar="ID")
    a.add_argument("--province", metavar="CODE")
    a.add_argument("--commune", metavar="CODE")
    a.add_argument("--year", type=int)
    a.add_argument("--state", help="only unit-years in this state, e.g. recognized")
    a.add_argument(
        "--exemplary-state", help="only unit-years whose exemplary title (điển hình) is in this state, e.g. recognized"
    )
    a.add_argument("--tz", default="+07:00", help="time zone of a bare date or time (default %(default)s, Việt Nam)")
    a.add_argument("--format", choices=("csv", "json"), default="csv")
    a.set_defaults(func=cmd_as_of)

    e = sub.add_parser("export", help="write the whole history to a gzip JSON Lines archive")
    source(e, archive=False)
    e.add_argument("--out", required=True, metavar="FILE.jsonl.gz")
    e.add_argument("--json", action="store_true", help="print the manifest")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("cross-check", help="compare the services' reported state with the events")
    source(c)
    c.add_argument("--approval-url", default="http://127.0.0.1:8103")
    c.add_argument("--assessment-url", default="http://127.0.0.1:8102")
    c.add_argument("--registration-url", default="http://127.0.0.1:8101")
    c.add_argument("--token", default="dev-admin-token", help="bearer token (default %(default)s)")
    c.add_argument("--unit-year", action="append", metavar="ID", help="only this unit-year (repeatable)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_cross_check)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code not in (0, None) else OK
    try:
        return int(args.func(args))
    except (UsageError, SourceError, ContractError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        return USAGE
