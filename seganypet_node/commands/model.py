"""``model``, ``train``, ``evaluate`` and ``phantom``: the network, its training data and scores."""

from __future__ import annotations

import argparse
import sys

from seganypet_node.commands import print_json
from seganypet_node.config import Config


def model_info(config: Config, args: argparse.Namespace) -> int:
    """Print which checkpoint the node would load, and what it is."""
    from seganypet_node.model.checkpoint import CheckpointError
    from seganypet_node.model.registry import load_configured_model, runtime_options

    try:
        loaded = load_configured_model(config)
    except CheckpointError as exc:
        print(f"seganypet-node: {exc}", file=sys.stderr)
        return 1
    parameters = sum(p.numel() for p in loaded.model.parameters())
    info = {
        "checkpoint": str(loaded.path), "sha256": loaded.sha256, "layout": loaded.layout,
        "rel_pos_bias": loaded.config.rel_pos_bias.value,
        "network": loaded.config.to_dict(), "parameters": parameters,
        "device": str(runtime_options(config).resolved_device()), "meta": dict(loaded.meta),
    }
    print_json(info)
    return 0


def train(config: Config, args: argparse.Namespace) -> int:
    """Train (or resume, or fine-tune) a network on phantoms, with progress lines."""
    from seganypet_node.model.train import TrainingPlan
    from seganypet_node.model.train import train as run_training

    plan = TrainingPlan(out=args.out, steps=args.steps, batch=args.batch,
                        subjects=args.subjects, threads=config.model.threads,
                        learning_rate=args.learning_rate, warmup=args.warmup, init=args.init,
                        focus=tuple(args.focus.split(",")) if args.focus else ())
    run_training(plan, log=lambda line: print(line, flush=True))
    return 0


def evaluate(config: Config, args: argparse.Namespace) -> int:
    """Dice and HD95 on held-out phantoms (clicks, or the automatic pipeline)."""
    from seganypet_node.model.engine import SamEngine
    from seganypet_node.model.evaluate import evaluate_phantoms, evaluate_totalseg, write_report
    from seganypet_node.model.predictor import SegAnyPETPredictor
    from seganypet_node.model.registry import load_configured_model, runtime_options
    from seganypet_node.model.train import EVAL_SEEDS_START

    if args.checkpoint is not None:
        config = config.with_overrides("model", checkpoint=str(args.checkpoint))
    if args.automatic:
        return _evaluate_automatic(config, args)
    loaded = load_configured_model(config)
    predictor = SegAnyPETPredictor(SamEngine(loaded.model, runtime_options(config)))
    seeds = range(EVAL_SEEDS_START, EVAL_SEEDS_START + args.subjects)
    log = lambda line: print(line, flush=True)  # noqa: E731
    table = write_report(evaluate_phantoms(predictor, seeds, log), args.out / "phantoms.md",
                         f"Held-out phantoms (seeds {seeds.start}-{seeds.stop - 1}), "
                         f"{loaded.path.name}")
    print(table)
    if args.totalseg:
        print(write_report(evaluate_totalseg(predictor, log), args.out / "totalseg_ct.md",
                           f"PET simulated on the TotalSegmentator example CT, "
                           f"{loaded.path.name}"))
    return 0


def _evaluate_automatic(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.atlas.evaluate import CASES, evaluate_cases, write_report
    from seganypet_node.pipeline import pipeline_from_config

    pipeline = pipeline_from_config(config)
    log = lambda line: print(line, flush=True)  # noqa: E731
    scores = evaluate_cases(pipeline, CASES[:args.subjects], log)
    print(write_report(scores, args.out / "pipeline.md",
                       f"Automatic pipeline (atlas prompts) on held-out phantoms, "
                       f"{pipeline.checkpoint_name}"))
    return 0


def phantom(config: Config, args: argparse.Namespace) -> int:
    """Write a whole-body phantom study with its ground truth."""
    from seganypet_node.phantom.generate import PhantomSpec, generate

    spec = PhantomSpec(seed=args.seed, slices=args.slices, matrix=args.matrix,
                       voxel_mm=args.voxel_mm, lesions=args.lesions, coverage=args.coverage)
    study = generate(spec, args.out, ct=args.ct, reference_seg=args.reference_seg)
    print(f"wrote {len(study.files)} PET slices to {study.dicom_dir}, "
          f"ground truth {study.labels_path}")
    return 0
