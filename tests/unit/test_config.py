import re
from pathlib import Path

import pytest

from seganypet_node.config import ConfigError, load_config
from seganypet_node.settings_callers import Caller


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_embedded_defaults() -> None:
    config = load_config(environ={})
    assert config.node.ae_title == "SEGANYPET"
    assert config.node.port == 11112
    assert config.database_url.startswith("sqlite:///")
    assert config.database_url.endswith("node.db")
    assert config.access.allowed_callers == ()


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[node]\nport = 104\nae_title = "SITE"\n')
    config = load_config(path, environ={"SEGANYPET_NODE_PORT": "4242"})
    assert config.node.ae_title == "SITE"
    assert config.node.port == 4242


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[node]\nprot = 1\n", "unknown setting [node] prot"),
        ("[nodes]\nport = 1\n", "unknown section [nodes]"),
        ("[node]\nport = 70000\n", "[node] port: expected an integer from 1 to 65535"),
        ('[node]\nport = "x"\n', "[node] port: expected an integer"),
        ('[node]\nae_title = "WAY_TOO_LONG_AE_TITLE"\n', "[node] ae_title: expected an AE title"),
        ('[database]\nurl = "mysql://x"\n', "[database] url: expected empty, or an SQLAlchemy URL"),
        ('[logging]\nlevel = "LOUD"\n', "[logging] level: expected one of DEBUG"),
        ("[model]\nmirror_images = 3\n", "[model] mirror_images: expected one of 1, 2, 4, 8"),
        ("[access]\nallowed_callers = [{ ae_title = \"A\" }]\n", "[access] allowed_callers"),
        ("[node\n", "is not valid TOML"),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(write(tmp_path, text), environ={})


@pytest.mark.parametrize("text, form", [
    ('[node]\nport = "11113"\n', "an integer from 1 to 65535"),
    ('[send]\nto_caller = "false"\n', "true or false"),
    ('[completion]\nquiet_period_s = "30"\n', "a number from"),
])
def test_a_quoted_number_or_boolean_in_the_file_is_refused(tmp_path: Path, text: str,
                                                            form: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(form) + ".*the string .* without quotes"):
        load_config(write(tmp_path, text), environ={})


def test_the_environment_gives_numbers_and_booleans_as_text() -> None:
    config = load_config(environ={"SEGANYPET_NODE_PORT": "11113",
                                  "SEGANYPET_SEND_TO_CALLER": "false"})
    assert (config.node.port, config.send.to_caller) == (11113, False)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"SEGANYPET_NODE_PORT.*expected an integer"):
        load_config(environ={"SEGANYPET_NODE_PORT": "eleven"})


def test_unknown_environment_variable_is_an_error() -> None:
    with pytest.raises(ConfigError, match="SEGANYPET_NODE_PROT names no setting"):
        load_config(environ={"SEGANYPET_NODE_PROT": "1"})


def test_callers_from_environment() -> None:
    env = {"SEGANYPET_ACCESS_ALLOWED_CALLERS": "PACS@10.0.0.5:104, WS@ws:11112"}
    config = load_config(environ=env)
    assert config.access.allowed_callers == (
        Caller("PACS", "10.0.0.5", 104), Caller("WS", "ws", 11112))
    assert config.caller("WS") == Caller("WS", "ws", 11112)
    assert config.caller("OTHER") is None


def test_tls_enabled_requires_certificate() -> None:
    with pytest.raises(ConfigError, match=r"\[tls\] cert_file: required"):
        load_config(environ={"SEGANYPET_TLS_ENABLED": "true"})


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", environ={})


def test_command_line_override_is_validated() -> None:
    config = load_config(environ={})
    assert config.with_overrides("node", port=2000).node.port == 2000
    with pytest.raises(ConfigError, match=r"command line: \[node\] port"):
        config.with_overrides("node", port=0)


def test_library_defaults_are_the_embedded_configuration() -> None:
    """Code that builds the runtime or the pipeline without a Config gets what the node gets
    (before, RuntimeOptions had 1 mirror image against the configuration's 8)."""
    import dataclasses

    from seganypet_node.model.configured import runtime_options, shared_threads
    from seganypet_node.model.engine import RuntimeOptions
    from seganypet_node.pipeline import PipelineOptions

    config = load_config(None)
    # threads = 0 is resolved from the worker count, which only the configuration knows.
    resolved = runtime_options(config)
    assert resolved.threads == shared_threads(config.worker.count)
    assert RuntimeOptions() == dataclasses.replace(resolved, threads=0)
    pipeline = PipelineOptions()
    for name in ("organs", "deformable", "atlas_subjects", "max_inference_s"):
        assert getattr(pipeline, name) == getattr(config.pipeline, name), name


def test_fixed_destinations_are_storage_scps_and_a_caller_sent_to_once() -> None:
    from seganypet_node.dicom.scu import result_destinations
    from seganypet_node.settings_values import RemoteAE

    config = load_config(environ={
        "SEGANYPET_SEND_DESTINATIONS": "ARCHIVE@10.0.0.7:104",
        "SEGANYPET_ACCESS_ALLOWED_CALLERS": "ARCHIVE@10.0.0.7:104"}).with_overrides(
        "access", allowed_callers=[{"ae_title": "ARCHIVE", "host": "10.0.0.7", "port": 104,
                                    "networks": ["10.0.0.0/24"]}])
    assert config.send.destinations == (RemoteAE("ARCHIVE", "10.0.0.7", 104),)
    # The archive both sends and receives: its results go to it once (before: twice, since
    # its allow-list entry, with networks, differed from the same SCP as a destination).
    assert result_destinations(config, "ARCHIVE") == (RemoteAE("ARCHIVE", "10.0.0.7", 104),)
    with pytest.raises(ConfigError, match="no networks or return_ae_title here"):
        load_config(None).with_overrides("send", destinations=[
            {"ae_title": "X", "host": "h", "port": 1, "networks": ["10.0.0.0/8"]}])


def test_choices_are_enum_members_read_case_insensitively() -> None:
    from seganypet_node.settings_values import Architecture, Autocast, LogLevel

    config = load_config(environ={"SEGANYPET_MODEL_AUTOCAST": "fp16",
                                  "SEGANYPET_MODEL_ARCHITECTURE": "SEGANYPET_COMPACT",
                                  "SEGANYPET_LOGGING_LEVEL": "debug"})
    assert config.model.autocast is Autocast.FP16
    assert config.model.architecture is Architecture.SEGANYPET_COMPACT
    assert config.logging.level is LogLevel.DEBUG
    with pytest.raises(ConfigError, match=r"\[model\] autocast.*one of NONE, FP16, BF16"):
        load_config(environ={"SEGANYPET_MODEL_AUTOCAST": "fp64"})


def test_a_quoted_port_inside_a_caller_table_is_refused_like_any_other(tmp_path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[access]\nallowed_callers = [{ ae_title = "PACS", host = "10.0.0.5", '
                    'port = "104" }]\n')
    with pytest.raises(ConfigError, match=r"port: expected an integer from 1 to 65535, got the "
                                          r"string '104' \(write it without quotes\)"):
        load_config(site)
    from_environment = load_config(None, {"SEGANYPET_ACCESS_ALLOWED_CALLERS": "PACS@h:104"})
    assert from_environment.caller("PACS").port == 104
