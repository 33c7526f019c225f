"""The cross-lingual teacher (CL2CM's CL network, arXiv 2312.08984): one multilingual text encoder shared by source
and target sentences, returning pooled embeddings, projected token states (for word-level optimal transport, computed
by the trainer) and the instance-level InfoNCE over source-target pairs."""

import os

import torch
from torch import nn

from .configuration_babelclip import CrossLingualTeacherConfig
from .dual_encoder_babelclip import (
    DualEncoderParts,
    DualEncoderSource,
    copy_logit_parameters,
    copy_projection,
    load_dual_encoder,
    load_source_tokenizer,
    logit_settings,
)
from .functional_babelclip import scaled_cosine_logits, symmetric_contrastive_loss
from .modeling_base_babelclip import (
    BabelClipPreTrainedModel,
    copy_backbone_weights,
    load_backbone_config,
    load_pretrained_into,
)
from .outputs_babelclip import CrossLingualTeacherOutput
from .validation_babelclip import check_same_batch_size

__all__ = ["CrossLingualTeacherModel", "save_source_teacher"]


class CrossLingualTeacherModel(BabelClipPreTrainedModel):
    r"""
    Multilingual text encoder: `text_model` -> pooling -> `text_projection`, and a learnable `logit_scale`.

    Example:

    ```python
    >>> from babelclip.modeling import CrossLingualTeacherModel

    >>> teacher = CrossLingualTeacherModel.from_text_pretrained("google-bert/bert-base-multilingual-cased")
    >>> source = tokenizer(["a dog runs"], return_tensors="pt")
    >>> target = tokenizer(["ein Hund rennt"], return_tensors="pt")
    >>> outputs = teacher(
    ...     source_input_ids=source.input_ids,
    ...     source_attention_mask=source.attention_mask,
    ...     target_input_ids=target.input_ids,
    ...     target_attention_mask=target.attention_mask,
    ...     return_loss=True,
    ... )
    ```"""

    config_class = CrossLingualTeacherConfig
    config: CrossLingualTeacherConfig
    main_input_name = "source_input_ids"
    input_modalities = ("text",)

    def __init__(self, config: CrossLingualTeacherConfig):
        super().__init__(config)
        self._init_text_tower(config)
        self.post_init()

    def forward(
        self,
        source_input_ids: torch.Tensor,
        source_attention_mask: torch.Tensor | None = None,
        target_input_ids: torch.Tensor | None = None,
        target_attention_mask: torch.Tensor | None = None,
        source_token_type_ids: torch.Tensor | None = None,
        target_token_type_ids: torch.Tensor | None = None,
        return_loss: bool = False,
    ) -> CrossLingualTeacherOutput:
        r"""
        Encode source sentences and, optionally, their translations with the same weights.

        Args:
            source_input_ids (`torch.LongTensor` of shape `(B_src, L_src)`):
                Source-language (e.g. English) token ids.
            source_attention_mask (`torch.LongTensor` of shape `(B_src, L_src)`, *optional*):
                1 for real tokens, 0 for padding; required when the batch contains padding.
            target_input_ids (`torch.LongTensor` of shape `(B_tgt, L_tgt)`, *optional*):
                Target-language token ids; target i translates source i.
            target_attention_mask (`torch.LongTensor` of shape `(B_tgt, L_tgt)`, *optional*):
                Padding mask of the targets.
            source_token_type_ids, target_token_type_ids (`torch.LongTensor`, *optional*):
                Segment ids, for backbones that use them.
            return_loss (`bool`, *optional*, defaults to `False`):
                Also return the symmetric InfoNCE over source-target pairs (needs targets and `B_src == B_tgt`).

        Returns:
            [`CrossLingualTeacherOutput`]
        """
        if return_loss:
            if target_input_ids is None:
                raise ValueError("`return_loss=True` aligns sources with targets: pass `target_input_ids` too.")
            check_same_batch_size(source_input_ids, target_input_ids, "source_input_ids", "target_input_ids")

        source, _ = self._run_text_tower(
            source_input_ids, source_attention_mask, source_token_type_ids, name="source_input_ids"
        )
        source_embeds = nn.functional.normalize(source.text_embeds, dim=-1)
        logit_scale = self.logit_scale.exp()
        target = target_embeds = logits_per_source = loss = None
        if target_input_ids is not None:
            target, _ = self._run_text_tower(
                target_input_ids, target_attention_mask, target_token_type_ids, name="target_input_ids"
            )
            target_embeds = nn.functional.normalize(target.text_embeds, dim=-1)
            logits_per_source = scaled_cosine_logits(source_embeds, target_embeds, logit_scale)
            if return_loss:
                loss = symmetric_contrastive_loss(logits_per_source)

        return CrossLingualTeacherOutput(
            loss=loss,
            logits_per_source=logits_per_source,
            logits_per_target=None if logits_per_source is None else logits_per_source.t(),
            source_embeds=source_embeds,
            target_embeds=target_embeds,
            source_token_embeds=source.text_token_embeds,
            target_token_embeds=None if target is None else target.text_token_embeds,
            source_attention_mask=source.attention_mask,
            target_attention_mask=None if target is None else target.attention_mask,
            logit_scale=logit_scale,
        )

    @classmethod
    def from_text_pretrained(cls, text_model_name_or_path: str, **config_kwargs) -> "CrossLingualTeacherModel":
        r"""
        Start a teacher from a pretrained text encoder, copying its weights exactly; the projection and the logit
        scale are newly initialised.

        Args:
            text_model_name_or_path (`str`):
                Hub id or folder of an encoder-only text model (e.g. mBERT, XLM-R); for a composite checkpoint its
                text tower is used.
            config_kwargs (*optional*):
                Other [`CrossLingualTeacherConfig`] arguments (`projection_dim`, `text_pooling`, ...).
        """
        text_config = load_backbone_config(text_model_name_or_path, "text")
        config = cls.config_class(text_config=text_config.to_dict(), **config_kwargs)
        model = cls(config)
        load_pretrained_into(model.text_model, text_model_name_or_path, text_config, config.text_pooling == "pooler")
        return model

    @classmethod
    def from_dual_encoder(cls, name_or_path: DualEncoderSource) -> "CrossLingualTeacherModel":
        r"""
        The English text side of an aligned dual encoder as a teacher: its text tower, pooling, projection and logit
        scale, copied exactly, so `get_text_features` equals the source's `get_text_features`.

        The projection is applied to every token too: `source_token_embeds` (and `encode_text(...).text_token_embeds`)
        are the text tower's token states mapped into the dual encoder's shared image-text space. That is how the
        teacher's token states reach the space a student's projected token states live in, for word-level optimal
        transport distillation. (For SigLIP the projection is its text `head`, see
        `CrossModalStudentModel.from_dual_encoder`.)

        Args:
            name_or_path (`str`, `os.PathLike` or a `(vision, text)` pair of them):
                A `CLIPModel`, `SiglipModel`, `AltCLIPModel` or `ChineseCLIPModel` folder / Hub id, a
                `(CLIPVisionModelWithProjection, CLIPTextModelWithProjection)` pair, or a
                `CLIPTextModelWithProjection` alone.

        Example:

        ```python
        >>> teacher = CrossLingualTeacherModel.from_dual_encoder("openai/clip-vit-base-patch32")
        >>> tokens = tokenizer(["a photo of a dog"], padding=True, return_tensors="pt")
        >>> teacher.get_text_features(tokens.input_ids, tokens.attention_mask).shape
        torch.Size([1, 512])
        ```"""
        return cls.from_dual_encoder_parts(load_dual_encoder(name_or_path))

    @classmethod
    def from_dual_encoder_parts(cls, parts: DualEncoderParts) -> "CrossLingualTeacherModel":
        """[`~CrossLingualTeacherModel.from_dual_encoder`] for a dual encoder already loaded by `load_dual_encoder`."""
        parts.require("text", "the teacher is a dual encoder's text side; pass one that has it.")
        config = cls.config_class(
            text_config=parts.text_model.config.to_dict(),
            projection_dim=parts.projection_dim,
            text_pooling=parts.text_pooling,
            text_projection_bias=parts.text_projection_bias,
            # Text-text logits have no use for SigLIP's image-text bias.
            **logit_settings(parts, include_bias=False),
        )
        model = cls(config)
        copy_backbone_weights(
            model.text_model, parts.text_model, config.text_pooling == "pooler", f"{parts.source}'s text tower"
        )
        copy_projection(model.text_projection, parts.text_projection)
        copy_logit_parameters(model, parts)
        return model


def save_source_teacher(parts: DualEncoderParts, directory: str | os.PathLike) -> CrossLingualTeacherModel:
    """
    Save a dual encoder's text side as a [`CrossLingualTeacherModel`] in `directory`, with the source's own tokenizer
    when its folder has one, and return the teacher.
    """
    teacher = CrossLingualTeacherModel.from_dual_encoder_parts(parts)
    teacher.save_pretrained(directory)
    tokenizer = load_source_tokenizer(parts.text_path)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return teacher
