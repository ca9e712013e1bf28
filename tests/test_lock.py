"""The locked environment: requirements.lock agrees with pyproject, is what is installed, and the layout holds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import lockfile  # noqa: E402

PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"


def test_the_committed_lock_agrees_with_pyproject() -> None:
    assert lockfile.check(PYPROJECT, LOCK) == []


def _write_project(tmp_path: Path, deps: list[str]) -> Path:
    path = tmp_path / "pyproject.toml"
    lines = ", ".join(f'"{d}"' for d in deps)
    path.write_text(f'[project]\nname = "x"\nversion = "0"\ndependencies = [{lines}]\n', encoding="utf-8")
    return path


def test_check_names_a_package_missing_from_the_lock_and_a_pin_outside_its_range(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("peft==0.21.2 \\\n    --hash=sha256:00\ntransformers==5.24.0\n", encoding="utf-8")
    problems = lockfile.check(_write_project(tmp_path, ["peft>=0.12", "transformers<5.24", "diffusers>=0.30"]),
                              lock)
    assert len(problems) == 2
    assert any("diffusers" in p and "missing" in p for p in problems)
    assert any("transformers==5.24.0" in p and "<5.24" in p for p in problems)
    assert lockfile.check(_write_project(tmp_path, ["peft>=0.12"]), lock) == []


def test_a_lock_line_without_a_pin_is_an_error_naming_its_line(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\ntorch>=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"requirements.lock:2: 'torch>=2' pins no version"):
        lockfile.read_lock(lock)


def test_every_locked_package_has_a_hash() -> None:
    text = LOCK.read_text(encoding="utf-8")
    pins = lockfile.read_lock(LOCK)
    assert text.count("--hash=sha256:") == len(pins) > 50


def test_the_environment_running_the_tests_is_the_locked_one() -> None:
    wrong = []
    for name, pinned in lockfile.read_lock(LOCK).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            wrong.append(f"{name}: locked {pinned}, installed {installed}")
    assert wrong == [], "run `bash scripts/setup`: " + "; ".join(wrong)


def test_newest_trial_lifts_upper_bounds_only() -> None:
    from packaging.requirements import Requirement

    assert lockfile.unbounded(Requirement("transformers>=4.44,<5.24")) == "transformers>=4.44"
    assert lockfile.unbounded(Requirement("uvicorn[standard]>=0.2")) == "uvicorn[standard]>=0.2"


def test_stylesheets_are_loaded_from_the_top_level_styles_folder() -> None:
    from tuitune.ui.paths import styles_dir, stylesheets

    assert styles_dir().resolve() == (ROOT / "styles").resolve()
    assert [p.name for p in stylesheets()] == ["app.tcss", "screens.tcss"]
    assert list((ROOT / "tuitune").rglob("*.tcss")) == []  # one copy


def test_pyproject_lists_every_package_of_the_tree() -> None:
    listed = set(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tuitune").rglob("__init__.py")}
    assert found | {"tuitune.styles"} == listed
    assert importlib.util.find_spec("tuitune.styles") is not None


def test_the_design_cards_top_level() -> None:
    for name in ("pyproject.toml", "tuitune", "styles", "tests", "sample_projects", "README.md"):
        assert (ROOT / name).exists(), name


@pytest.mark.slow
def test_demo_without_a_terminal_says_so_in_one_sentence_and_fails(tmp_path: Path) -> None:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "demo"), "--copy-to", str(tmp_path / "copy")],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "needs a terminal" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
