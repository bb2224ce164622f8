"""The phantom subjects the default atlas (``models/atlas/``) is built from."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from seganypet_node.atlas.build import ATLAS_SEEDS_START, LabelledVolume
from seganypet_node.imaging.volume import as_image
from seganypet_node.phantom.generate import PhantomSpec, generate_volume


def phantom_volumes(count: int, first_seed: int = ATLAS_SEEDS_START,
                    log: Callable[[str], None] = print) -> Iterator[LabelledVolume]:
    """Phantom subjects for the default atlas (whole-body coverage, seeds of their own)."""
    for seed in range(first_seed, first_seed + count):
        volume = generate_volume(PhantomSpec(seed=seed, slices=380, matrix=160))
        grid = volume.grid
        log(f"atlas: phantom {seed} simulated")
        yield LabelledVolume(f"phantom{seed}", as_image(volume.suv, grid.spacing, grid.origin),
                             as_image(volume.labels, grid.spacing, grid.origin))
