"""``phantom``: synthetic whole-body PET studies with their ground truth, typical or varied."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from seganypet_node.config import Config
from seganypet_node.errors import UsageError

if TYPE_CHECKING:
    from seganypet_node.phantom.generate import PhantomSpec
    from seganypet_node.phantom.variations import Tumour


def phantom(config: Config, args: argparse.Namespace) -> int:
    """Write a whole-body phantom study with its ground truth."""
    from seganypet_node.phantom.generate import generate

    study = generate(phantom_spec(args), args.out, ct=args.ct, reference_seg=args.reference_seg)
    print(f"wrote {len(study.files)} PET slices to {study.dicom_dir}, "
          f"ground truth {study.labels_path}")
    return 0


# --findings names and the Variation fields they switch on.
FINDINGS = {"bowel": "hot_bowel", "ureters": "ureters", "catheter": "catheter",
            "muscle": "muscle", "brown_fat": "brown_fat", "injection": "injection_site",
            "hyperglycaemia": "hyperglycaemia"}


def add_variation_options(parser: argparse.ArgumentParser) -> None:
    """``phantom`` options for the variations real patients show (:mod:`phantom.variations`)."""
    from seganypet_node.phantom.variations import ArmPose, FieldBottom, FieldTop, Myocardium

    group = parser.add_argument_group(
        "variations", "pose, field, physiology and tumours; any of them makes --top/--bottom "
        "(default vertex to mid-thigh) set the number of slices")
    group.add_argument("--hard", action="store_true",
                       help="draw pose, field, physiology, tumours, body and scanner from the "
                            "seed (the hard evaluation population); other options override")
    group.add_argument("--arms", choices=[a.value for a in ArmPose])
    group.add_argument("--top", choices=[t.value for t in FieldTop], help="cranial end")
    group.add_argument("--bottom", choices=[b.value for b in FieldBottom], help="caudal end")
    group.add_argument("--slice-mm", type=float, help="slice spacing (default: --voxel-mm)")
    group.add_argument("--fwhm-mm", type=float, help="scanner resolution (default 6)")
    group.add_argument("--counts", type=float, metavar="FRACTION",
                       help="count level relative to the default (e.g. 0.33)")
    group.add_argument("--height-mm", type=float)
    group.add_argument("--girth", type=float, help="body width scale (0.8 thin - 1.45 obese)")
    group.add_argument("--bladder-fill", type=float, help="bladder scale, 0.45 empty - 1.6 full")
    group.add_argument("--myocardium", choices=[m.value for m in Myocardium])
    group.add_argument("--effusion", choices=["left", "right", "both"])
    group.add_argument("--findings", metavar="LIST",
                       help="comma-separated: " + ", ".join(FINDINGS))
    group.add_argument("--tumour", action="append", default=[], metavar="SITE:ML[:NECROTIC]",
                       help="a tumour (repeatable); sites: thigh, arm, beside_bladder, "
                            "beside_kidney, beside_heart, liver, lung, bone, lymph_node")


def phantom_spec(args: argparse.Namespace) -> PhantomSpec:
    """The :class:`PhantomSpec` the ``phantom`` options describe."""
    import dataclasses

    from seganypet_node.phantom.generate import PhantomSpec
    from seganypet_node.phantom.variations import (
        ArmPose,
        FieldBottom,
        FieldTop,
        Myocardium,
        Variation,
    )

    base = PhantomSpec(seed=args.seed, slices=args.slices, matrix=args.matrix,
                       voxel_mm=args.voxel_mm, lesions=args.lesions, coverage=args.coverage)
    if args.hard:
        base = dataclasses.replace(PhantomSpec.hard(args.seed), lesions=args.lesions)
    scan = {k: v for k, v in (("slice_mm", args.slice_mm), ("fwhm_mm", args.fwhm_mm),
                              ("height_mm", args.height_mm), ("girth", args.girth)) if v}
    if args.counts:
        scan["counts_per_suv_ml"] = PhantomSpec.counts_per_suv_ml * args.counts
    findings = set(args.findings.split(",")) if args.findings else set()
    unknown = findings - set(FINDINGS)
    if unknown:
        raise UsageError(f"unknown --findings {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(FINDINGS)}")
    changes: dict[str, Any] = {
        name: kind(value) for name, kind, value in (
            ("arms", ArmPose, args.arms), ("top", FieldTop, args.top),
            ("bottom", FieldBottom, args.bottom), ("myocardium", Myocardium, args.myocardium))
        if value}
    changes |= {k: v for k, v in (("bladder_fill", args.bladder_fill),
                                  ("effusion", args.effusion)) if v}
    changes |= {FINDINGS[name]: True for name in findings}
    if args.tumour:
        changes["tumours"] = tuple(_tumour(text) for text in args.tumour)
    variation = base.variation
    if changes:
        variation = dataclasses.replace(variation or Variation(
            top=FieldTop.SKULL_BASE if args.coverage == "skull_base" else FieldTop.VERTEX),
            **changes)
    return dataclasses.replace(base, variation=variation, **scan)


def _tumour(text: str) -> Tumour:
    from seganypet_node.phantom.variations import Tumour, TumourSite

    parts = text.split(":")
    try:
        site = TumourSite(parts[0])
        volume = float(parts[1])
        necrotic = float(parts[2]) if len(parts) > 2 else 0.0
    except (ValueError, IndexError):
        raise UsageError(f"--tumour {text!r}: give SITE:ML[:NECROTIC], sites "
                         f"{', '.join(t.value for t in TumourSite)}") from None
    return Tumour(site, volume, necrotic)
