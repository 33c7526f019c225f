"""The `babelclip` command: quick help that imports nothing heavy, every subcommand listed, one parser for all of
them (both spellings, shipped configs by name, repeated list flags, None), and the wheel's console script."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from babelclip.trainers.cli.commands import COMMANDS
from babelclip.trainers.cli.main import main, run
from babelclip.trainers.cli.parser import merge_repeated_list_options, parse_config, shipped_config_names
from babelclip.trainers.recipes.arguments import DataArguments, ModelArguments
from babelclip.trainers.training.arguments import DistillationArguments
from tests.scripts.script_runner import ROOT, offline_env

EVERY_COMMAND = (
    "train-teacher", "train-student", "evaluate", "adapt", "search", "classify", "push", "demo", "benchmark"
)  # fmt: skip


def _python(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=offline_env(), timeout=120, check=True
    )
    return completed.stdout


def test_every_entry_point_is_a_subcommand():
    assert set(EVERY_COMMAND) <= set(COMMANDS)


def test_main_help_lists_every_command_without_importing_torch():
    printed = _python(
        "import sys; from babelclip.trainers.cli.main import main; status = main(['--help']); "
        "print('HEAVY', sorted({'torch', 'transformers', 'datasets'} & set(sys.modules)), status)"
    )
    for name in EVERY_COMMAND:
        assert f"  {name}" in printed
    assert "HEAVY [] 0" in printed


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_command_help_has_a_description_an_example_and_its_options_without_importing_torch(command):
    printed = _python(
        f"import sys; from babelclip.trainers.cli.main import main; status = main([{command!r}, '--help']); "
        "print('HEAVY', sorted({'torch', 'transformers', 'datasets'} & set(sys.modules)), status)"
    )
    assert "HEAVY [] 0" in printed
    assert f"babelclip {command}" in printed and "examples:" in printed
    assert len(printed.splitlines()) < 150  # a page, not the 742 lines of the full TrainingArguments list
    if COMMANDS[command].trains:
        assert "--losses" in printed and "--help-all" in printed and "TrainingArguments" in printed


def test_help_all_lists_the_trainer_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        run(["train-student", "--help-all"])
    assert exit_.value.code == 0
    printed = capsys.readouterr().out
    assert "--gradient_accumulation_steps" in printed and "--text_model_name_or_path" in printed


def test_an_unknown_command_suggests_the_close_one(capsys):
    assert main(["train-studnet"]) == 2
    assert "Did you mean 'train-student'?" in capsys.readouterr().err


def test_a_bad_value_is_one_line_on_stderr_and_exit_status_2(tmp_path, capsys):
    assert main(["demo", "--output_dir", str(tmp_path), "--preset", "huge"]) == 2
    assert "babelclip demo: error: --preset 'huge' is not a demo preset" in capsys.readouterr().err


def test_both_spellings_a_shipped_config_by_name_and_none(tmp_path):
    _, data_args, training_args = parse_config(
        (ModelArguments, DataArguments, DistillationArguments),
        ["--config", "student_zero_shot_stage1", "--output-dir", str(tmp_path / "a"), "--eval_split", "None",
         "--max-steps", "7", "--learning_rate", "0.25", "--train-languages", "en", "--train_languages", "de"],
    )  # fmt: skip
    assert training_args.output_dir == str(tmp_path / "a") and training_args.max_steps == 7
    assert training_args.learning_rate == 0.25 and data_args.eval_split is None
    assert data_args.train_languages == ["en", "de"]  # a repeated list flag adds to the first
    assert "student_zero_shot_stage1" in shipped_config_names()


def test_an_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match=r"no shipped config of that name.*student_translate_train"):
        parse_config((DataArguments,), ["--config", "no_such_config"])


def test_repeated_list_flags_merge_and_numbers_are_values():
    options = {"--text": "text", "--seeds": "seeds"}
    merged = merge_repeated_list_options(["--text", "a", "-k", "3", "--seeds", "-1", "--text", "b", "c"], options)
    assert merged == ["--text", "a", "b", "c", "-k", "3", "--seeds", "-1"]


def test_module_entry_point_runs_the_same_command():
    completed = subprocess.run(
        [sys.executable, "-m", "babelclip.trainers.cli", "evaluate", "--help"],
        capture_output=True, text=True, env=offline_env(), timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0 and "babelclip evaluate" in completed.stdout


@pytest.mark.slow
def test_the_wheel_ships_the_configs_and_its_console_script_helps_with_no_dependency_installed(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, timeout=300, env=offline_env(),
    )  # fmt: skip
    (wheel,) = wheels.glob("babelclip-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"babelclip/trainers/recipes/configs/{name}.yaml" for name in shipped_config_names()}
    assert shipped <= names and "babelclip/trainers/recipes/accelerate_configs/ddp_2proc_cpu.yaml" in names
    assert "babelclip/model_cards/model_card_template.md" in names
    assert not any(name.startswith(("modeling/", "trainers/", "tests/")) for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "babelclip = babelclip.trainers.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # A virtual environment with babelclip alone, not one of its dependencies: `--help` must still work.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    for argv, expected in ((["--help"], "commands:"), (["train-student", "--help"], "--losses")):
        completed = subprocess.run(
            [str(venv / "bin" / "babelclip"), *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert completed.returncode == 0, completed.stderr
        assert expected in completed.stdout
    json.dumps(sorted(names))  # the listing is plain text
