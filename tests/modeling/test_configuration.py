import pytest
from transformers import AutoConfig, BertConfig, CLIPConfig, CLIPVisionConfig, T5Config, XLMRobertaConfig

from babelclip.modeling import CrossLingualTeacherConfig, CrossModalStudentConfig
from tests.modeling.tiny import tiny_vision_config, tiny_xlmr_config


def test_defaults_are_clip_vision_and_bert_for_the_student_and_xlmr_for_the_teacher():
    student = CrossModalStudentConfig()
    assert isinstance(student.vision_config, CLIPVisionConfig)
    assert isinstance(student.text_config, BertConfig)
    assert (student.projection_dim, student.text_pooling, student.vision_pooling) == (512, "mean", "pooler")
    assert student.logit_scale_init_value == pytest.approx(2.6592)
    assert (student.logit_bias_init_value, student.text_projection_bias) == (None, False)
    assert student.uni_modal_heads is False
    teacher = CrossLingualTeacherConfig()
    assert isinstance(teacher.text_config, XLMRobertaConfig)
    assert teacher.text_projection_bias is False


def test_sub_configs_accept_dicts_and_round_trip(tmp_path):
    config = CrossModalStudentConfig(
        vision_config=tiny_vision_config().to_dict(),
        text_config=tiny_xlmr_config().to_dict(),
        projection_dim=24,
        text_pooling="last",
        text_projection_bias=True,
        logit_bias_init_value=-10.0,
        uni_modal_heads=True,
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, CrossModalStudentConfig)
    assert isinstance(loaded.text_config, XLMRobertaConfig)
    assert loaded.text_config.hidden_size == 32
    assert loaded.vision_config.image_size == 32
    assert (loaded.projection_dim, loaded.text_pooling, loaded.uni_modal_heads) == (24, "last", True)
    assert (loaded.text_projection_bias, loaded.logit_bias_init_value) == (True, -10.0)


@pytest.mark.parametrize("config_class", [CrossModalStudentConfig, CrossLingualTeacherConfig])
@pytest.mark.parametrize(
    ("text_config", "message"),
    [
        (CLIPVisionConfig(), "must be the config of a text model"),
        (CLIPConfig(), r"pass its text tower's config \(for example `config.text_config`\)"),
        (T5Config(), "encoder-only"),
    ],
)
def test_text_config_must_be_a_text_encoder(config_class, text_config, message):
    with pytest.raises(ValueError, match=message):
        config_class(text_config=text_config)


def test_vision_config_must_be_an_image_encoder():
    with pytest.raises(ValueError, match="Pass it as `text_config`"):
        CrossModalStudentConfig(vision_config=XLMRobertaConfig())
    with pytest.raises(ValueError, match=r"pass its vision tower's config \(for example `config\.vision_config`\)"):
        CrossModalStudentConfig(vision_config=CLIPConfig())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text_pooling": "max"}, r"`text_pooling` must be one of \['mean', 'cls', 'pooler', 'last'\]"),
        ({"vision_pooling": "avg"}, r"`vision_pooling` must be one of \['pooler', 'cls', 'mean'\]"),
        ({"projection_dim": 0}, "positive"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CrossModalStudentConfig(**kwargs)
