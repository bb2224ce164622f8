"""Time one crop through encoder + prompt encoder + decoder, and one extra click.

Variants (each in its own process, so peak RSS is its own; rounds alternate the order):
  official   vit_b_ori, the node's implementation (closed-form window padding)
  reference  vit_b_ori, the padded 14^3 window attention computed literally, as the spec and
             the authors' code do (the "straightforward implementation")
  compact    the bundled compact configuration

Usage:  python benchmarks/model_bench.py [--rounds 3] [--repeats 2] [--threads 2] [--device cpu]
Writes benchmarks/results/model_bench.json and prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def build(variant: str, device: str):  # type: ignore[no-untyped-def]
    import torch

    from seganypet_node.model import COMPACT, VIT_B_ORI, build_sam3d

    torch.manual_seed(0)
    model = build_sam3d(COMPACT if variant == "compact" else VIT_B_ORI)
    with torch.no_grad():  # non-zero relative tables and biases, as trained weights have
        for name, parameter in model.named_parameters():
            if "rel_pos" in name or name.endswith("bias") or "pos_embed" in name:
                parameter.normal_(0, 0.5 if "rel_pos" in name else 0.1)
    model.image_encoder.literal = variant == "reference"
    return model.to(device).eval()


def run_crop(model, device: str):  # type: ignore[no-untyped-def]
    import torch

    size = model.config.crop_size
    low = model.config.low_res_size
    crop = torch.randn(1, 1, size, size, size, generator=torch.Generator().manual_seed(1))
    coords = torch.tensor([[[size * 0.4, size * 0.5, size * 0.6]]])
    labels = torch.tensor([[1]])
    with torch.inference_mode():
        start = time.perf_counter()
        embedding = model.image_encoder(crop.to(device))
        pe = model.prompt_encoder.get_dense_pe()
        sparse, dense = model.prompt_encoder(points=(coords.to(device), labels.to(device)),
                                             boxes=None, masks=torch.zeros(1, 1, low, low, low,
                                                                           device=device))
        logits, _ = model.mask_decoder(image_embeddings=embedding, image_pe=pe,
                                       sparse_prompt_embeddings=sparse,
                                       dense_prompt_embeddings=dense, multimask_output=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        crop_s = time.perf_counter() - start
        start = time.perf_counter()  # one more click on the cached embedding
        sparse, dense = model.prompt_encoder(points=(coords.to(device), labels.to(device)),
                                             boxes=None, masks=logits)
        model.mask_decoder(image_embeddings=embedding, image_pe=pe,
                           sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                           multimask_output=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        click_s = time.perf_counter() - start
    return crop_s, click_s, logits.float().cpu()


def worker(variant: str, repeats: int, threads: int, device: str) -> None:
    import torch

    torch.set_num_threads(threads)
    model = build(variant, device)
    run_crop(model, device)  # warm-up
    crops, clicks = [], []
    for _ in range(repeats):
        crop_s, click_s, logits = run_crop(model, device)
        crops.append(crop_s)
        clicks.append(click_s)
    if variant != "compact":
        torch.save(logits, RESULTS / f".logits_{variant}.pt")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"crop_s": crops, "click_s": clicks, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", default="official,reference,compact")
    parser.add_argument("--worker")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.worker:
        worker(args.worker, args.repeats, args.threads, args.device)
        return
    variants = args.variants.split(",")
    samples: dict[str, dict[str, list[float]]] = {v: {"crop_s": [], "click_s": [],
                                                      "peak_rss_mb": []} for v in variants}
    for round_number in range(args.rounds):
        order = variants if round_number % 2 == 0 else variants[::-1]
        for variant in order:
            print(f"round {round_number + 1}/{args.rounds}: {variant} ...", file=sys.stderr,
                  flush=True)
            out = subprocess.run(
                [sys.executable, __file__, "--worker", variant, "--repeats", str(args.repeats),
                 "--threads", str(args.threads), "--device", args.device],
                capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            samples[variant]["crop_s"] += result["crop_s"]
            samples[variant]["click_s"] += result["click_s"]
            samples[variant]["peak_rss_mb"].append(result["peak_rss_mb"])
    report(samples, args)


def report(samples: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    import torch

    summary = {
        v: {"median_crop_s": statistics.median(s["crop_s"]),
            "median_click_ms": statistics.median(s["click_s"]) * 1000,
            "peak_rss_mb": max(s["peak_rss_mb"]), "crops_timed": len(s["crop_s"])}
        for v, s in samples.items()
    }
    if {"official", "reference"} <= set(samples):
        fast = torch.load(RESULTS / ".logits_official.pt")
        slow = torch.load(RESULTS / ".logits_reference.pt")
        summary["official"]["max_abs_logit_diff_vs_reference"] = float((fast - slow).abs().max())
        summary["official"]["speedup_vs_reference"] = (
            summary["reference"]["median_crop_s"] / summary["official"]["median_crop_s"])
    machine = {"platform": platform.platform(), "processor": platform.processor(),
               "torch": torch.__version__, "threads": args.threads, "device": args.device}
    command = " ".join(["python", "benchmarks/model_bench.py", *sys.argv[1:]])
    (RESULTS / "model_bench.json").write_text(json.dumps(
        {"command": command, "machine": machine, "summary": summary, "samples": samples},
        indent=2) + "\n")
    print(table(summary))


def table(summary: dict[str, dict[str, float]]) -> str:
    """Markdown table of a run's summary (also used by update_results.py)."""
    names = {"official": "official `vit_b_ori`, node implementation",
             "reference": "reference: padded 14^3 window attention computed literally",
             "compact": "compact (`seganypet_compact`, 64^3 at 4 mm)"}
    lines = ["| variant | median s / crop (encoder + prompt + decoder) | median ms / extra click "
             "(cached embedding) | peak RSS MB | crops |", "|---|---|---|---|---|"]
    for variant, s in summary.items():
        lines.append(f"| {names.get(variant, variant)} | {s['median_crop_s']:.2f} | "
                     f"{s['median_click_ms']:.0f} | {s['peak_rss_mb']:.0f} | "
                     f"{s['crops_timed']:.0f} |")
    if "speedup_vs_reference" in summary.get("official", {}):
        o = summary["official"]
        lines.append(f"\nOfficial vs reference in the same run: {o['speedup_vs_reference']:.1f}x "
                     f"faster, max |logit difference| {o['max_abs_logit_diff_vs_reference']:.1e}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
