"""``rapport init DIR``: a starter rules directory that checks, tests and collects from anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.api.cli import app
from rapport.api.commands.init import starter_files
from rapport.api.resources import shipped_exports_dir, shipped_rules_dir

REPO = Path(__file__).resolve().parents[2]


def rapport(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no rules/ in it, so nothing falls back to the checkout's."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_the_shipped_data_is_the_repositorys_rules_and_exports() -> None:
    # In this (editable) venv the data packages are the folders themselves.
    assert shipped_rules_dir().resolve() == REPO / "rules"
    assert shipped_exports_dir().resolve() == REPO / "examples" / "exports"


def test_init_writes_the_shipped_rules_unchanged_and_collectors_reading_exports_beside_them(
    elsewhere: Path,
) -> None:
    code, out, err = rapport("init", "starter")
    assert (code, err) == (0, ""), err
    # the four rules files, every shipped rule test, every sample export and the rules' schemas
    rule_tests = len(list((REPO / "rules/tests").glob("*.yaml")))
    exports = len(list((REPO / "examples/exports").glob("*.csv")))
    schemas = len(list((REPO / "rules/.schema").glob("*.json")))
    assert f"wrote {4 + rule_tests + exports + schemas} files to starter" in out
    starter = elsewhere / "starter"
    for name in (
        "scorecard.yaml",
        "clients.yaml",
        "alerts.yaml",
        *(f"tests/{p.name}" for p in (REPO / "rules/tests").glob("*.yaml")),
    ):
        assert (starter / name).read_bytes() == (REPO / "rules" / name).read_bytes(), name
    collectors = (starter / "collectors.yaml").read_text()
    assert "../examples" not in collectors
    assert collectors.count("path: exports") == 2
    exports = sorted(p.name for p in (starter / "exports").iterdir())
    assert exports == sorted(p.name for p in (REPO / "examples/exports").glob("*.csv"))


def test_a_starter_directory_checks_tests_collects_and_scores_from_any_directory(
    elsewhere: Path,
) -> None:
    assert rapport("init", "starter")[0] == 0
    db = f"sqlite:///{elsewhere}/x.db"
    code, out, _ = rapport("rules", "check", "starter")
    assert (code, out.startswith("starter: rules OK")) == (0, True), out
    code, out, _ = rapport("rules", "test", "starter")
    assert code == 0, out
    assert "0 failed" in out
    code, out, err = rapport("--rules-dir", "starter", "--database-url", db, "collect", "--once")
    assert code == 0, out + err
    assert "helpdesk_exports" in out and "nps_survey" in out
    code, out, err = rapport("--rules-dir", "starter", "--database-url", db, "demo", "-f", "json")
    assert code == 0, err
    assert out.count('"client":') == 60


def test_init_refuses_to_overwrite_and_writes_nothing(elsewhere: Path) -> None:
    assert rapport("init", "starter")[0] == 0
    edited = elsewhere / "starter" / "scorecard.yaml"
    edited.write_text("# mine\n")
    (elsewhere / "starter" / "clients.yaml").unlink()
    code, out, err = rapport("init", "starter")
    assert code == 2
    existing = "error: files already exist: starter/alerts.yaml, starter/collectors.yaml, "
    assert err.startswith(existing)
    assert err.rstrip().endswith("(nothing written; --force overwrites)")
    assert "Traceback" not in out + err
    assert edited.read_text() == "# mine\n"
    assert not (elsewhere / "starter" / "clients.yaml").exists(), "nothing written, not even new"


def test_init_force_overwrites(elsewhere: Path) -> None:
    assert rapport("init", "starter")[0] == 0
    edited = elsewhere / "starter" / "scorecard.yaml"
    edited.write_text("# mine\n")
    code, _, err = rapport("init", "starter", "--force")
    assert (code, err) == (0, "")
    assert edited.read_bytes() == (REPO / "rules" / "scorecard.yaml").read_bytes()


def test_init_into_a_file_is_an_environment_error(elsewhere: Path) -> None:
    (elsewhere / "taken").write_text("not a folder\n")
    code, out, err = rapport("init", "taken")
    assert code == 2
    assert err.startswith("error: cannot write taken/")
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "name",
    [
        "scorecard.yaml",
        "clients.yaml",
        "collectors.yaml",
        "tests/delivery.yaml",
        "exports/nps-2026-q4.csv",
    ],
    ids=lambda n: f"the starter has {n}",
)
def test_starter_files_include(name: str) -> None:
    assert Path(name) in starter_files()
