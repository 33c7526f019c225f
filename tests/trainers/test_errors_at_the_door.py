"""Bad inputs are refused at argument or load time with a message that says what to fix, never deep in torch
(issue 14, item 6), and a crafted `training_args.bin` never runs (item 1's must-show).

Each test names the failure it replaces: what the same input did before (a torch error at the first step, an
`OSError` about Hub repo ids, a silent wrong result).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from babelclip.modeling import CrossModalStudentConfig, CrossModalStudentModel
from babelclip.trainers import DistillationArguments, DistillationTrainer
from babelclip.trainers.checkpoints import load_model_and_processor
from babelclip.trainers.cli.parser import parse_config
from babelclip.trainers.data import load_retrieval_dataset
from babelclip.trainers.recipes.arguments import DataArguments, ModelArguments
from babelclip.trainers.recipes.builders import build_student
from babelclip.trainers.training.teachers import load_teachers
from tests.modeling.tiny import PROJECTION_DIM, tiny_bert_config, tiny_vision_config
from tests.modeling.tiny import train_tokenizer as train_corpus_tokenizer
from tests.trainers.tiny_run import save_teachers, tiny_dataset, tiny_processor, tiny_student, tiny_tokenizer

REPO = Path(__file__).resolve().parents[2]


def arguments(tmp_path, **overrides) -> DistillationArguments:
    settings = dict(output_dir=str(tmp_path / "run"), losses=["contrastive"], report_to="none", use_cpu=True)
    return DistillationArguments(**settings | overrides)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A tiny student checkpoint (with its processor) and the tiny teachers, saved once."""
    root = tmp_path_factory.mktemp("door")
    student = root / "student"
    tiny_student().save_pretrained(student)
    tiny_processor().save_pretrained(student)
    return {"student": student, **{name: Path(path) for name, path in save_teachers(root / "teachers").items()}}


def copy_checkpoint(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target))


# ---- arguments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("per_device_train_batch_size", 0), ("per_device_train_batch_size", -1), ("per_device_eval_batch_size", 0)],
)
def test_a_batch_size_below_one_is_refused_with_its_name(tmp_path, field, value):
    # Before: torch's sampler "batch_size should be a positive integer value" at train(), or, for the eval batch size,
    # `range() arg 3 must not be zero` after the whole training run.
    with pytest.raises(ValueError, match=rf"`{field}`={value}: must be a positive integer"):
        arguments(tmp_path, **{field: value})


@pytest.mark.parametrize("flag", ["--max_train_samples", "--max_eval_samples"])
def test_zero_samples_is_refused_when_the_command_line_is_parsed(tmp_path, flag):
    # Before: "num_samples should be a positive integer value, but got num_samples=0" from torch's sampler.
    with pytest.raises(ValueError, match=rf"`{flag[2:]}`=0: must be a positive integer \(or unset: all rows\)"):
        parse_config((ModelArguments, DataArguments, DistillationArguments), ["--output_dir", str(tmp_path), flag, "0"])


@pytest.mark.parametrize(
    "field, losses",
    [
        ("source_teacher_path", ["embedding_mse"]),
        ("cross_lingual_teacher_path", ["relational_kd"]),
        ("image_teacher_path", ["cross_modal_soft_label"]),
        ("text_teacher_path", ["cross_modal_soft_label"]),
    ],
)
def test_a_teacher_path_that_does_not_exist_is_named_when_the_teachers_load(saved, tmp_path, field, losses):
    # Before: `OSError: Repo id must be in the form 'repo_name' or 'namespace/repo_name'` after data and model loaded.
    # Checked at trainer construction (`load_teachers`), not by the arguments: a recipe names a teacher's folder
    # before the stage that trains it has run.
    from babelclip.trainers.training.trainer import LossComposer

    paths = {
        name: str(saved[name]) for name in ("cross_lingual_teacher_path", "image_teacher_path", "text_teacher_path")
    }
    args = arguments(tmp_path, losses=losses, **{**paths, field: str(tmp_path / "no_such_teacher")})
    with pytest.raises(ValueError, match=rf"`{field}` '.*no_such_teacher' does not exist"):
        load_teachers(args, tiny_student(), LossComposer(args).required_fields)


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs for real on a GPU")
def test_fp16_on_a_cpu_warns_and_the_arguments_and_card_say_fp32(tmp_path):
    # Before: silently fp32 on a CPU while the arguments (and so the card's hyperparameters) said fp16=True.
    with pytest.warns(UserWarning, match="no GPU here.*silently train in fp32"):
        args = arguments(tmp_path, fp16=True)
    assert args.fp16 is False and args.mixed_precision == "no" and args.to_dict()["fp16"] is False


def test_unknown_dataset_kwargs_name_the_accepted_ones(tmp_path):
    # Before: `TypeError: build_embedded_dataset() got an unexpected keyword argument 'num_train_imgs'`.
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['num_train_imgs'\].*num_train_images"):
        load_retrieval_dataset("embedded", num_train_imgs=4)
    tiny_dataset().save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['image_dir'\] for the save_to_disk folder"):
        load_retrieval_dataset(tmp_path / "saved", image_dir="images")


# ---- models, tokenizers and teachers -----------------------------------------------------------------------------


def test_a_teacher_checkpoint_as_the_student_is_refused(saved):
    # Before: trained on until `KeyError: 'source_input_ids'` at the first step.
    with pytest.raises(ValueError, match=r"holds a CrossLingualTeacherModel.*train-student.*babelclip train-teacher"):
        build_student(ModelArguments(model_name_or_path=str(saved["cross_lingual_teacher_path"])), tiny_tokenizer())


@pytest.mark.parametrize(
    "losses, paths, message",
    [
        (
            ["relational_kd"],
            {"cross_lingual_teacher_path": "student"},
            r"cross_lingual_teacher_path .* holds a CrossModalStudentModel .* needs a cross-lingual teacher",
        ),
        (
            ["cross_modal_soft_label"],
            {"image_teacher_path": "image_teacher_path", "text_teacher_path": "cross_lingual_teacher_path"},
            r"text_teacher_path .* holds a CrossLingualTeacherModel .*CUSA's text teacher is one plain AutoModel",
        ),
        (
            ["cross_modal_soft_label"],
            {"image_teacher_path": "student", "text_teacher_path": "text_teacher_path"},
            r"image_teacher_path .* holds a CrossModalStudentModel .*model.vision_model.save_pretrained",
        ),
    ],
    ids=["student-as-CL2CM-teacher", "teacher-as-CUSA-text-teacher", "student-as-CUSA-image-teacher"],
)
def test_a_teacher_of_the_wrong_model_type_is_refused_when_loaded(saved, tmp_path, losses, paths, message):
    # Before: a `TypeError` or `KeyError` inside the first training step.
    args = arguments(tmp_path, losses=losses, **{field: str(saved[which]) for field, which in paths.items()})
    from babelclip.trainers.training.trainer import LossComposer

    with pytest.raises(ValueError, match=message):
        load_teachers(args, tiny_student(), LossComposer(args).required_fields)


def test_max_text_length_beyond_the_position_embeddings_is_refused(tmp_path):
    # Before: `RuntimeError: The expanded size of the tensor (104) must match the existing size (64)` mid-step.
    with pytest.raises(ValueError, match=r"max_text_length 65 is longer than the 64 positions .*max_position_embedd"):
        DistillationTrainer(
            model=tiny_student(), args=arguments(tmp_path, max_text_length=65), processing_class=tiny_processor()
        )


def test_a_tokenizer_larger_than_the_embedding_is_refused(tmp_path):
    # Before: `IndexError: index out of range in self` from the embedding at the first step.
    config = CrossModalStudentConfig(
        vision_config=tiny_vision_config(), text_config=tiny_bert_config(vocab_size=50), projection_dim=PROJECTION_DIM
    )
    message = rf"tokenizer has {len(tiny_tokenizer())} tokens but the text embedding .* has 50 rows"
    with pytest.raises(ValueError, match=message):
        DistillationTrainer(
            model=CrossModalStudentModel(config), args=arguments(tmp_path), processing_class=tiny_processor()
        )


def test_tokenizer_name_or_path_is_honoured_when_starting_from_a_checkpoint(saved, tmp_path):
    # Before: the checkpoint's own tokenizer was used and `--tokenizer_name_or_path` silently ignored.
    corpus = list(tiny_dataset()["train"]["caption"])
    other = train_corpus_tokenizer(vocab_size=200, sentences=corpus)
    assert len(other) != len(tiny_tokenizer())
    model_args = ModelArguments(model_name_or_path=str(saved["student"]), tokenizer_name_or_path="given")
    _, processor = build_student(model_args, other)
    assert processor.tokenizer is other


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_broken_safetensors_file_is_named(saved, tmp_path, damage):
    # Before: `SafetensorError: Error while deserializing header: ...` naming no file.
    folder = copy_checkpoint(saved["student"], tmp_path / "student")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(reversed(data)))
    message = rf"{weights} is not a readable safetensors file .* truncated or corrupt"
    with pytest.raises(ValueError, match=message):
        load_model_and_processor(str(folder))
    with pytest.raises(ValueError, match=message):
        build_student(ModelArguments(model_name_or_path=str(folder)), tiny_tokenizer())


@pytest.mark.parametrize(
    "source, edited_to, message",
    [
        ("student", "babelclip_teacher", r"model_type is 'babelclip_teacher' .* but it holds a `vision_config`"),
        ("cross_lingual_teacher_path", "babelclip", r"model_type is 'babelclip' .* but it holds no `vision_config`"),
    ],
)
def test_a_model_type_edited_in_config_json_is_refused(saved, tmp_path, source, edited_to, message):
    # Before: a student edited to the teacher's type loaded as a text-only teacher and was scored as bitext retrieval.
    folder = copy_checkpoint(saved[source], tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": edited_to}))
    with pytest.raises(ValueError, match=message):
        load_model_and_processor(str(folder))


# ---- data files --------------------------------------------------------------------------------------------------


def test_a_latin1_tsv_is_named_with_the_encoding_to_pass_and_loads_with_it(tmp_path):
    # Before: `UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9` naming no file.
    tsv = tmp_path / "pairs.en-de.tsv"
    tsv.write_bytes("café crème\tKaffee Süße\nhello\thallo\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"{tsv} is not valid utf-8 text .*encoding='latin-1'"):
        load_retrieval_dataset(tsv)
    assert load_retrieval_dataset(tsv, encoding="latin-1")["target"] == ["Kaffee Süße", "hallo"]


def test_a_truncated_jpeg_that_passes_the_header_check_is_dropped_at_load_time_and_named(tmp_path):
    # Before: verify() passed it, and training crashed mid-run on `image file is truncated` naming no file.
    images = tmp_path / "images"
    images.mkdir()
    names = [f"{index}.jpg" for index in range(3)]
    for index, name in enumerate(names):
        pixels = torch.randint(0, 255, (48, 48, 3), generator=torch.Generator().manual_seed(index), dtype=torch.uint8)
        Image.fromarray(pixels.numpy()).save(images / name, quality=95)
    broken = images / names[1]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    with Image.open(broken) as image:
        image.verify()  # the old header check passes it
    (tmp_path / "test_image_names.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "test_1kcaptions_en.txt").write_text("a red square\na blue circle\na green line\n")
    with pytest.warns(UserWarning, match=rf"dropped 1 of 3 rows .*row 1: {broken}: OSError: image file is truncated"):
        data = load_retrieval_dataset(tmp_path, image_dir=images)
    assert len(data) == 2


# ---- writing checkpoints -----------------------------------------------------------------------------------------

DISK_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    sys.path.insert(0, {repo!r})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file over the limit fails with EFBIG, as on a full disk
    from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student
    from babelclip.trainers import DistillationArguments, DistillationTrainer
    args = DistillationArguments(output_dir={output!r}, losses=["contrastive"], max_steps=1, save_strategy="steps",
                                 save_steps=1, per_device_train_batch_size=4, report_to="none", disable_tqdm=True,
                                 use_cpu=True)
    trainer = DistillationTrainer(model=tiny_student(), args=args, train_dataset=tiny_dataset()["train"],
                                  processing_class=tiny_processor())
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))  # the weights fit, the optimizer not
    trainer.train()
    """
)


@pytest.mark.slow
def test_a_full_disk_at_checkpoint_save_names_the_folder(tmp_path):
    # Before: `RuntimeError: [enforce fail at inline_container.cc:...] . unexpected pos ...` from torch.save.
    output = tmp_path / "run"
    child = DISK_FULL_CHILD.format(repo=str(REPO), output=str(output))
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode != 0
    assert f"CheckpointWriteError: Could not write the checkpoint {output / 'checkpoint-1'}" in result.stderr
    assert "enforce fail" in result.stderr and "Disk full?" in result.stderr  # torch's own error, then ours


# ---- a crafted training_args.bin never runs ----------------------------------------------------------------------


class _CreatesMarker:
    """Unpickling this creates the file `marker` (what an attacker's payload in a downloaded folder would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_a_crafted_training_args_bin_never_runs_during_push_card_writing_or_loading(tmp_path, monkeypatch, capsys):
    from babelclip.model_cards.push import checkpoint_model_card
    from babelclip.model_cards.training_record import history_of
    from babelclip.trainers.training.runs import train_and_evaluate
    from tests.model_cards.local_hub import install_local_hub
    from tests.model_cards.test_push import push_script_main
    from tests.trainers.training.test_trainer import make_args

    run = tmp_path / "run"
    data = tiny_dataset()
    train_and_evaluate(tiny_student(), make_args(run, max_steps=1), tiny_processor(), data["train"], data["test"])
    marker = tmp_path / "marker"
    torch.save(_CreatesMarker(marker), run / "training_args.bin")  # as the Trainer writes the file, payload inside

    install_local_hub(monkeypatch, tmp_path / "hub")
    assert push_script_main(["--checkpoint", str(run), "--repo-id", "org/tiny", "--dry-run"]) == 0
    assert "training_args.bin" not in capsys.readouterr().out  # never uploaded either
    checkpoint_model_card(run, "org/tiny")
    history_of(str(run))
    load_model_and_processor(str(run))
    build_student(ModelArguments(model_name_or_path=str(run)), tiny_tokenizer())
    assert not marker.exists()
    torch.load(run / "training_args.bin", weights_only=False).close()  # what the old push did: the payload runs
    assert marker.exists()


def test_evaluate_refuses_a_max_text_length_beyond_the_positions_before_encoding(saved, tmp_path):
    # Before: `RuntimeError: The expanded size of the tensor ...` from the position ids, after the dataset loaded.
    from babelclip.trainers.evaluation.checkpoint import evaluate_checkpoint

    with pytest.raises(ValueError, match=r"max_text_length 65 is longer than the 64 positions"):
        evaluate_checkpoint(str(saved["student"]), "embedded", max_text_length=65, output_dir=tmp_path / "eval")
    assert not (tmp_path / "eval").exists()
