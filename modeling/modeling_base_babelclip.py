"""What the student and the teacher share: the text tower (backbone, pooling, projection), the learnable logit
scale, weight initialisation and exact loading of pretrained backbones."""

import torch
import transformers
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .functional_babelclip import pool_text_states
from .outputs_babelclip import BabelClipTextOutput
from .validation_babelclip import resolve_attention_mask

# Towers of aligned dual encoders that `AutoModel` does not map (it maps only their composite models): the class that
# builds each from its own config, by name in the `transformers` namespace.
TOWER_CLASSES_OUTSIDE_AUTOMODEL = {
    "siglip_text_model": "SiglipTextModel",
    "altclip_text_model": "AltCLIPTextModel",
    "altclip_vision_model": "AltCLIPVisionModel",
    "chinese_clip_text_model": "ChineseCLIPTextModel",
}

# Towers whose token states are not `hidden_size` wide: AltCLIP's text tower maps them to `project_dim` itself.
OUTPUT_WIDTH_FIELDS = {"altclip_text_model": "project_dim"}


def backbone_class(config: PreTrainedConfig) -> type[PreTrainedModel] | type[AutoModel]:
    """The class that builds / loads a tower for `config`: `AutoModel`, or the tower class AutoModel does not map."""
    name = TOWER_CLASSES_OUTSIDE_AUTOMODEL.get(config.model_type)
    return AutoModel if name is None else getattr(transformers, name)


def tower_width(config: PreTrainedConfig) -> int:
    """The width of the states (`last_hidden_state`, `pooler_output`) the tower built from `config` returns."""
    return getattr(config, OUTPUT_WIDTH_FIELDS.get(config.model_type, "hidden_size"))


def build_backbone(config: PreTrainedConfig) -> PreTrainedModel:
    """A randomly initialised tower for `config` that shares the config object (so edits on the parent reach it)."""
    model_class = backbone_class(config)
    backbone = model_class.from_config(config) if model_class is AutoModel else model_class._from_config(config)
    backbone.config = config
    return backbone


def load_backbone_config(name_or_path: str, tower: str) -> PreTrainedConfig:
    """
    The config of one tower of a checkpoint.

    Args:
        name_or_path (`str`):
            A Hub id or a local folder.
        tower (`str`):
            `"vision"` or `"text"`: for a composite checkpoint (e.g. a full CLIP) its `{tower}_config` is returned.
    """
    config = AutoConfig.from_pretrained(name_or_path)
    sub_config = getattr(config, f"{tower}_config", None)
    return sub_config if isinstance(sub_config, PreTrainedConfig) else config


def load_pretrained_backbone(name_or_path: str, config: PreTrainedConfig, needs_pooler: bool) -> PreTrainedModel:
    """
    Load one tower's pretrained weights, raising if any weight the tower uses was not in the checkpoint.

    Args:
        name_or_path (`str`):
            A Hub id or a local folder.
        config (`PreTrainedConfig`):
            The tower's config, from [`load_backbone_config`].
        needs_pooler (`bool`):
            Whether the pooler's weights are used (pooling `"pooler"`); when not, a checkpoint without them is fine.

    Returns:
        `PreTrainedModel`: the backbone with the checkpoint's weights.
    """
    backbone, info = backbone_class(config).from_pretrained(name_or_path, config=config, output_loading_info=True)
    check_missing_weights(info["missing_keys"], needs_pooler, f"The checkpoint {name_or_path!r}", config.model_type)
    return backbone


def load_pretrained_into(
    target: PreTrainedModel, name_or_path: str, config: PreTrainedConfig, needs_pooler: bool
) -> None:
    """Copy a checkpoint's tower weights exactly into `target` (built from `config`); see `load_pretrained_backbone`."""
    target.load_state_dict(load_pretrained_backbone(name_or_path, config, needs_pooler).state_dict())


def check_missing_weights(missing_keys: list[str], needs_pooler: bool, source: str, model_type: str) -> None:
    """Raise if weights a tower uses are missing; a missing pooler is fine when the pooling does not use it."""
    missing = [key for key in missing_keys if needs_pooler or "pooler" not in key]
    if missing:
        raise ValueError(
            f"{source} lacks weights of its `{model_type}` backbone: {sorted(missing)[:8]}. Pass a checkpoint of "
            "that tower (or, if only the pooler is missing, choose a 'mean' or 'cls' pooling)."
        )


def copy_backbone_weights(target: PreTrainedModel, source: nn.Module, needs_pooler: bool, name: str) -> None:
    """
    Copy a loaded tower's weights into a babelclip tower of the same config, exactly.

    Args:
        target (`PreTrainedModel`):
            The babelclip tower, from [`build_backbone`].
        source (`nn.Module`):
            The loaded tower. It may lack the pooler (ChineseCLIP builds its text tower without one) when
            `needs_pooler` is false.
        needs_pooler (`bool`):
            Whether the pooling uses the pooler's weights.
        name (`str`):
            What `source` is, for the error message.
    """
    result = target.load_state_dict(source.state_dict(), strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{name} has weights the babelclip tower lacks: {sorted(result.unexpected_keys)[:8]}.")
    check_missing_weights(result.missing_keys, needs_pooler, name, target.config.model_type)


def tower_output_options(output_attentions: bool | None, output_hidden_states: bool | None) -> dict[str, bool]:
    """The `output_attentions` / `output_hidden_states` a caller set, for the towers; unset ones are left to the
    towers' configs, as transformers' composite models do."""
    options = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states}
    return {name: value for name, value in options.items() if value is not None}


class BabelClipPreTrainedModel(PreTrainedModel):
    """
    Base class of the babelclip models: a text tower (`text_model` -> pooling -> `text_projection`) and a learnable
    `logit_scale`. Subclasses call `_init_text_tower(config)` in `__init__` and `post_init()` at its end.
    """

    base_model_prefix = "babelclip"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    # The towers' own `_no_split_modules` are merged in by `post_init`; the heads here are small and can go anywhere.
    _no_split_modules = []  # noqa: RUF012

    def _init_text_tower(self, config: PreTrainedConfig) -> None:
        self.text_model = build_backbone(config.text_config)
        self.text_projection = nn.Linear(
            tower_width(config.text_config), config.projection_dim, bias=config.text_projection_bias
        )
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))

    def _init_weights(self, module: nn.Module) -> None:
        # Backbones are initialised by their own `_init_weights` (transformers dispatches per sub-model);
        # this covers the projections, the uni-modal heads, the logit scale and the logit bias.
        if module is self:
            init.constant_(self.logit_scale, self.config.logit_scale_init_value)
            if getattr(self, "logit_bias", None) is not None:
                init.constant_(self.logit_bias, self.config.logit_bias_init_value)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Module:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_model.set_input_embeddings(value)

    def _run_text_tower(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        name: str = "input_ids",
        **output_options: bool,
    ) -> tuple[BabelClipTextOutput, ModelOutput]:
        attention_mask = resolve_attention_mask(input_ids, attention_mask, self.config.text_config.pad_token_id, name)
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        backbone_output = self.text_model(
            input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **extra, **output_options
        )
        hidden = backbone_output.last_hidden_state
        pooled = pool_text_states(
            hidden, attention_mask, getattr(backbone_output, "pooler_output", None), self.config.text_pooling
        )
        text_embeds = self.text_projection(pooled)
        uni_head = getattr(self, "uni_text_head", None)
        output = BabelClipTextOutput(
            text_embeds=text_embeds,
            text_token_embeds=self.text_projection(hidden),
            uni_text_embeds=None if uni_head is None else uni_head(text_embeds),
            last_hidden_state=hidden,
            attention_mask=attention_mask,
        )
        return output, backbone_output

    def encode_text(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> BabelClipTextOutput:
        r"""
        Encode a batch of texts.

        Args:
            input_ids (`torch.LongTensor` of shape `(B, L)`):
                Token ids from the checkpoint's tokenizer.
            attention_mask (`torch.LongTensor` of shape `(B, L)`, *optional*):
                1 for real tokens, 0 for padding; required when the batch contains padding.
            token_type_ids (`torch.LongTensor` of shape `(B, L)`, *optional*):
                Segment ids, for backbones that use them.

        Returns:
            [`BabelClipTextOutput`]: pooled and token-level projected embeddings (not normalised).
        """
        return self._run_text_tower(input_ids, attention_mask, token_type_ids)[0]

    def get_text_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""
        Projected (not normalised) text embeddings of shape `(B, projection_dim)`; see [`encode_text`] for the inputs.

        Example:

        ```python
        >>> features = model.get_text_features(**processor(text=["a dog", "ein Hund"]))
        ```"""
        return self.encode_text(input_ids, attention_mask, token_type_ids).text_embeds
