"""The agent's config file: the example documents every key, and every mistake is one clear line."""

from __future__ import annotations

import dataclasses
import re
import tomllib

import pytest

from edge.config import AgentConfig, SelectionConfig, load_config
from edge.contract.config_files import Override
from edge.contract.errors import ConfigError
from edge.selection import BlurGate, KeyframeBudget, build_selector
from tests.conftest import REPO_DIR

EXAMPLE = REPO_DIR / "deploy" / "agent.example.toml"


def dataclass_keys(cls, prefix=""):
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type if not isinstance(f.type, str) else None):
            yield from dataclass_keys(f.type, f"{prefix}{f.name}.")
        elif f.name != "origins":
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                yield from dataclass_keys(type(default), f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}"


def toml_keys(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from toml_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_the_example_file_lists_every_key_at_its_default():
    example = tomllib.loads(EXAMPLE.read_text())
    # [[cameras]] is empty by default; the example shows it commented out, every key included.
    assert sorted(toml_keys(example)) == sorted(k for k in dataclass_keys(AgentConfig) if k != "cameras")
    assert load_config(EXAMPLE) == AgentConfig()
    assert len(build_selector(load_config(EXAMPLE).selection).policies) == 11
    section = EXAMPLE.read_text().split("# [[cameras]]", 1)[1]
    commented = "[[cameras]]\n" + "\n".join(
        line[2:] for line in section.splitlines() if re.match(r"^# [a-z_]+ = ", line))
    from edge.config import CameraConfig

    camera = tomllib.loads(commented)["cameras"][0]
    assert sorted(camera) == sorted(f.name for f in dataclasses.fields(CameraConfig))


def write(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("[selection.blur]\nmin_relative_sharpnes = 0.3\n",
     "selection.blur.min_relative_sharpnes = 0.3: expected no such key; selection.blur has enabled, min_relative_sharpness"),
    ("[selectoin]\n", "selectoin = {...}: expected no such key; the file has selection"),
    ("[selection.interval]\nmin_gap_s = \"1s\"\n", 'selection.interval.min_gap_s = "1s": expected a finite number'),
    ("[selection.budget]\nenabled = 1\n", "selection.budget.enabled = 1: expected true or false"),
    ("[selection]\ninterval = 3\n", "selection.interval = 3: expected a table"),
    ("[selection.frozen]\npixel_delta = 2.5\n", "selection.frozen.pixel_delta = 2.5: expected an integer"),
])
def test_unknown_keys_and_wrong_types_name_the_file_key_value_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_value_out_of_range_names_the_key_where_it_came_from(tmp_path):
    path = write(tmp_path, "[selection.scene_change]\nthreshold = 1.5\n")
    config = load_config(path)
    with pytest.raises(ConfigError) as error:
        build_selector(config.selection, origins=dict(config.origins))
    assert str(error.value) == (f"{path}: selection.scene_change.threshold = 1.5: "
                                "expected a fraction of the picture in [0, 1)")


def test_flags_override_the_file_and_are_named_when_wrong(tmp_path):
    path = write(tmp_path, "[selection.interval]\nmin_gap_s = 2.0\nmax_gap_s = 10.0\n")
    config = load_config(path, {"selection.interval.min_gap_s": Override(0.5, "--min-gap")})
    assert config.selection.interval.min_gap_s == 0.5 and config.selection.interval.max_gap_s == 10.0
    bad = load_config(path, {"selection.interval.min_gap_s": Override(20.0, "--min-gap")})
    with pytest.raises(ConfigError, match=r"^--min-gap: selection\.interval\.min_gap_s = 20\.0: expected seconds >= 0|"
                                          r"max_gap_s = 10\.0: expected seconds > min_gap_s \(20\.0\)"):
        build_selector(bad.selection, origins=dict(bad.origins))


def test_tables_turn_policies_off_and_tune_them(tmp_path):
    path = write(tmp_path, "[selection.blur]\nmin_relative_sharpness = 0.3\n[selection.budget]\nenabled = false\n"
                           "[selection.novelty]\nenabled = false\n")
    selector = build_selector(load_config(path).selection)
    assert selector.budget is None and len(selector.policies) == 10
    assert next(p for p in selector.policies if isinstance(p, BlurGate)).min_relative_sharpness == 0.3
    default = build_selector(SelectionConfig(), jpeg_quality=70)
    assert isinstance(default.budget, KeyframeBudget) and default.budget.jpeg_quality == 70


def test_a_file_that_is_missing_or_not_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"agent\.toml: not valid TOML: .*line 1"):
        load_config(write(tmp_path, "[selection\n"))
