import pytest
import torch

from babelclip.modeling import (
    CrossLingualTeacherConfig,
    CrossLingualTeacherModel,
    CrossModalStudentConfig,
    CrossModalStudentModel,
)
from tests.modeling.tiny import PROJECTION_DIM, tiny_bert_config, tiny_vision_config, tiny_xlmr_config

TEXT_CONFIGS = {"bert": tiny_bert_config, "xlmr": tiny_xlmr_config}


def make_student(text: str = "bert", **config_kwargs) -> CrossModalStudentModel:
    torch.manual_seed(0)
    config = CrossModalStudentConfig(
        vision_config=tiny_vision_config(),
        text_config=TEXT_CONFIGS[text](),
        projection_dim=PROJECTION_DIM,
        **config_kwargs,
    )
    return CrossModalStudentModel(config).eval()


def make_teacher(text: str = "xlmr", **config_kwargs) -> CrossLingualTeacherModel:
    torch.manual_seed(0)
    config = CrossLingualTeacherConfig(text_config=TEXT_CONFIGS[text](), projection_dim=PROJECTION_DIM, **config_kwargs)
    return CrossLingualTeacherModel(config).eval()


@pytest.fixture(params=sorted(TEXT_CONFIGS))
def text_backbone(request) -> str:
    return request.param
