"""What the student and the teacher share: the text tower (backbone, pooling, projection), the learnable logit
scale, weight initialisation and exact loading of pretrained backbones."""

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .functional_babelclip import pool_text_states
from .outputs_babelclip import BabelClipTextOutput
from .validation_babelclip import resolve_attention_mask


def build_backbone(config: PreTrainedConfig) -> PreTrainedModel:
    """A randomly initialised AutoModel for `config` that shares the config object (so edits on the parent reach it)."""
    backbone = AutoModel.from_config(config)
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
    backbone, info = AutoModel.from_pretrained(name_or_path, config=config, output_loading_info=True)
    missing = [key for key in info["missing_keys"] if needs_pooler or "pooler" not in key]
    if missing:
        raise ValueError(
            f"The checkpoint {name_or_path!r} lacks weights of its `{config.model_type}` backbone: "
            f"{sorted(missing)[:8]}. Pass a checkpoint of that tower (or, if only the pooler is missing, choose "
            "a 'mean' or 'cls' pooling)."
        )
    return backbone


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
        self.text_projection = nn.Linear(config.text_config.hidden_size, config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))

    def _init_weights(self, module: nn.Module) -> None:
        # Backbones are initialised by their own `_init_weights` (transformers dispatches per sub-model);
        # this covers the projections, the uni-modal heads and the logit scale.
        if module is self:
            init.constant_(self.logit_scale, self.config.logit_scale_init_value)
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
    ) -> tuple[BabelClipTextOutput, ModelOutput]:
        attention_mask = resolve_attention_mask(input_ids, attention_mask, self.config.text_config.pad_token_id, name)
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        backbone_output = self.text_model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **extra)
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
