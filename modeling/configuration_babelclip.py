"""Configurations of the babelclip models: architecture only (sizes, pooling, projections, logit scale / bias init).

Loss settings live in the training arguments, never here. This file ships inside checkpoints: it imports only
torch, transformers and the standard library.
"""

from typing import ClassVar

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

TEXT_POOLINGS = ("mean", "cls", "pooler", "last")
VISION_POOLINGS = ("pooler", "cls", "mean")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")


def _reject_composite(config: PreTrainedConfig, tower: str) -> None:
    """Raise if `config` bundles several towers (e.g. a full CLIP config) where one `tower` encoder is expected."""
    composite = [key for key in type(config).sub_configs if getattr(config, key, None) is not None]
    if composite:
        hint = f" (for example `config.{tower}_config`)" if f"{tower}_config" in composite else ""
        raise ValueError(
            f"`{tower}_config` must be the config of one {tower} encoder, but a composite `{config.model_type}` "
            f"config with sub-configs {composite} was given: pass its {tower} tower's config{hint}."
        )


def check_text_config(config: PreTrainedConfig) -> None:
    """
    Raise a `ValueError` unless `config` describes a single text encoder (what `AutoModel.from_config` turns into a
    model that takes `input_ids` and returns `last_hidden_state`).

    Args:
        config (`PreTrainedConfig`):
            The candidate text tower configuration.
    """
    _reject_composite(config, "text")
    if getattr(config, "vocab_size", None) is None:
        raise ValueError(
            f"`text_config` must be the config of a text model (one with a `vocab_size`, e.g. BERT or XLM-R), but a "
            f"`{config.model_type}` config was given. Pass the vision backbone as `vision_config` instead."
        )
    if getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"`text_config` must be an encoder-only text model; `{config.model_type}` is an encoder-decoder whose "
            "AutoModel needs decoder inputs. Use an encoder-only config (e.g. BERT, XLM-R, MiniLM)."
        )


def check_vision_config(config: PreTrainedConfig) -> None:
    """
    Raise a `ValueError` unless `config` describes a single image encoder.

    Args:
        config (`PreTrainedConfig`):
            The candidate vision tower configuration.
    """
    _reject_composite(config, "vision")
    if getattr(config, "vocab_size", None) is not None and getattr(config, "num_channels", None) is None:
        raise ValueError(
            f"`vision_config` must be the config of an image model, but the text model config `{config.model_type}` "
            "was given. Pass it as `text_config` and give an image encoder config (e.g. `CLIPVisionConfig`) here."
        )


class _BabelClipTextConfigMixin:
    """Validation shared by the student's and the teacher's text tower settings."""

    def _check_text_settings(self) -> None:
        check_text_config(self.text_config)
        _check_choice("text_pooling", self.text_pooling, TEXT_POOLINGS)
        if self.projection_dim <= 0:
            raise ValueError(f"`projection_dim` must be a positive integer, got {self.projection_dim}.")


class CrossModalStudentConfig(_BabelClipTextConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`CrossModalStudentModel`]: a CLIP-style dual encoder built from any AutoModel vision config and
    any AutoModel text config.

    Args:
        vision_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the image encoder (any AutoModel vision config). Defaults to a `CLIPVisionConfig`.
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the text encoder (any AutoModel encoder-only text config). Defaults to a `BertConfig`.
        projection_dim (`int`, *optional*, defaults to 512):
            Size of the shared image-text embedding space.
        text_pooling (`str`, *optional*, defaults to `"mean"`):
            How token states become one text vector: `"mean"` (over real tokens), `"cls"` (first token), `"pooler"`
            (the backbone's `pooler_output`, e.g. CLIP's end-of-text token) or `"last"` (the last position, padding
            included, as SigLIP pools).
        text_projection_bias (`bool`, *optional*, defaults to `False`):
            Give `text_projection` a bias (SigLIP's text head, imported as the projection, has one).
        vision_pooling (`str`, *optional*, defaults to `"pooler"`):
            How patch states become one image vector: `"pooler"` (the backbone's `pooler_output`), `"cls"` (first
            token) or `"mean"` (over all positions).
        logit_scale_init_value (`float`, *optional*, defaults to 2.6592):
            Initial value of the learnable log logit scale (CLIP's log(1 / 0.07)).
        logit_bias_init_value (`float`, *optional*):
            Initial value of a learnable logit bias added to every image-text logit, as SigLIP has; `None` (the
            default) means no bias parameter. Softmax losses ignore a shared bias; sigmoid losses use it.
        uni_modal_heads (`bool`, *optional*, defaults to `False`):
            Add CUSA's uni-modal heads (`LayerNorm -> Linear` on the projected embeddings) for image-image and
            text-text similarity.

    Example:

    ```python
    >>> from transformers import BertConfig, CLIPVisionConfig
    >>> from babelclip.modeling import CrossModalStudentConfig, CrossModalStudentModel

    >>> config = CrossModalStudentConfig(vision_config=CLIPVisionConfig(), text_config=BertConfig(), projection_dim=512)
    >>> model = CrossModalStudentModel(config)
    ```"""

    model_type = "babelclip"
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="clip_vision_model"),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert"),
    }

    vision_config: PreTrainedConfig | dict | None = None
    text_config: PreTrainedConfig | dict | None = None
    projection_dim: int = 512
    text_pooling: str = "mean"
    text_projection_bias: bool = False
    vision_pooling: str = "pooler"
    logit_scale_init_value: float = 2.6592
    logit_bias_init_value: float | None = None
    uni_modal_heads: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        check_vision_config(self.vision_config)
        _check_choice("vision_pooling", self.vision_pooling, VISION_POOLINGS)
        self._check_text_settings()


class CrossLingualTeacherConfig(_BabelClipTextConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`CrossLingualTeacherModel`]: one multilingual text encoder (shared by source and target
    sentences), a pooling and a projection.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the text encoder (any AutoModel encoder-only text config). Defaults to an `XLMRobertaConfig`.
        projection_dim (`int`, *optional*, defaults to 512):
            Size of the sentence embedding space.
        text_pooling (`str`, *optional*, defaults to `"mean"`):
            `"mean"` (over real tokens), `"cls"` (first token), `"pooler"` (the backbone's `pooler_output`) or
            `"last"` (the last position, padding included, as SigLIP pools).
        text_projection_bias (`bool`, *optional*, defaults to `False`):
            Give `text_projection` a bias (SigLIP's text head, imported as the projection, has one).
        logit_scale_init_value (`float`, *optional*, defaults to 2.6592):
            Initial value of the learnable log logit scale.

    Example:

    ```python
    >>> from transformers import XLMRobertaConfig
    >>> from babelclip.modeling import CrossLingualTeacherConfig, CrossLingualTeacherModel

    >>> model = CrossLingualTeacherModel(CrossLingualTeacherConfig(text_config=XLMRobertaConfig(), projection_dim=256))
    ```"""

    model_type = "babelclip_teacher"
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="xlm-roberta"),
    }

    text_config: PreTrainedConfig | dict | None = None
    projection_dim: int = 512
    text_pooling: str = "mean"
    text_projection_bias: bool = False
    logit_scale_init_value: float = 2.6592

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._check_text_settings()
