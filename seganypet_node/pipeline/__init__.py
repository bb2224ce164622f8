"""The one place a study is run: volume in, organ results out (:mod:`.run`), in the types of
:mod:`.results`. The worker (jobs from received series) and ``seganypet-node segment`` both
call :func:`~seganypet_node.pipeline.run.pipeline_from_config` and
:meth:`~seganypet_node.pipeline.run.OrganPipeline.run`; :mod:`seganypet_node.outputs` only
writes what a run gives.
"""

from seganypet_node.pipeline.references import measured_values, reference_regions
from seganypet_node.pipeline.results import (
    DEFAULT_ORGANS,
    OrganResult,
    PipelineOptions,
    PipelineResult,
    Progress,
    RunSource,
    Segmented,
)
from seganypet_node.pipeline.run import (
    DEFAULT_ATLAS_DIR,
    OrganPipeline,
    checked_results,
    pipeline_from_config,
    suv_like,
)

__all__ = [
    "DEFAULT_ATLAS_DIR",
    "DEFAULT_ORGANS",
    "OrganPipeline",
    "OrganResult",
    "PipelineOptions",
    "PipelineResult",
    "Progress",
    "RunSource",
    "Segmented",
    "checked_results",
    "measured_values",
    "pipeline_from_config",
    "reference_regions",
    "suv_like",
]
