"""babelclip's messages through `logging` (stderr, quieted by `--log_level`), results on stdout, progress bars off
with `--no_progress`, and a finished training run printing the same table as the first run."""

from __future__ import annotations

import logging
import re

import datasets
import pytest
import yaml

from babelclip.trainers.cli.commands import COMMANDS
from babelclip.trainers.cli.main import main, split_logging_options
from babelclip.trainers.common.logs import LOGGER_NAME, configure_logging, log_level_number, progress_bars_enabled
from tests.scripts.test_training_scripts import TINY_MODEL, TRAINING
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    configure_logging("info", progress=True)


def test_levels_and_one_handler_however_often_it_is_configured():
    assert log_level_number("WARNING") == logging.WARNING and log_level_number("passive") == logging.INFO
    with pytest.raises(ValueError, match=r"'loud' is not a log level.*'debug', 'info'"):
        log_level_number("loud")
    configure_logging("warning")
    logger = configure_logging("error")
    assert logger.level == logging.ERROR and len(logger.handlers) == 1


def test_no_progress_turns_the_libraries_bars_off_and_back_on():
    datasets.enable_progress_bars()
    configure_logging("info", progress=False)
    assert not progress_bars_enabled() and not datasets.is_progress_bar_enabled()
    configure_logging("info", progress=True)
    assert progress_bars_enabled() and datasets.is_progress_bar_enabled()


def test_every_command_takes_the_two_options_and_training_commands_hand_them_to_training_arguments():
    for command in COMMANDS.values():
        level, progress, rest = split_logging_options(command, ["--x", "1", "--log-level", "warning", "--no_progress"])
        assert (level, progress) == ("warning", False)
        expected = ["--x", "1", "--log_level", "warning", "--disable_tqdm", "true"] if command.trains else ["--x", "1"]
        assert rest == expected
    assert split_logging_options(COMMANDS["evaluate"], ["--x"]) == ("info", True, ["--x"])


def test_a_bad_level_is_a_usage_error(capsys):
    assert main(["evaluate", "--model_name_or_path", "m", "--log_level", "loud"]) == 2
    assert "babelclip evaluate: error: --log_level 'loud' is not a log level" in capsys.readouterr().err


@pytest.fixture(scope="module")
def saved_student(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    tiny_student(seed=0).save_pretrained(root / "student")
    tiny_processor().save_pretrained(root / "student")
    tiny_dataset()["test"].save_to_disk(str(root / "data"))
    return root


def search_encode(root, output: str, *flags: str) -> list[str]:
    return ["search", "encode", "--model", str(root / "student"), "--dataset", str(root / "data"), "--output",
            str(root / output), "--index", "faiss", *flags]  # fmt: skip


def test_messages_go_to_stderr_results_to_stdout_and_warning_quiets_them(saved_student, capsys):
    assert main(search_encode(saved_student, "g1", "--no_progress")) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("wrote 8 rows (image gallery) to")  # the result line only
    assert "[babelclip INFO] Built the faiss index" in captured.err
    assert "it/s" not in captured.err  # no progress bar

    assert main(search_encode(saved_student, "g2", "--log_level", "warning", "--no_progress")) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("wrote 8 rows") and "[babelclip" not in captured.err
    assert logging.getLogger(LOGGER_NAME).level == logging.WARNING


def markdown_table(stdout: str) -> str:
    match = re.search(r"^# Student\n\n(\|.*\|\n)+", stdout, re.M)
    assert match, stdout
    return match.group(0)


def test_a_finished_run_prints_the_table_of_the_first_run(tmp_path, capsys):
    config = tmp_path / "student.yaml"
    config.write_text(yaml.safe_dump({**TRAINING, **TINY_MODEL, "output_dir": str(tmp_path / "run")}))
    assert main(["train-student", "--config", str(config), "--no_progress"]) == 0
    first = capsys.readouterr()
    assert main(["train-student", "--config", str(config), "--no_progress"]) == 0
    again = capsys.readouterr()
    assert markdown_table(again.out) == markdown_table(first.out)
    assert "holds a finished run" in again.err
    header = markdown_table(first.out).splitlines()[2]
    assert header.startswith("| Language | T2I R@1 | T2I R@5 | T2I R@10 | I2T R@1 | I2T R@5 | I2T R@10 | RSUM")
    rows = [line.split("|")[1].strip() for line in markdown_table(first.out).splitlines()[4:]]
    assert rows == ["en", "de", "fr", "ja", "sw", "yo", "mi", "ht", "**mean**"]  # the test split's own order
