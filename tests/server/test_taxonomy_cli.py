"""``edgelabel-collector classes``: import (checked, with the bad key's line), list, export, map."""

import json
import tomllib

import pytest

from server.cli import main
from server.datadir import DataDir
from server.taxonomy import document
from server.taxonomy.model import ClassSpec, Taxonomy
from tests.server._frames import PETS, clip_frames, encode, header_for

GOOD_TOML = """\
[classes.pedestrian]
guideline = "Anyone on foot."
aliases = ["walker"]

[classes.vehicle]
guideline = "Cars and vans."
aliases = ["automobile"]

[models."yolox-test"]
person = "walker"
"""


@pytest.fixture
def data_dir(tmp_path):
    (image,) = clip_frames(PETS, (0,))
    with DataDir.open(tmp_path / "data") as store:  # model yolox-test, classes person and car
        store.ingest_frames([(header_for(image, "cam", 1), encode(image))])
    return tmp_path / "data"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["classes", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name, text, expected", [
    ("bad.toml", GOOD_TOML.replace('aliases = ["walker"]', 'aliases = "walker"'),
     "bad.toml:3: classes.pedestrian.aliases: expected a list of strings, got 'walker'"),
    ("bad.toml", GOOD_TOML + "\n[classes.cyclist]\ncolour = 'red'\n",
     "bad.toml:13: classes.cyclist.colour: unknown key; expected guideline or aliases"),
    ("bad.toml", GOOD_TOML.replace('aliases = ["automobile"]', 'aliases = ["Walker"]'),
     "bad.toml:7: alias 'Walker' of class 'vehicle': the name 'Walker' is already taken (at classes.pedestrian.aliases)"),
    ("bad.toml", GOOD_TOML.replace('person = "walker"', 'person = "cyclist"'),
     "bad.toml:10: models.yolox-test.person: no class 'cyclist' in the taxonomy"),
    ("bad.toml", "[classes.pedestrian\n", "bad.toml: not valid TOML"),
    ("bad.yaml", "classes:\n  pedestrian:\n    guideline: Anyone on foot.\n    alias: [walker]\n",
     "bad.yaml:4: classes.pedestrian.alias: unknown key; expected guideline or aliases"),
    ("bad.yaml", "classes:\n  pedestrian: [1, 2\n", "bad.yaml:3: not valid YAML"),
    ("bad.json", "{}", "unknown taxonomy file type '.json'; expected .toml, .yaml or .yml"),
])
def test_a_bad_file_is_one_clear_line_and_changes_nothing(data_dir, tmp_path, capsys, name, text, expected):
    assert run(capsys, "import", str(tmp_path / "good.toml"), "--data-dir", str(data_dir))[0] == 2  # missing file
    (tmp_path / "good.toml").write_text(GOOD_TOML)
    assert run(capsys, "import", str(tmp_path / "good.toml"), "--data-dir", str(data_dir))[0] == 0
    (tmp_path / name).write_text(text)
    code, out, err = run(capsys, "import", str(tmp_path / name), "--data-dir", str(data_dir), "--replace")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("edgelabel-collector classes: error: ")
    assert expected in err
    listed = json.loads(run(capsys, "list", "--json", "--data-dir", str(data_dir))[1])
    assert [c["name"] for c in listed["classes"]] == ["pedestrian", "vehicle"]  # as before the bad import


def test_import_list_map_export_round_trip(data_dir, tmp_path, capsys):
    (tmp_path / "taxonomy.toml").write_text(GOOD_TOML)
    code, out, _ = run(capsys, "import", str(tmp_path / "taxonomy.toml"), "--data-dir", str(data_dir))
    assert code == 0 and "2 class(es), 2 alias(es), 1 mapping(s)" in out
    code, out, _ = run(capsys, "list", "--data-dir", str(data_dir))
    assert "pedestrian (aliases: walker): Anyone on foot. [0 example crop(s)]" in out
    assert "  person -> pedestrian (mapped)" in out and "  car -> UNMAPPED" in out

    assert run(capsys, "map", "yolox-test", "car", "automobile", "--data-dir", str(data_dir))[1] == \
        "model yolox-test: car -> vehicle (mapped)\n"
    assert "UNMAPPED" not in run(capsys, "list", "--data-dir", str(data_dir))[1]
    assert run(capsys, "map", "yolox-test", "car", "--data-dir", str(data_dir))[0] == 2  # neither class nor --remove
    assert run(capsys, "map", "yolox-test", "car", "--remove", "--data-dir", str(data_dir))[1] == \
        "model yolox-test: car -> UNMAPPED\n"

    exported = tmp_path / "exported.yaml"
    assert run(capsys, "export", "--out", str(exported), "--data-dir", str(data_dir))[0] == 0
    before = json.loads(run(capsys, "list", "--json", "--data-dir", str(data_dir))[1])
    replacement = tmp_path / "only.yaml"
    replacement.write_text("classes:\n  cyclist:\n    guideline: On a bike.\n")
    assert run(capsys, "import", str(replacement), "--replace", "--data-dir", str(data_dir))[0] == 0
    assert [c["name"] for c in json.loads(run(capsys, "list", "--json", "--data-dir", str(data_dir))[1])["classes"]] \
        == ["cyclist"]
    assert run(capsys, "import", str(exported), "--replace", "--data-dir", str(data_dir))[0] == 0
    assert json.loads(run(capsys, "list", "--json", "--data-dir", str(data_dir))[1]) == before
    code, toml_out, _ = run(capsys, "export", "--data-dir", str(data_dir))
    assert code == 0 and '[models.yolox-test]\nperson = "pedestrian"' in toml_out


@pytest.mark.parametrize("kind", ["toml", "yaml"])
def test_a_dumped_file_reads_back_whatever_the_names_and_guidelines_hold(tmp_path, kind):
    taxonomy = Taxonomy(
        classes=(ClassSpec("traffic light", 'Lit "or" not,\\ on a pole.\nSecond line: ü', ("signal", "ampel.v2")),
                 ClassSpec("pedestrian", "Anyone on foot.", ())),
        mappings={("yolox-nano", "person"): "pedestrian", ("m.v2", "traffic light"): "traffic light"},
    )
    path = tmp_path / f"taxonomy.{kind}"
    path.write_text(document.dump(taxonomy, kind), encoding="utf-8")
    assert document.read(path, Taxonomy(), replace=True) == taxonomy
    if kind == "toml":
        assert tomllib.loads(path.read_text(encoding="utf-8"))["classes"]["traffic light"]["aliases"] == \
            ["signal", "ampel.v2"]


def test_no_database_is_an_error_not_a_new_directory(tmp_path, capsys):
    code, _, err = run(capsys, "list", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no collector data directory at" in err and not (tmp_path / "nowhere").exists()
