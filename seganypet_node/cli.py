"""The ``seganypet-node`` command: parses arguments and calls the module that does the work."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from seganypet_node import __version__
from seganypet_node.bootstrap import StopSignal, bootstrap, start_log_file
from seganypet_node.commands import check as consistency
from seganypet_node.commands import jobs as jobs_commands
from seganypet_node.commands import model as model_commands
from seganypet_node.commands import phantom as phantom_commands
from seganypet_node.commands import review as review_commands
from seganypet_node.commands import send as send_commands
from seganypet_node.commands import suv as suv_commands
from seganypet_node.config import Config, load_config
from seganypet_node.errors import NodeError, UsageError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status.

    Expected failures (:class:`~seganypet_node.errors.NodeError`) are printed as one line
    and exit with their code; anything else is a bug and keeps its traceback.
    """
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        bootstrap(config)
        result: int = args.handler(config, args)
    except NodeError as exc:
        print(f"seganypet-node: {exc.label}{exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`suv DIR | head`): what it read is all it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


def _config(args: argparse.Namespace) -> Config:
    config = load_config(getattr(args, "config", None))
    node_overrides = {
        key: getattr(args, key) for key in ("data_dir", "port", "ae_title", "host")
        if getattr(args, key, None) is not None
    }
    if node_overrides:
        config = config.with_overrides("node", **{k: _raw(v) for k, v in node_overrides.items()})
    if getattr(args, "workers", None) is not None:
        config = config.with_overrides("worker", count=args.workers)
    return config


def _raw(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _stop_on_signals() -> StopSignal:
    return StopSignal()


def _serve(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.app import NodeApp

    start_log_file(config)
    stop = _stop_on_signals()
    app = NodeApp(config)
    app.start()
    stop.wait()
    app.stop()
    return 0


def _worker(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.app import open_database
    from seganypet_node.worker import job_workers

    start_log_file(config, "worker")
    stop = _stop_on_signals()
    database = open_database(config)
    workers = job_workers(config, database.sessions)
    for worker in workers:
        worker.start()
    print(f"seganypet-node worker: {len(workers)} thread(s) polling the queue", flush=True)
    stop.wait()
    for worker in workers:
        worker.request_stop()  # each hands its job back at once
    for worker in workers:
        worker.stop()
    return 0


def _segment(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.offline import report, segment_files

    if args.organs:
        config = config.with_overrides("pipeline", organs=args.organs)
    if args.checkpoint is not None:
        config = config.with_overrides("model", checkpoint=str(args.checkpoint))
    result = segment_files(config, args.sources, args.out, spacing_mm=args.spacing)
    print(report(result, args.out))
    return 0


def _atlas_build(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.atlas.build import build_atlas, folder_volumes
    from seganypet_node.phantom.atlas_subjects import phantom_volumes

    log = lambda line: print(line, flush=True)  # noqa: E731
    if args.phantoms:
        volumes = list(phantom_volumes(args.phantoms, log=log))
        description = f"{args.phantoms} phantom subjects (seeds from 5000)"
    else:
        volumes = list(folder_volumes(args.cases, log=log))
        description = args.description or f"{len(volumes)} labelled PET volumes"
    if not volumes:
        raise UsageError("give case folders or --phantoms N")
    build_atlas(volumes, description, log).save(args.out)
    print(f"atlas written to {args.out}")
    return 0


def _db(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.db.connect import connect, connect_and_migrate
    from seganypet_node.db.migrate import current_revision, head_revision

    if args.db_command == "upgrade":
        print(f"database at revision {connect_and_migrate(config.database_url)[1]}")
    else:
        engine = connect(config.database_url)
        current = current_revision(engine) or "none (empty: `db upgrade` or `serve` creates it)"
        print(f"database at revision {current}; code head {head_revision(engine)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="site configuration file (TOML) over the embedded defaults")
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="data directory (spool, SQLite database)")
    parser = argparse.ArgumentParser(prog="seganypet-node", parents=[common],
                                     description="DICOM PET segmentation node (SegAnyPET)")
    parser.add_argument("--version", action="version", version=f"seganypet-node {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the DICOM node")
    serve.add_argument("--port", type=int)
    serve.add_argument("--ae-title")
    serve.add_argument("--host", help="address to listen on")
    serve.add_argument("--workers", type=int, help="segmentation worker processes ([worker] count)")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", parents=[common],
                                 help="run segmentation workers on the shared queue")
    worker.add_argument("--workers", type=int, help="worker threads ([worker] count)")
    worker.set_defaults(handler=_worker)

    segment = commands.add_parser("segment", parents=[common],
                                  help="segment a DICOM folder or a NIfTI offline")
    segment.add_argument("sources", type=Path, nargs="+", metavar="DIR_OR_FILES")
    segment.add_argument("--out", type=Path, required=True)
    segment.add_argument("--organs", help="comma-separated catalogue names")
    segment.add_argument("--checkpoint", type=Path)
    segment.add_argument("--spacing", type=float, nargs=3, metavar=("X", "Y", "Z"),
                         help="voxel size in mm, for a NIfTI file that carries none")
    segment.set_defaults(handler=_segment)

    atlas = commands.add_parser("atlas", parents=[common], help="atlas assets")
    atlas_commands = atlas.add_subparsers(dest="atlas_command", required=True)
    atlas_build = atlas_commands.add_parser(
        "build", parents=[common], help="build an atlas from labelled PET case folders")
    atlas_build.add_argument("cases", type=Path, nargs="*", metavar="CASE_DIR",
                             help="folders with dicom/ (or pet.nii.gz), labels.nii.gz, "
                                  "labels.json")
    atlas_build.add_argument("--phantoms", type=int, default=0,
                             help="build from N phantom subjects instead")
    atlas_build.add_argument("--out", type=Path, required=True)
    atlas_build.add_argument("--description")
    atlas_build.set_defaults(handler=_atlas_build)

    jobs = commands.add_parser("jobs", parents=[common], help="list series and their jobs")
    jobs.add_argument("--json", action="store_true", help="machine-readable output")
    jobs.add_argument("--limit", type=int, default=200)
    jobs.add_argument("--wide", action="store_true",
                      help="full UIDs, caller and result folder, one block per series")
    again = jobs.add_mutually_exclusive_group()
    again.add_argument("--retry", type=int, metavar="JOB_ID", help="queue a failed job again")
    again.add_argument("--rerun", type=int, metavar="JOB_ID",
                       help="run a done job again (after a model or atlas update)")
    jobs.set_defaults(handler=jobs_commands.jobs)

    db = commands.add_parser("db", parents=[common], help="database schema")
    db.add_argument("db_command", choices=["upgrade", "current"])
    db.set_defaults(handler=_db)

    model = commands.add_parser("model", parents=[common],
                                help="load the configured checkpoint and describe it")
    model.set_defaults(handler=model_commands.model_info)

    trainer = commands.add_parser("train", parents=[common],
                                  help="train the compact network on phantoms (resumable)")
    trainer.add_argument("--out", type=Path, required=True, help="work folder (resumes there)")
    trainer.add_argument("--steps", type=int, default=3000)
    trainer.add_argument("--batch", type=int, default=8)
    trainer.add_argument("--subjects", type=int, default=24)
    trainer.add_argument("--hard-subjects", type=int, default=0,
                         help="add N subjects of the hard population (see phantom --hard)")
    trainer.add_argument("--learning-rate", type=float, default=4e-4)
    trainer.add_argument("--warmup", type=int, default=150, help="warm-up steps")
    trainer.add_argument("--init", type=Path, metavar="CHECKPOINT",
                         help="fine-tune: start from this checkpoint's weights and network")
    trainer.add_argument("--focus", metavar="ORGANS",
                         help="comma-separated organs that half of the crops target")
    trainer.set_defaults(handler=model_commands.train)

    evaluate = commands.add_parser("evaluate", parents=[common],
                                   help="Dice and HD95 per organ on held-out phantoms")
    evaluate.add_argument("--checkpoint", type=Path)
    evaluate.add_argument("--subjects", type=int, default=6)
    evaluate.add_argument("--out", type=Path, required=True)
    evaluate.add_argument("--automatic", action="store_true",
                          help="the whole pipeline (atlas prompts vs ideal prompts) on "
                               "held-out cases; --subjects caps the cases")
    evaluate.add_argument("--hard", type=int, default=0, metavar="N",
                          help="with --automatic: N cases of the hard population (pose, "
                               "field, physiology, tumours, scanners; seeds from 9300)")
    evaluate.add_argument("--hard-first", type=int, default=None, metavar="SEED",
                          help="first seed of the hard cases (default 9300); a second "
                               "held-out set checks rules developed on the first")
    evaluate.add_argument("--totalseg", action="store_true",
                          help="also the PET simulated on the TotalSegmentator example CT")
    evaluate.add_argument("--lesions", type=int, default=0, metavar="N",
                          help="the lesion search on N held-out tumour-rich phantoms (seeds "
                               "from 9500) and N of the hard population (seeds from 9400)")
    evaluate.set_defaults(handler=model_commands.evaluate)

    suv = commands.add_parser("suv", parents=[common],
                              help="SUVbw and SUL factors of PET series from their headers")
    suv.add_argument("files", type=Path, nargs="+", metavar="FILE_OR_DIR",
                     help="DICOM files or folders (walked; non-DICOM files are skipped)")
    suv.add_argument("--per-instance", action="store_true",
                     help="every instance's factors instead of one summary per series")
    suv.add_argument("--json", action="store_true", help="machine-readable output")
    suv.set_defaults(handler=suv_commands.suv)

    send = commands.add_parser("send", parents=[common],
                               help="list result transfers; --retry failed ones; --run now")
    send.add_argument("--retry", type=int, nargs="*", metavar="ID",
                      help="queue failed transfers again (all when no id is given)")
    send.add_argument("--run", action="store_true", help="send everything due, then exit")
    send.add_argument("--json", action="store_true", help="machine-readable list")
    send.add_argument("--limit", type=int, default=200)
    send.set_defaults(handler=send_commands.send)

    check = commands.add_parser("check", parents=[common],
                                help="do spool, result folders and database agree?")
    check.add_argument("--repair", action="store_true",
                       help="repair what can be (see the report for what was done)")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    check.set_defaults(handler=consistency.check)

    phantom = commands.add_parser("phantom", parents=[common],
                                  help="write a synthetic whole-body FDG PET study")
    phantom.add_argument("--seed", type=int, required=True)
    phantom.add_argument("--out", type=Path, required=True)
    phantom.add_argument("--slices", type=int, default=300)
    phantom.add_argument("--matrix", type=int, default=168, help="rows = columns")
    phantom.add_argument("--voxel-mm", type=float, default=4.0)
    phantom.add_argument("--lesions", type=int, default=0)
    phantom.add_argument("--ct", action="store_true", help="also write the CT series to OUT/ct")
    phantom.add_argument("--reference-seg", action="store_true",
                         help="also write the ground truth as a DICOM SEG")
    phantom.add_argument("--coverage", choices=["vertex", "skull_base", "random"],
                         default="vertex", help="top of the field of view")
    phantom_commands.add_variation_options(phantom)
    phantom.set_defaults(handler=phantom_commands.phantom)
    review_commands.add_parsers(commands, common, _stop_on_signals)
    return parser
