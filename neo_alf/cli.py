"""The ``neo-alf`` command: thin subcommands over the library.

::

    neo-alf --version
    neo-alf info PATH|EID [--cache-dir DIR] [--json] [--strict]   what the reader sees, and the Neo objects
    neo-alf info --example                               the same, on the bundled example session
    neo-alf validate PATH|EID [--cache-dir DIR]          every ALF rule broken (exit 1 when any)
    neo-alf search --cache-dir DIR [--cache-url URL] [--subject S] [--date D [D]] [--dataset D ...]
    neo-alf download EID --cache-dir DIR --base-url URL [--cache-url URL] [--collection C] [--dataset D]
    neo-alf plot PATH|EID [--cache-dir DIR] --out overview.png      needs the [plot] extra (matplotlib)
    neo-alf convert PATH|EID [--cache-dir DIR] out.nix|out.nwb [--overwrite]   needs [nix] or [nwb]

Every command that reads a session takes a folder, an eid with ``--cache-dir``, or ``--example``
(one resolver: :func:`_session_path`). Errors print one line naming the file and the rule broken,
and exit with code 2 (``--debug`` shows the traceback). Output cut short by a closed pipe
(``neo-alf info --example | head -5``) ends quietly with exit code 1, as Python's documentation
recommends for ``BrokenPipeError``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AlfError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neo-alf`` command; returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "paths", None) is not None and not any(e.startswith("-") for e in extra):
        args.paths += extra  # `convert EID --cache-dir DIR OUT`: argparse leaves OUT over
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Python's own recipe: point stdout at
        # devnull so that the flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (AlfError, OSError, ImportError, ValueError) as err:
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"neo-alf: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="neo-alf", description="Read ALF (ONE / IBL) sessions with Neo.")
    parser.add_argument("--version", action="version", version=f"neo-alf {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="the session as the reader sees it")
    _add_session_arguments(p, strict=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_info)

    p = sub.add_parser("validate", help="list every ALF rule broken (exit 1 when any)")
    _add_session_arguments(p)
    p.set_defaults(run=_validate)

    p = sub.add_parser("search", help="eids in a ONE cache folder")
    p.add_argument("--cache-dir", required=True, help="the ONE cache folder (tables, or session folders)")
    p.add_argument("--cache-url", help="fetch the public cache tables (cache_info.json, cache.zip) from here")
    p.add_argument("--subject", action="append", help="exact subject name (repeatable: any of them)")
    p.add_argument("--lab", action="append", help="exact lab name (repeatable: any of them)")
    p.add_argument("--number", type=int, help="the session number of the day")
    p.add_argument("--task", help="task protocol, case-insensitive substring")
    p.add_argument("--project", help="project, case-insensitive substring")
    p.add_argument(
        "--date", nargs="+", metavar="DATE", help="yyyy-mm-dd: one day, or first and last (inclusive)"
    )
    p.add_argument(
        "--dataset", action="append", default=[], help="a dataset name, e.g. spikes.times (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_search)

    p = sub.add_parser("download", help="fetch a session (or part of it) from an ALF file server")
    p.add_argument("eid", help="the session: an eid, an experiment reference yyyy-mm-dd_N_subject, or a path")
    p.add_argument(
        "--cache-dir", required=True, help="the ONE cache folder holding sessions.pqt/datasets.pqt"
    )
    p.add_argument(
        "--base-url", required=True, help="the ALF file server, e.g. https://ibl.flatironinstitute.org/public"
    )
    p.add_argument(
        "--cache-url", help="fetch the public cache tables (cache_info.json, cache.zip) from here first"
    )
    p.add_argument("--collection", action="append", help="only this collection (repeatable)")
    p.add_argument("--dataset", action="append", help="only datasets with this name (repeatable, wildcards)")
    p.add_argument("--no-raw", action="store_true", help="leave raw data folders (raw_*) out")
    p.add_argument("--verify", action="store_true", help="also check the md5 of files already present")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per connection or read (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_download)

    p = sub.add_parser("plot", help="a session overview figure (needs matplotlib)")
    _add_session_arguments(p, strict=True)
    p.add_argument("--out", required=True, help="image file to write (.png, .pdf, .svg)")
    p.set_defaults(run=_plot)

    p = sub.add_parser(
        "convert",
        help="write the session to NWB (neo-alf's writer) or NIX (Neo's NixIO)",
        usage=(
            "neo-alf convert [-h] [--example] [--cache-dir DIR] [--strict] [--overwrite] [--raw] "
            "[PATH|EID] OUT"
        ),
    )
    # one positional list, [target] output, split by _convert: argparse cannot split positionals
    # around an option (`EID --cache-dir DIR OUT`) between an optional target and an output
    _add_session_arguments(p, strict=True, target=False)
    p.add_argument(
        "paths",
        nargs="+",
        metavar="[PATH|EID] OUT",
        help="the session (unless --example), then out.nix or out.nwb",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.add_argument("--raw", action="store_true", help=".nwb: also write the raw SpikeGLX streams")
    p.set_defaults(run=_convert)

    from .aggregate import add_aggregate_parser

    add_aggregate_parser(sub)
    return parser


def _add_session_arguments(p: argparse.ArgumentParser, strict: bool = False, target: bool = True) -> None:
    """The arguments of every command that reads one session (resolved by :func:`_session_path`)."""
    if target:
        p.add_argument("target", nargs="?", help="a session folder, or an eid with --cache-dir")
    p.add_argument("--example", action="store_true", help="use the bundled example session")
    p.add_argument("--cache-dir", help="a ONE cache folder, to resolve an eid")
    if strict:
        p.add_argument(
            "--strict",
            action="store_true",
            help="refuse what the reader would otherwise tolerate with a warning",
        )


# ------------------------------------------------------------------------------------------ helpers


def _session_path(args) -> Path:
    """The session folder a command names: ``--example``, a folder, or an eid with ``--cache-dir``."""
    if getattr(args, "example", False):
        from .example import example_session

        return example_session()
    if not args.target:
        raise ValueError("give a session folder (or --example)")
    path = Path(args.target).expanduser()
    if path.is_dir():
        return path
    cache_dir = getattr(args, "cache_dir", None)
    if cache_dir:
        from .one import OneAdapter

        found = OneAdapter(cache_dir, progress=False).eid2path(args.target)
        if found is not None:
            return found
    raise FileNotFoundError(
        f"{args.target}: no such session folder"
        + ("" if cache_dir else " (pass --cache-dir to resolve an eid)")
    )


def _strict_kwargs(args) -> dict[str, bool]:
    """``strict=True`` only when asked: readers without the keyword keep working without it."""
    return {"strict": True} if getattr(args, "strict", False) else {}


# ------------------------------------------------------------------------------------------ commands


def describe(path: Path, strict: bool = False) -> dict[str, Any]:
    """What ``neo-alf info`` reports, as a JSON-ready dict.

    Parameters
    ----------
    path : Path
        The session folder.
    strict : bool
        Passed to :class:`~neo_alf.rawio.AlfRawIO` (only when True).
    """
    from .rawio import AlfRawIO

    reader = AlfRawIO(path, **({"strict": True} if strict else {}))
    reader.parse_header()
    session = reader.session
    objects = []
    for obj in session.objects:
        try:
            rows = obj.rows
        except AlfError:
            rows = None
        objects.append(
            {
                "collection": obj.collection,
                "object": obj.name,
                "kind": obj.kind,
                "rows": rows,
                "attributes": sorted(obj.datasets),
            }
        )
    h = reader.header
    per_probe: dict[str, int] = defaultdict(int)
    for ann in reader.raw_annotations["blocks"][0]["segments"][0]["spikes"]:
        per_probe[ann["collection"]] += 1
    signals = []
    for i, stream in enumerate(h["signal_streams"]):
        channels = h["signal_channels"][h["signal_channels"]["stream_id"] == stream["id"]]
        rate, samples = float(reader.get_signal_sampling_rate(i)), int(reader.get_signal_size(0, 0, i))
        signal = {
            "name": str(stream["name"]),
            "kind": "AnalogSignal",
            "channels": int(channels.size),
            "rate_hz": rate,
            "units": sorted(set(channels["units"].tolist())),
            "samples": samples,
            "t_start": float(reader.get_signal_t_start(0, 0, i)),
            "duration_s": samples / rate if rate else 0.0,
        }
        raw = reader.raw_stream(i)
        if raw is not None:  # a SpikeGLX recording: where it is, how big on disk
            signal["raw_file"] = os.path.basename(raw.data_path or raw.files[0])
            signal["file_bytes"] = sum(os.path.getsize(f) for f in raw.files if os.path.isfile(f))
            signal["session_clock"] = bool(raw.on_session_clock)
        signals.append(signal)
    for s in reader.layout.irregular:
        signals.append(
            {
                "name": s.name,
                "kind": "IrregularlySampledSignal",
                "samples": s.timebase.n_samples,
                "t_start": s.timebase.t_start,
            }
        )
    events = [
        str(n)
        for n, t in zip(h["event_channels"]["name"], h["event_channels"]["type"], strict=True)
        if t == b"event"
    ]
    epochs = [
        str(n)
        for n, t in zip(h["event_channels"]["name"], h["event_channels"]["type"], strict=True)
        if t == b"epoch"
    ]
    parts = session.parts
    return {
        "path": str(session.path),
        "session": parts.rel_path if parts else None,
        "revision": session.revisions[-1] if session.revisions else None,
        "collections": sorted(set(session.collections) | set(session.raw_collections)),
        "time_span_s": [reader.segment_t_start(0, 0), reader.segment_t_stop(0, 0)],
        "objects": objects,
        "neo": {"spiketrains": dict(per_probe), "signals": signals, "events": events, "epochs": epochs},
    }


def _info(args) -> int:
    info = describe(_session_path(args), strict=args.strict)
    if args.json:
        print(json.dumps(info, indent=1, default=_json_default))
        return 0
    t0, t1 = info["time_span_s"]
    print(f"session      {info['session'] or info['path']}")
    print(f"path         {info['path']}")
    print(f"time span    {t0:.3f} s to {t1:.3f} s")
    if info["revision"]:
        print(f"revision     {info['revision']} (newest)")
    print(f"collections  {', '.join(c or '(root)' for c in info['collections'])}")
    print("\nobjects")
    for o in info["objects"]:
        rows = "?" if o["rows"] is None else o["rows"]
        where = o["collection"] or "(root)"
        print(f"  {where:28} {o['object']:16} {o['kind']:11} {rows:>9} rows  {', '.join(o['attributes'])}")
    neo = info["neo"]
    print("\nNeo objects")
    for collection, n in neo["spiketrains"].items():
        print(f"  {n} SpikeTrains from {collection}")
    for s in neo["signals"]:
        if s["kind"] == "AnalogSignal":
            units = "/".join(u or "no unit" for u in s["units"])
            raw = ""
            if "raw_file" in s:
                clock = "session clock" if s["session_clock"] else "its own clock (no sync file)"
                raw = f" [raw {s['raw_file']}, {s['file_bytes'] / 2**20:.1f} MiB on disk, {clock}]"
            print(
                f"  AnalogSignal {s['name']}: {s['channels']} channels at {s['rate_hz']:g} Hz, "
                f"{units}, {s['samples']} samples ({s['duration_s']:.1f} s){raw}"
            )
        else:
            print(f"  IrregularlySampledSignal {s['name']}: {s['samples']} samples")
    print(f"  {len(neo['events'])} Events: {', '.join(neo['events'])}")
    print(f"  {len(neo['epochs'])} Epochs: {', '.join(neo['epochs'])}")
    return 0


def _validate(args) -> int:
    from .session import AlfSession

    path = _session_path(args)
    session = AlfSession(path)
    notes: list[str] = []  # files neo-alf does not read, tolerated IBL quirks: not errors
    errors = _unique(session.validate(notes))
    if notes:
        print(f"{len(notes)} note(s), not errors (files neo-alf does not read, tolerated quirks):")
        for note in notes:
            print(f"  {note}")
        print()
    if not errors:
        print(f"{path}: valid (no ALF rule broken)")
        return 0
    by_file: dict[str, list[AlfError]] = defaultdict(list)
    for err in errors:
        by_file[_where(err, path)].append(err)
    for where, errs in sorted(by_file.items()):
        print(where)
        for err in errs:
            print(f"  {type(err).__name__}: {err.detail}" + (f" (rule: {err.rule})" if err.rule else ""))
    print(f"\n{len(errors)} rule(s) broken in {len(by_file)} place(s)")
    return 1


def _unique(errors: list[AlfError]) -> list[AlfError]:
    """Each error once: checks that meet the same broken file report it the same way."""
    seen: set[tuple] = set()
    out = []
    for err in errors:
        key = (type(err).__name__, tuple(str(p) for p in err.paths), err.detail, err.rule)
        if key not in seen:
            seen.add(key)
            out.append(err)
    return out


def _where(err: AlfError, path: Path) -> str:
    return ", ".join(
        Path(p).relative_to(path).as_posix() if Path(p).is_relative_to(path) else str(p) for p in err.paths
    ) or str(path)


def _search(args) -> int:
    from .one import Downloader, OneAdapter

    one = OneAdapter(
        args.cache_dir, progress=False, cache_url=args.cache_url, downloader=Downloader(progress=False)
    )
    date_range = None
    if args.date:
        if len(args.date) > 2:
            raise ValueError(f"--date takes one day or first and last, not {len(args.date)} dates")
        date_range = args.date[0] if len(args.date) == 1 else (args.date[0], args.date[1])
    eids = one.search(
        subject=args.subject,
        lab=args.lab,
        number=args.number,
        task_protocol=args.task,
        projects=args.project,
        date_range=date_range,
        datasets=args.dataset or None,
    )
    rows = [
        {"eid": e, "session": str(one.eid2path(e).relative_to(one.cache_dir).as_posix() or ".")} for e in eids
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print(f"{row['eid']}  {row['session']}")
        print(f"{len(rows)} session(s)", file=sys.stderr)
        if not one.index.sessions:
            print(
                f"hint: {one.cache_dir} holds no session: a ONE cache folder has sessions.pqt/datasets.pqt"
                " or [lab/Subjects/]subject/yyyy-mm-dd/NNN folders (--cache-url fetches public tables)",
                file=sys.stderr,
            )
    return 0


def _download(args) -> int:
    from .errors import AlfDownloadError
    from .one import Downloader, OneAdapter

    downloader = Downloader(progress=not args.no_progress, timeout=args.timeout)
    one = OneAdapter(args.cache_dir, base_url=args.base_url, downloader=downloader, cache_url=args.cache_url)
    if one.index.source != "tables" or not (one.cache_dir / "datasets.pqt").is_file():
        raise AlfError(
            "no datasets.pqt: nothing says which files the session has"
            " (pass --cache-url to fetch the tables)",
            one.cache_dir,
            rule="downloads follow the cache tables",
        )
    try:
        fetched = one.download(
            args.eid,
            collection=args.collection,
            datasets=args.dataset,
            raw=not args.no_raw,
            verify=args.verify,
        )
    except AlfDownloadError as err:
        failures = getattr(err, "failures", None) or [(None, err)]
        for _, failure in failures:
            print(f"neo-alf: failed: {failure}", file=sys.stderr)
        got = len(getattr(err, "fetched", []) or [])
        print(f"{got} file(s) fetched, {len(failures)} failed", file=sys.stderr)
        return 1
    print(f"{len(fetched)} file(s) fetched into {one.eid2path(args.eid)}")
    return 0


def _plot(args) -> int:
    from .plot import plot_overview

    out = plot_overview(_session_path(args), args.out, **_strict_kwargs(args))
    print(f"wrote {out}")
    return 0


def _convert(args) -> int:
    from .io import AlfIO

    if len(args.paths) > 2 or (len(args.paths) == 2) == args.example:
        raise ValueError("give a session (folder or eid) and an output file, or --example and an output file")
    args.target = args.paths[0] if len(args.paths) == 2 else None
    out = Path(args.paths[-1]).expanduser()
    suffix = out.suffix.lower()
    if suffix not in (".nix", ".nwb"):
        raise ValueError(f"{out}: write .nix (NixIO) or .nwb (NWBIO)")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: no such folder (convert writes into an existing folder)")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out}: exists (pass --overwrite to replace it)")
    if suffix == ".nwb":  # neo-alf's own writer: every ALF dataset under its name (docs/interop.rst)
        from .nwb import write_nwb

        written = write_nwb(
            _session_path(args), out, overwrite=args.overwrite, raw=args.raw, **_strict_kwargs(args)
        )
        print(f"wrote {written}")
        return 0
    writer = _nix_writer
    writer(None)  # the extra is missing: say so before reading the whole session
    block = _plain_annotations(AlfIO(_session_path(args), **_strict_kwargs(args)).read_block())
    # write beside the target, then rename: a failed write never leaves half a file under its name
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=suffix, dir=out.parent)
    os.close(fd)
    os.unlink(tmp)  # the writers create the file themselves
    try:
        writer(block, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {out}")
    return 0


def _nix_writer(block, path: str | None = None) -> None:
    try:
        import nixio  # noqa: F401
        from neo.io import NixIO
    except ImportError:
        raise ImportError("writing .nix needs nixio: pip install 'neo-alf[nix]'") from None
    if block is not None:
        with NixIO(path, mode="ow") as writer:
            writer.write_block(block)


def _plain_annotations(block):
    """Writers store annotations of plain types: numpy scalars become Python numbers."""
    for obj in [block, *block.segments, *block.groups] + [
        o
        for seg in block.segments
        for o in (
            *seg.spiketrains,
            *seg.analogsignals,
            *seg.irregularlysampledsignals,
            *seg.events,
            *seg.epochs,
        )
    ]:
        for key, value in list(obj.annotations.items()):
            if isinstance(value, np.generic):
                obj.annotations[key] = value.item()
    return block


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
