"""The ``assay`` command: look into and tidy an artifact store.

assay ls [--store DIR]                 stage, key, short spec, size, created
assay show KEY [--store DIR]           the manifest (a unique key prefix is enough)
assay gc --keep STUDY.yaml... [--yes]  delete artifacts no listed study uses (dry run
                                       unless --yes), and leftovers of killed jobs
assay status [STUDY.yaml...]           which artifacts of a study are done, running, missing
assay engines [--stop]                 this machine's shared engine servers (and end them)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from assay.artifacts import (
    TMP_DIR,
    canonical_json,
    find_artifact,
    folder_size,
    is_finished,
    iter_artifacts,
    leftovers,
    read_manifest,
)
from assay.config import load_study
from assay.errors import AssayError
from assay.plan import build_plan


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f}{unit}"
        n /= 1024
    return f"{n:.1f}TB"


def print_table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()
) -> None:
    """Rows in columns as wide as their widest cell (whole names, never cut); the last
    column is left ragged."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            str(cell).rjust(width) if i in right else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ]
        cells[-1] = cells[-1].rstrip() if len(header) - 1 not in right else cells[-1]
        print("  ".join(cells).rstrip())


def cmd_ls(args: argparse.Namespace) -> int:
    rows = []
    for path in iter_artifacts(Path(args.store)):
        manifest = read_manifest(path)
        spec = canonical_json(manifest["spec"])
        spec = spec if len(spec) <= 60 else spec[:57] + "..."
        rows.append((manifest["stage"], manifest["key"], _size(folder_size(path)), manifest["created"], spec))
    print_table(("stage", "key", "size", "created", "spec"), rows, right=frozenset({2}))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    path = find_artifact(Path(args.store), args.key)
    if path is None:
        print(f"no artifact with key {args.key!r} in {args.store}", file=sys.stderr)
        return 1
    print(json.dumps(read_manifest(path), indent=2, sort_keys=True))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    store = Path(args.store)
    keep: set[str] = set()
    for study in args.keep:
        plan = build_plan(load_study([study]))
        if plan.store.resolve() != store.resolve():
            print(f"note: {study} uses store {plan.store}, not {store}", file=sys.stderr)
        keep |= {a.key for a in plan.all()}
    doomed = [p for p in iter_artifacts(store) if p.name not in keep] + leftovers(store)
    verb = "deleting" if args.yes else "would delete"
    for path in doomed:
        print(f"{verb} {path} ({_size(folder_size(path))})")
        if args.yes:
            shutil.rmtree(path)
    print(
        f"{len(doomed)} folder(s); kept {len(keep)} artifact key(s)"
        + ("" if args.yes else "; dry run, pass --yes")
    )
    return 0


def artifact_state(store: Path, stage: str, key: str) -> str:
    """done (published), running (a staging folder exists) or missing."""
    if is_finished(store / stage / key):
        return "done"
    if any((store / TMP_DIR).glob(f"{stage}-{key}-*")):
        return "running"
    return "missing"


def last_progress(log: Path) -> str:
    if not log.is_file():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "prompts (" in line]
    return lines[-1].split(": ", 2)[-1] if lines else ""


def cmd_status(args: argparse.Namespace) -> int:
    plan = build_plan(load_study(args.study))
    counts = {"done": 0, "running": 0, "missing": 0}
    print(f"study {plan.study!r}, store {plan.store}")
    rows = []
    for artifact in plan.all():
        state = artifact_state(plan.store, artifact.stage, artifact.key)
        counts[state] += 1
        folder = Path(plan.path(artifact))
        size = _size(folder_size(folder)) if state == "done" else ""
        progress = last_progress(Path("logs") / plan.study / artifact.stage / f"{artifact.key}.log")
        progress = progress if state == "running" else ""
        rows.append((artifact.stage, artifact.name, artifact.key, state, size, progress))
    print_table(("stage", "name", "key", "state", "size", "progress"), rows, right=frozenset({4}))
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def cmd_engines(args: argparse.Namespace) -> int:
    from assay.engine.shared import engine_dir, servers

    found = servers(stop=args.stop)
    print(f"shared engine servers in {engine_dir()}: {len(found)}")
    if found:
        columns = (
            "ident",
            "state",
            "pid",
            "engine",
            "calls",
            "up_s",
            "idle_s",
            "jobs_connected",
            "checkpoint",
        )
        rows = [tuple(str(server.get(c, "")) for c in columns) for server in found]
        print_table(columns, rows, right=frozenset({2, 4, 5, 6, 7}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="assay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="artifacts", help="artifact store folder (default: artifacts)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ls", help="list artifacts")
    show = sub.add_parser("show", help="print an artifact's manifest")
    show.add_argument("key")
    gc = sub.add_parser("gc", help="delete artifacts that no listed study uses")
    gc.add_argument("--keep", nargs="+", required=True, metavar="STUDY", help="study config files to keep")
    gc.add_argument("--yes", action="store_true", help="really delete (default: dry run)")
    status = sub.add_parser("status", help="which stages of a study are done, running or missing")
    status.add_argument("study", nargs="*", help="study config files (default: config/config.yaml)")
    engines = sub.add_parser("engines", help="this machine's shared engine servers")
    engines.add_argument("--stop", action="store_true", help="end each once no job is connected")
    args = parser.parse_args(argv)
    commands = {"ls": cmd_ls, "show": cmd_show, "gc": cmd_gc, "status": cmd_status, "engines": cmd_engines}
    try:
        return commands[args.command](args)
    except AssayError as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
