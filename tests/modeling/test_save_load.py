import json

import pytest
import torch
from transformers import AutoModel, AutoProcessor

from babelclip.modeling import BabelClipProcessor, CrossLingualTeacherModel, CrossModalStudentModel
from tests.modeling.conftest import make_student, make_teacher
from tests.modeling.tiny import random_images, random_token_batch, tiny_image_processor, train_tokenizer

CODE_FILES = {
    "configuration_babelclip.py",
    "functional_babelclip.py",
    "modeling_base_babelclip.py",
    "outputs_babelclip.py",
    "validation_babelclip.py",
}


def _assert_same_parameters(first: torch.nn.Module, second: torch.nn.Module) -> None:
    first_state, second_state = first.state_dict(), second.state_dict()
    assert first_state.keys() == second_state.keys()
    for key, tensor in first_state.items():
        assert torch.equal(tensor, second_state[key]), key


def _student_inputs() -> dict[str, torch.Tensor]:
    frames = torch.randn(2, 3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    return {**random_token_batch(2, 6), "frames": frames, "frame_mask": torch.tensor([[1, 1, 0], [1, 1, 1]])}


@pytest.mark.parametrize("loader", [CrossModalStudentModel.from_pretrained, AutoModel.from_pretrained])
def test_student_save_load_is_bit_identical(tmp_path, text_backbone, loader):
    model = make_student(text_backbone, uni_modal_heads=True)
    with torch.no_grad():
        model.logit_scale.fill_(1.234)  # a trained value, not the init one, must come back
    model.save_pretrained(tmp_path)
    loaded = loader(tmp_path).eval()
    assert type(loaded) is CrossModalStudentModel
    _assert_same_parameters(model, loaded)
    inputs = _student_inputs()
    with torch.no_grad():
        expected, actual = model(**inputs, return_loss=True), loaded(**inputs, return_loss=True)
    for field in ("logits_per_image", "text_embeds", "image_embeds", "text_token_embeds", "uni_text_embeds", "loss"):
        torch.testing.assert_close(actual[field], expected[field], atol=1e-5, rtol=0)


def test_logit_bias_and_text_projection_bias_reload_bit_identically(tmp_path):
    model = make_student(logit_bias_init_value=-10.0, text_projection_bias=True)
    with torch.no_grad():
        model.logit_bias.fill_(0.25)  # a trained value, not the init one, must come back
        model.text_projection.bias.normal_()
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    _assert_same_parameters(model, loaded)
    assert loaded.logit_bias.item() == 0.25
    assert (loaded.config.logit_bias_init_value, loaded.config.text_projection_bias) == (-10.0, True)


@pytest.mark.parametrize("loader", [CrossLingualTeacherModel.from_pretrained, AutoModel.from_pretrained])
def test_teacher_save_load_is_bit_identical(tmp_path, text_backbone, loader):
    model = make_teacher(text_backbone)
    model.save_pretrained(tmp_path)
    loaded = loader(tmp_path).eval()
    assert type(loaded) is CrossLingualTeacherModel
    _assert_same_parameters(model, loaded)
    text = random_token_batch(3, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded.get_text_features(**text), model.get_text_features(**text), atol=1e-5, rtol=0)


def test_save_pretrained_writes_auto_map_and_code(tmp_path):
    make_student().save_pretrained(tmp_path / "student")
    make_teacher().save_pretrained(tmp_path / "teacher")
    student = json.loads((tmp_path / "student" / "config.json").read_text())
    teacher = json.loads((tmp_path / "teacher" / "config.json").read_text())
    assert student["auto_map"] == {
        "AutoConfig": "configuration_babelclip.CrossModalStudentConfig",
        "AutoModel": "modeling_babelclip.CrossModalStudentModel",
        "AutoModelForZeroShotImageClassification": "modeling_babelclip.CrossModalStudentModel",
    }
    assert teacher["auto_map"] == {
        "AutoConfig": "configuration_babelclip.CrossLingualTeacherConfig",
        "AutoModel": "modeling_babelclip_teacher.CrossLingualTeacherModel",
    }
    assert CODE_FILES | {"modeling_babelclip.py"} <= {p.name for p in (tmp_path / "student").iterdir()}
    assert CODE_FILES | {"modeling_babelclip_teacher.py"} <= {p.name for p in (tmp_path / "teacher").iterdir()}


def test_processor_round_trip(tmp_path):
    processor = BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=train_tokenizer())
    processor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "processor_config.json").read_text())["auto_map"] == {
        "AutoProcessor": "processing_babelclip.BabelClipProcessor"
    }
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is BabelClipProcessor
    images = random_images(2)
    expected = processor(text=["ein Hund", "a red car near the park"], images=images)
    actual = loaded(text=["ein Hund", "a red car near the park"], images=images)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
