"""Prompted segmentation of a patient volume: crops, clicks, windows for large organs.

Like segment-anything's ``SamPredictor``: give it an image once, then prompts (points in patient
LPS mm); it returns a mask on the image's own grid. An organ that reaches the border of its
crop is followed into overlapping windows seeded from the prediction so far, and the windows'
logits are merged, so no organ is cut at a crop border. A tube-like mask that stops inside its
crop is followed past its tips the same way, while that lengthens it, and pieces that crops on
points far apart left separate are joined by a window over the gap. Every catalogue organ is
one piece, so only mask connected to a positive click is kept: a window that also lights up a
neighbouring organ neither keeps it nor follows it further.

Two ways to tile, on purpose. :meth:`SegAnyPETPredictor.predict` starts from one click, as a
reader clicks, and follows the organ's borders into windows: the interactive path
(:meth:`~SegAnyPETPredictor.refine`) and the click-based evaluation, which scores the network
the way the paper does. :meth:`SegAnyPETPredictor.predict_points` starts from the several
points the atlas gives an organ, a crop on each: the node's automatic path, steadier for long
organs than following borders from one point. Both merge logits and follow tubes the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from scipy import ndimage

from seganypet_node.imaging.volume import as_float32, point_of_voxel
from seganypet_node.model.crop import CropGrid, array_to_crop, crossed_faces, footprint, on_lattice
from seganypet_node.model.ends import end_points, lengthens, principal_axis
from seganypet_node.model.engine import PromptableModel, upsample_logits
from seganypet_node.model.merging import CropLogits, keep_touching, merge_logits
from seganypet_node.model.pieces import gaps, piece_count
from seganypet_node.model.prediction import OUTSIDE_LOGIT, CropResult, Prediction, Prompt

PRIOR_LIMIT = 20.0  # mask prompts stay in the range of logits the network was trained on
END_RETRY_MM = 24.0  # a tip this close to one already tried is not tried again


class SegAnyPETPredictor:
    """Segment organs in one patient volume from point prompts.

    Parameters
    ----------
    engine : PromptableModel
        The network (usually :class:`seganypet_node.model.engine.SamEngine`).
    max_windows : int
        Most crops one organ may use.
    window_shift : float
        Shift between neighbouring windows as a fraction of the crop extent.
    """

    def __init__(self, engine: PromptableModel, max_windows: int = 8,
                 window_shift: float = 0.5) -> None:
        self.engine = engine
        self.max_windows = max_windows
        self.window_shift = window_shift
        self._image: sitk.Image | None = None

    def set_image(self, image: sitk.Image) -> None:
        """The volume to segment: any spacing and orientation, SUV or Bq/ml."""
        if image.GetDimension() != 3:
            raise ValueError("the predictor needs a 3D image")
        self._image = as_float32(image)
        clear = getattr(self.engine, "clear_cache", None)
        if clear is not None:
            clear()

    @property
    def image(self) -> sitk.Image:
        if self._image is None:
            raise RuntimeError("call set_image() before predicting")
        return self._image

    def crop_at(self, centre: Sequence[float]) -> CropGrid:
        """The model crop centred at an LPS point."""
        config = self.engine.config
        return CropGrid((float(centre[0]), float(centre[1]), float(centre[2])), config.crop_size,
                        config.spacing_mm, config.orientation)

    def predict(self, prompts: Sequence[Prompt], tile: bool = True) -> Prediction:
        """Segment the structure the prompts point at (first positive click centres the crop)."""
        return self.predict_many([prompts], tile=tile)[0]

    def predict_many(self, prompt_sets: Sequence[Sequence[Prompt]], tile: bool = True,
                     centre: Sequence[float] | None = None) -> list[Prediction]:
        """Several targets; with ``centre`` they share one crop and one encoder pass."""
        if centre is None:
            return [self._predict_one(prompts, None, tile) for prompts in prompt_sets]
        grid = self.crop_at(centre)
        firsts = self._decode(grid, [tuple(p) for p in prompt_sets], [None] * len(prompt_sets))
        return [self._predict_one(p, first, tile) for p, first in zip(prompt_sets, firsts,
                                                                        strict=True)]

    def predict_points(self, prompts: Sequence[Prompt], lattice_mm: float = 0.0) -> Prediction:
        """Segment one structure from several positive points, corrected by negative ones.

        Each positive point centres a crop that gets every positive point lying inside it; the
        crops' logits are merged. Spread points prompt a large organ along its whole length,
        which is steadier than following its borders from one click; a tube-like mask is still
        followed past its tips, and pieces left apart by points further apart than a crop are
        joined by a window over the gap. Negative points then act
        as the corrective clicks the network was trained with: only those the mask has leaked
        onto are added, one at a time, with the previous logits fed back. With ``lattice_mm``
        crop centres are rounded to that lattice, so organs close together share crops and
        encoder passes.
        """
        positives = [p for p in prompts if p.positive]
        if not positives:
            raise ValueError("at least one positive prompt is needed")
        grids: dict[tuple[int, int, int], CropGrid] = {}
        for anchor in positives:
            grid = self.crop_at(on_lattice(anchor.point, lattice_mm))
            grids.setdefault(grid.key, grid)
        crops = []
        for grid in grids.values():
            inside = tuple(p for p in positives if grid.contains(np.array(p.point), margin=1.0))
            crops.append(self._decode(grid, [inside], [None])[0])
        prediction = self._bridge_pieces(self._follow_ends(crops))
        for negative in (p for p in prompts if not p.positive):
            if _logit_at(prediction, negative.point) > 0:
                prediction = self.refine(prediction, [negative])
        return prediction

    def refine(self, previous: Prediction, new_clicks: Sequence[Prompt]) -> Prediction:
        """Add clicks one at a time to the crop that holds each, feeding its previous logits."""
        crops = list(previous.crops)
        for click in new_clicks:
            index = self._crop_for(crops, click)
            if index is None:
                crops.append(self._decode(self.crop_at(click.point), [(click,)], [None])[0])
                continue
            old = crops[index]
            crops[index] = self._decode(old.grid, [(*old.clicks, click)], [old.low_res])[0]
        return self._merge(crops)

    def decode_crop(self, grid: CropGrid, clicks: Sequence[Prompt],
                    prior: torch.Tensor | None = None) -> CropResult:
        """The network's answer on one crop for ``clicks``, with ``prior`` as the mask prompt
        ((1, 1, L, L, L) logits; None: none). The crop's embedding is cached by the engine,
        so further clicks on the same crop cost a decoder pass."""
        return self._decode(grid, [tuple(clicks)], [prior])[0]

    def embed_crop(self, grid: CropGrid) -> None:
        """Compute (and cache) the image embedding of a crop before a click needs it."""
        self.engine.embed(array_to_crop(self.image, grid), grid)

    def _predict_one(self, prompts: Sequence[Prompt], first: CropResult | None,
                     tile: bool) -> Prediction:
        if not prompts:
            raise ValueError("at least one prompt is needed")
        if first is None:
            anchor = next((p for p in prompts if p.positive), prompts[0])
            first = self._decode(self.crop_at(anchor.point), [tuple(prompts)], [None])[0]
        if not tile:
            return self._merge([first])
        return self._follow_ends(self._follow_borders([first]))

    def _decode(self, grid: CropGrid, click_sets: list[tuple[Prompt, ...]],
                previous: list[torch.Tensor | None]) -> list[CropResult]:
        """Run the network on one crop for several click sets (one encoder pass)."""
        crop = array_to_crop(self.image, grid)
        embedding = self.engine.embed(crop, grid)
        low = self.engine.config.low_res_size
        results: list[CropResult | None] = [None] * len(click_sets)
        by_length: dict[int, list[int]] = {}
        for i, clicks in enumerate(click_sets):
            by_length.setdefault(len(clicks), []).append(i)
        for members in by_length.values():  # equal click counts batch without padding
            coords = torch.from_numpy(np.stack([
                grid.to_index(np.array([c.point for c in click_sets[i]])) for i in members
            ])).float()
            labels = torch.tensor([[int(c.positive) for c in click_sets[i]] for i in members])
            masks = torch.cat([_prior(previous[i], low) for i in members])
            logits, iou = self.engine.decode(embedding, coords, labels, masks)
            for row, i in enumerate(members):
                results[i] = CropResult(grid, click_sets[i], logits[row:row + 1],
                                        float(iou[row, 0]))
        return [r for r in results if r is not None]

    def _follow_borders(self, crops: list[CropResult]) -> list[CropResult]:
        """Add windows where the mask reaches a crop face, seeded from the merged result."""
        visited = {crops[0].grid.key}
        frontier = [crops[0]]
        while frontier and len(crops) < self.max_windows:
            current = frontier.pop(0)
            for grid in self._neighbours(current):
                if grid.key in visited or len(crops) >= self.max_windows:
                    continue
                visited.add(grid.key)
                seeded = self._seeded_window(grid, self._merge(crops))
                if seeded is not None:
                    crops.append(seeded)
                    frontier.append(seeded)
        return crops

    def _follow_ends(self, crops: list[CropResult]) -> Prediction:
        """The merged crops, with windows centred on the tips of an elongated mask added while
        they lengthen it."""
        spacing = self.image.GetSpacing()[::-1]
        tried: list[np.ndarray] = []
        current = self._merge(crops)
        mask = current.local_mask()
        axis = principal_axis(mask, spacing)
        while axis is not None and len(current.crops) < self.max_windows:
            longer = None
            for index in end_points(mask, axis, spacing):
                seed = Prompt(self._point_at(index + current.offset))
                tip = np.array(seed.point)
                if any(np.linalg.norm(tip - t) < END_RETRY_MM for t in tried):
                    continue
                tried.append(tip)
                window = self._seeded_window(self.crop_at(seed.point), current, (seed,))
                if window is None:
                    continue
                trial = self._merge([*current.crops, window])
                trial_mask = trial.local_mask()
                trial_axis = principal_axis(trial_mask, spacing)
                if lengthens(axis, trial_axis):
                    # The trial's mask and axis are the next round's: not computed again.
                    longer = (trial, trial_mask, trial_axis)
                    break
            if longer is None:
                break
            current, mask, axis = longer
        return current

    def _bridge_pieces(self, current: Prediction) -> Prediction:
        """The prediction with windows over the gaps between its pieces, each kept when it
        joins two of them."""
        spacing = self.image.GetSpacing()[::-1]
        pending = gaps(current.local_mask(), spacing)
        offset = current.offset
        pieces = len(pending) + 1  # one gap per piece but the largest
        while pending and len(current.crops) < self.max_windows:
            gap = pending.pop(0)
            ends = (Prompt(self._point_at(gap.near + offset)),
                    Prompt(self._point_at(gap.far + offset)))
            centre = (np.array(ends[0].point) + np.array(ends[1].point)) / 2
            window = self._seeded_window(self.crop_at(centre), current, ends)
            if window is None:
                continue
            trial = self._merge([*current.crops, window])
            trial_mask = trial.local_mask()
            if piece_count(trial_mask) < pieces:
                current, offset = trial, trial.offset
                pending = gaps(trial_mask, spacing)
                pieces = len(pending) + 1
        return current

    def _point_at(self, index: Sequence[int] | np.ndarray) -> tuple[float, float, float]:
        """LPS point of an image voxel given as [z, y, x]."""
        return point_of_voxel(self.image, index)

    def _neighbours(self, result: CropResult) -> list[CropGrid]:
        mask = upsample_logits(result.low_res, result.grid.size) > 0
        return [grid for grid in crossed_faces(mask, result.grid, self.window_shift)
                if footprint(self.image, grid) is not None]

    def _seeded_window(self, grid: CropGrid, merged: Prediction,
                       clicks: tuple[Prompt, ...] = ()) -> CropResult | None:
        """A window prompted by the prediction so far: its known logits and ``clicks`` (by
        default one on the deepest known voxel in it)."""
        if merged.local_logits.size == 0:
            return None
        logits = array_to_crop(merged.local_logits_image(), grid, default=OUTSIDE_LOGIT)
        inside = logits > 0
        if not inside.any():
            return None
        if not clicks:
            depth = ndimage.distance_transform_edt(inside)
            seed_index = np.unravel_index(int(np.argmax(depth)), depth.shape)
            clicks = (Prompt(tuple(float(v) for v in grid.to_lps(np.array([seed_index]))[0])),)  # type: ignore[arg-type]
        low = self.engine.config.low_res_size
        # Where no crop looked is unknown (0), not the certain "outside" the merge marks it.
        known = np.where(logits > OUTSIDE_LOGIT / 2,
                         np.clip(logits, -PRIOR_LIMIT, PRIOR_LIMIT), 0.0)
        prior = F.interpolate(torch.from_numpy(known.astype(np.float32))[None, None],
                              size=(low, low, low), mode="area")
        result = self._decode(grid, [clicks], [prior])[0]
        return replace(result, low_res=keep_touching(result.low_res, prior[0, 0].numpy() > 0),
                       seeded=True)

    def _crop_for(self, crops: list[CropResult], click: Prompt) -> int | None:
        holding = [i for i, c in enumerate(crops) if c.grid.contains(np.array(click.point))]
        if not holding:
            return None
        return min(holding, key=lambda i: float(np.linalg.norm(
            np.asarray(crops[i].grid.centre) - np.asarray(click.point))))

    def _merge(self, crops: Sequence[CropResult]) -> Prediction:
        """One prediction on the input grid from the crops (see :mod:`merging`)."""
        clicks = [c.point for crop in crops for c in crop.clicks if c.positive]
        box, logits = merge_logits(self.image, [CropLogits(c.grid, c.low_res, c.seeded)
                                                for c in crops], clicks)
        return Prediction(self.image, box, logits, crops[0].iou, tuple(crops))


def _prior(previous: torch.Tensor | None, low: int) -> torch.Tensor:
    """The mask prompt: previous low-res logits, or zeros on the first click (as the authors)."""
    return previous if previous is not None else torch.zeros(1, 1, low, low, low)


def _logit_at(prediction: Prediction, point: Sequence[float]) -> float:
    """The merged logit at an LPS point (``OUTSIDE_LOGIT`` where no crop looked)."""
    index = np.array(prediction.image.TransformPhysicalPointToIndex(
        tuple(float(v) for v in point)))[::-1] - prediction.offset
    if any(not 0 <= i < n for i, n in zip(index, prediction.local_logits.shape, strict=True)):
        return OUTSIDE_LOGIT
    return float(prediction.local_logits[tuple(index)])
