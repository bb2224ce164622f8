"""``model``, ``train`` and ``evaluate``: the network, its training and its scores."""

from __future__ import annotations

import argparse

from seganypet_node.commands import print_json
from seganypet_node.config import Config
from seganypet_node.errors import UsageError


def model_info(config: Config, args: argparse.Namespace) -> int:
    """Print which checkpoint the node would load, and what it is."""
    from seganypet_node.model.configured import load_configured_model, runtime_options

    loaded = load_configured_model(config)
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
    from seganypet_node.training.train import TrainingPlan
    from seganypet_node.training.train import train as run_training

    plan = TrainingPlan(out=args.out, steps=args.steps, batch=args.batch,
                        subjects=args.subjects, threads=config.model.threads,
                        learning_rate=args.learning_rate, warmup=args.warmup, init=args.init,
                        focus=tuple(args.focus.split(",")) if args.focus else (),
                        hard_subjects=args.hard_subjects)
    run_training(plan, log=lambda line: print(line, flush=True))
    return 0


def evaluate(config: Config, args: argparse.Namespace) -> int:
    """Dice and HD95 on held-out phantoms (clicks, or the automatic pipeline)."""
    from seganypet_node.evaluation.clicks import evaluate_phantoms, evaluate_totalseg, write_report
    from seganypet_node.pipeline.run import predictor_from_config
    from seganypet_node.training.train import EVAL_SEEDS_START

    if args.checkpoint is not None:
        config = config.with_overrides("model", checkpoint=str(args.checkpoint))
    if args.lesions:
        return _evaluate_lesions(config, args)
    if args.automatic:
        return _evaluate_automatic(config, args)
    predictor, loaded = predictor_from_config(config)
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
    from seganypet_node.evaluation.automatic import (
        CASES,
        HARD_SEEDS_START,
        evaluate_cases,
        hard_cases,
        write_report,
    )
    from seganypet_node.pipeline import pipeline_from_config

    pipeline = pipeline_from_config(config)
    log = lambda line: print(line, flush=True)  # noqa: E731
    if args.hard:
        first = HARD_SEEDS_START if args.hard_first is None else args.hard_first
        try:
            cases = hard_cases(args.hard, first)
        except ValueError as exc:
            raise UsageError(f"--hard-first: {exc}") from exc
        scores = evaluate_cases(pipeline, cases, log)
        name = "pipeline_hard.md" if first == HARD_SEEDS_START else f"pipeline_hard_{first}.md"
        print(write_report(scores, args.out / name,
                           f"Automatic pipeline on the hard held-out set (seeds "
                           f"{first}-{first + args.hard - 1}), "
                           f"{pipeline.checkpoint_name}"))
        return 0
    scores = evaluate_cases(pipeline, CASES[:args.subjects], log)
    print(write_report(scores, args.out / "pipeline.md",
                       f"Automatic pipeline (atlas prompts) on held-out phantoms, "
                       f"{pipeline.checkpoint_name}"))
    return 0


def _evaluate_lesions(config: Config, args: argparse.Namespace) -> int:
    from seganypet_node.evaluation.lesions import evaluate_lesions, lesion_specs, write_report
    from seganypet_node.pipeline import pipeline_from_config

    pipeline = pipeline_from_config(config)
    log = lambda line: print(line, flush=True)  # noqa: E731
    for hard, name, title in ((False, "lesions.md", "tumour-rich phantoms, quiet physiology"),
                              (True, "lesions_hard.md", "hard population (lesion mimics)")):
        scores = evaluate_lesions(pipeline, lesion_specs(args.lesions, hard), log)
        print(write_report(scores, args.out / name,
                           f"Lesion search on held-out {title}, {pipeline.checkpoint_name}"))
    return 0
