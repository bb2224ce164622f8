"""``suv``: the SUV factors each PET instance's header gives, or why it gives none."""

from __future__ import annotations

import argparse
import sys

from seganypet_node.commands import print_json
from seganypet_node.config import Config


def suv(config: Config, args: argparse.Namespace) -> int:
    """Print each instance's SUVbw and SUL factors and the rule, or why there are none."""
    from seganypet_node.imaging.suv_report import instance_suv_factors

    rows = instance_suv_factors(args.files)
    if not rows:
        print("seganypet-node: no files found", file=sys.stderr)
        return 1
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(r.file)
            if r.suvbw is None:
                print(f"  units {r.units or '-'}: no SUV: {r.reason}")
                continue
            sul = f"{r.sul:.6g}" if r.sul is not None else "none (needs sex, height, weight)"
            lbm = f" (lean body mass {r.lean_body_mass_kg:.1f} kg)" \
                if r.lean_body_mass_kg is not None else ""
            print(f"  units {r.units}: SUVbw factor {r.suvbw:.6g}, SUL factor {sul}{lbm}")
            print(f"  per rescaled value (slope {r.rescale_slope:g}, intercept "
                  f"{r.rescale_intercept:g}); rule: {r.rule}")
    return 0 if any(r.suvbw is not None for r in rows) else 1
