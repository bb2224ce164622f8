"""The sections of the node's configuration: one frozen dataclass per TOML table.

Each field's metadata holds the parser that validates its value (``settings_values``);
:mod:`seganypet_node.config` reads, merges and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seganypet_node import settings_callers
from seganypet_node import settings_values as v
from seganypet_node.settings_callers import Caller
from seganypet_node.settings_values import Architecture, Autocast, LogLevel, RemoteAE


def _key(parser: v.Parser) -> Any:
    return field(metadata={"parse": parser})


@dataclass(frozen=True)
class NodeSettings:
    ae_title: str = _key(v.ae_title)
    host: str = _key(v.host)
    port: int = _key(v.integer(1, 65535))
    data_dir: Path = _key(v.directory)
    max_associations: int = _key(v.integer(1, 1000))
    acse_timeout: float = _key(v.number(0.1, 3600))
    dimse_timeout: float = _key(v.number(0.1, 3600))
    network_timeout: float = _key(v.number(0.1, 86400))
    max_pdu: int = _key(v.integer(0, 2**32 - 1))
    min_free_mb: int = _key(v.integer(0, 2**40))
    max_pending_connections: int = _key(v.integer(1, 10000))
    max_pending_per_address: int = _key(v.integer(1, 10000))
    max_dataset_mb: int = _key(v.integer(1, 65536))


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = _key(v.database_url)


@dataclass(frozen=True)
class CompletionSettings:
    quiet_period_s: float = _key(v.number(0.1, 86400))
    sweep_interval_s: float = _key(v.number(0.05, 3600))


@dataclass(frozen=True)
class WorkerSettings:
    count: int = _key(v.integer(0, 64))
    lease_s: float = _key(v.number(10, 86400))
    poll_interval_s: float = _key(v.number(0.05, 3600))
    memory_budget_mb: float = _key(v.number(0, 10_000_000))
    nice: int = _key(v.integer(0, 19))


@dataclass(frozen=True)
class PipelineSettings:
    organs: tuple[str, ...] = _key(v.organ_names)
    atlas: Path | None = _key(v.optional_path)
    deformable: bool = _key(v.boolean)
    atlas_subjects: int = _key(v.integer(0, 1000))
    max_inference_s: float = _key(v.number(1, 86400))


@dataclass(frozen=True)
class LesionSettings:
    enabled: bool = _key(v.boolean)
    checkpoint: Path | None = _key(v.optional_path)
    fallback_threshold_suv: float = _key(v.number(0.5, 100))
    min_volume_ml: float = _key(v.number(0, 10000))
    max_count: int = _key(v.integer(1, 1000))


@dataclass(frozen=True)
class OutputSettings:
    research_label: str = _key(v.label)


@dataclass(frozen=True)
class SendSettings:
    to_caller: bool = _key(v.boolean)
    destinations: tuple[RemoteAE, ...] = _key(settings_callers.destinations)
    max_attempts: int = _key(v.integer(1, 1000))
    retry_initial_s: float = _key(v.number(0.1, 86400))
    retry_max_s: float = _key(v.number(0.1, 7 * 86400))
    batch_size: int = _key(v.integer(1, 10000))
    poll_interval_s: float = _key(v.number(0.05, 3600))
    lease_s: float = _key(v.number(1, 86400))


@dataclass(frozen=True)
class ModelSettings:
    checkpoint: Path | None = _key(v.optional_path)
    architecture: Architecture = _key(v.member(Architecture))
    device: str = _key(v.device)
    threads: int = _key(v.integer(0, 256))
    autocast: Autocast = _key(v.member(Autocast))
    mirror_images: int = _key(v.integer_of(1, 2, 4, 8))  # model.mirrors.IMAGE_COUNTS


@dataclass(frozen=True)
class AccessSettings:
    allowed_callers: tuple[Caller, ...] = _key(settings_callers.callers)


@dataclass(frozen=True)
class TlsSettings:
    enabled: bool = _key(v.boolean)
    cert_file: Path | None = _key(v.optional_path)
    key_file: Path | None = _key(v.optional_path)
    ca_file: Path | None = _key(v.optional_path)


@dataclass(frozen=True)
class ReviewSettings:
    enabled: bool = _key(v.boolean)
    host: str = _key(v.host)
    port: int = _key(v.integer(1, 65535))
    session_minutes: float = _key(v.number(0.01, 7 * 24 * 60))
    tls: bool = _key(v.boolean)
    cert_file: Path | None = _key(v.optional_path)
    key_file: Path | None = _key(v.optional_path)
    require_verification: bool = _key(v.boolean)


@dataclass(frozen=True)
class LoggingSettings:
    level: LogLevel = _key(v.member(LogLevel))
    libraries: LogLevel = _key(v.member(LogLevel))
    file: Path | None = _key(v.optional_path)
    max_mb: int = _key(v.integer(1, 100_000))
    backups: int = _key(v.integer(0, 1000))


SECTIONS: dict[str, type] = {
    "node": NodeSettings,
    "database": DatabaseSettings,
    "completion": CompletionSettings,
    "worker": WorkerSettings,
    "pipeline": PipelineSettings,
    "lesions": LesionSettings,
    "outputs": OutputSettings,
    "send": SendSettings,
    "model": ModelSettings,
    "access": AccessSettings,
    "tls": TlsSettings,
    "review": ReviewSettings,
    "logging": LoggingSettings,
}
