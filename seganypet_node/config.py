"""Node configuration: embedded defaults, a site file, environment variables, command line.

Every key of ``config/node.toml`` is a field of one of the frozen section dataclasses of
:mod:`seganypet_node.settings_sections`, whose metadata holds the parser that validates it.
An unknown key or a bad value raises :class:`ConfigError` naming the key and the expected form.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from seganypet_node import settings_values as v
from seganypet_node.errors import EXIT_USAGE, NodeError
from seganypet_node.settings_callers import Caller
from seganypet_node.settings_sections import (
    SECTIONS,
    AccessSettings,
    CompletionSettings,
    DatabaseSettings,
    LesionSettings,
    LoggingSettings,
    ModelSettings,
    NodeSettings,
    OutputSettings,
    PipelineSettings,
    ReviewSettings,
    SendSettings,
    TlsSettings,
    WorkerSettings,
)

ENV_PREFIX = "SEGANYPET_"


class ConfigError(NodeError, ValueError):
    """A configuration key is unknown or its value is invalid."""

    exit_code = EXIT_USAGE
    label = "configuration error: "




@dataclass(frozen=True)
class Config:
    """The validated configuration of one node process."""

    node: NodeSettings
    database: DatabaseSettings
    completion: CompletionSettings
    worker: WorkerSettings
    pipeline: PipelineSettings
    lesions: LesionSettings
    outputs: OutputSettings
    send: SendSettings
    model: ModelSettings
    access: AccessSettings
    tls: TlsSettings
    review: ReviewSettings
    logging: LoggingSettings

    @property
    def spool_dir(self) -> Path:
        """Directory that holds the received instances."""
        return self.node.data_dir / "spool"

    @property
    def results_dir(self) -> Path:
        """Directory that holds each job's masks, summary and result objects."""
        return self.node.data_dir / "results"

    @property
    def database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data directory."""
        return self.database.url or f"sqlite:///{self.node.data_dir / 'node.db'}"

    @property
    def log_file(self) -> Path | None:
        """Where ``serve`` and ``worker`` also log (``[logging] file``, under the data
        directory when relative), or None."""
        name = self.logging.file
        return None if name is None else self.node.data_dir / name

    def caller(self, ae_title: str) -> Caller | None:
        """The allow-list entry of a calling AE title, if any."""
        return next((c for c in self.access.allowed_callers if c.ae_title == ae_title), None)

    def with_overrides(self, section: str, **values: Any) -> Config:
        """A copy with some keys of one section replaced by (validated) raw values."""
        current = getattr(self, section)
        parsed = {key: _parse(section, key, raw, "command line") for key, raw in values.items()}
        return replace(self, **{section: replace(current, **parsed)})


def resource_dir(name: str) -> Path:
    """A top-level folder of the project (``config``, ``migrations``, ``models``).

    Found beside the package in a source checkout or editable install, else in the
    ``share/seganypet-node`` data directory of a regular install.
    """
    beside = Path(__file__).resolve().parent.parent / name
    if beside.is_dir():
        return beside
    installed = Path(sys.prefix) / "share" / "seganypet-node" / name
    if installed.is_dir():
        return installed
    raise FileNotFoundError(f"project folder {name!r} not found at {beside} or {installed}")


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the embedded defaults, then the file at ``path``, then ``SEGANYPET_*`` variables.

    Raises
    ------
    ConfigError
        A key is unknown or has an invalid value; the message names it.
    """
    defaults_path = resource_dir("config") / "node.toml"
    raw = _read_toml(defaults_path)
    _check_complete(raw, defaults_path)
    sources = {(s, k): str(defaults_path) for s, keys in raw.items() for k in keys}
    if path is not None:
        for section, keys in _read_toml(path).items():
            for key, value in _section_items(raw, section, keys, str(path)):
                raw[section][key] = value
                sources[section, key] = str(path)
    for (section, key), value in _environment(raw, os.environ if environ is None else environ):
        raw[section][key] = value
        sources[section, key] = f"environment {ENV_PREFIX}{section.upper()}_{key.upper()}"
    built = {
        name: cls(**{k: _parse(name, k, raw[name][k], sources[name, k],
                               from_text=sources[name, k].startswith("environment"))
                     for k in raw[name]})
        for name, cls in SECTIONS.items()
    }
    config = Config(**built)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    for section, switch, on in (("tls", "enabled", config.tls.enabled),
                                ("review", "tls", config.review.tls)):
        if not on:
            continue
        for key in ("cert_file", "key_file"):
            path = getattr(getattr(config, section), key)
            if path is None:
                raise ConfigError(f"[{section}] {key}: required when [{section}] {switch} = "
                                  f"true")
            if not path.is_file():
                raise ConfigError(f"[{section}] {key}: expected a readable file, got "
                                  f"{str(path)!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _section_items(
    known: dict[str, Any], section: str, keys: Any, source: str
) -> list[tuple[str, Any]]:
    if section not in SECTIONS:
        raise ConfigError(f"{source}: unknown section [{section}]; known: {', '.join(SECTIONS)}")
    if not isinstance(keys, dict):
        raise ConfigError(f"{source}: [{section}] must be a table of settings")
    for key in keys:
        if key not in known[section]:
            names = ", ".join(known[section])
            raise ConfigError(f"{source}: unknown setting [{section}] {key}; known: {names}")
    return list(keys.items())


def _environment(
    known: dict[str, Any], environ: Mapping[str, str]
) -> list[tuple[tuple[str, str], str]]:
    found = []
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        if section not in known or key not in known[section]:
            raise ConfigError(
                f"environment variable {name} names no setting; expected "
                f"{ENV_PREFIX}<SECTION>_<KEY> with SECTION one of {', '.join(SECTIONS)}"
            )
        found.append(((section, key), value))
    return found


def _check_complete(raw: dict[str, Any], source: Path) -> None:
    for name, cls in SECTIONS.items():
        missing = {f.name for f in fields(cls)} - set(raw.get(name, {}))
        if missing:
            raise ConfigError(f"{source}: [{name}] lacks {', '.join(sorted(missing))}")
        extra = set(raw[name]) - {f.name for f in fields(cls)}
        if extra:
            raise ConfigError(f"{source}: unknown setting [{name}] {sorted(extra)[0]}")


def _parse(section: str, key: str, raw: Any, source: str, from_text: bool = True) -> Any:
    """The typed value of one setting; ``from_text`` False for a TOML file's values, whose
    numbers and booleans must not be quoted."""
    cls = SECTIONS[section]
    spec = next((f for f in fields(cls) if f.name == key), None)
    if spec is None:
        raise ConfigError(f"{source}: unknown setting [{section}] {key}")
    form = v.typed_form(spec.metadata["parse"])
    if not from_text and form is not None and isinstance(raw, str):
        raise ConfigError(f"{source}: [{section}] {key}: expected {form}, got the string "
                          f"{raw!r} (write it without quotes)")
    try:
        return spec.metadata["parse"](raw)
    except ValueError as exc:
        raise ConfigError(
            f"{source}: [{section}] {key}: expected {exc}, got {raw!r}"
        ) from None
