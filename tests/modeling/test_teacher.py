import pytest
import torch
import torch.nn.functional as F

from tests.modeling.conftest import make_teacher
from tests.modeling.tiny import PROJECTION_DIM, random_token_batch

B, P = 4, PROJECTION_DIM


def _pair(seed: int = 0) -> dict[str, torch.Tensor]:
    source, target = random_token_batch(B, 6, seed=seed), random_token_batch(B, 9, seed=seed + 1)
    return {
        "source_input_ids": source["input_ids"],
        "source_attention_mask": source["attention_mask"],
        "target_input_ids": target["input_ids"],
        "target_attention_mask": target["attention_mask"],
    }


def test_fields_have_documented_shapes(text_backbone):
    out = make_teacher(text_backbone)(**_pair(), return_loss=True)
    assert out.logits_per_source.shape == (B, B)
    assert out.logits_per_target.shape == (B, B)
    assert out.source_embeds.shape == out.target_embeds.shape == (B, P)
    assert out.source_token_embeds.shape == (B, 6, P)
    assert out.target_token_embeds.shape == (B, 9, P)
    assert out.source_attention_mask.shape == (B, 6)
    assert out.target_attention_mask.shape == (B, 9)
    assert out.logit_scale.shape == out.loss.shape == ()


def test_source_and_target_share_weights_and_logits_are_scaled_cosines():
    teacher = make_teacher()
    batch = _pair()
    out = teacher(**batch, return_loss=True)
    source = teacher.get_text_features(batch["source_input_ids"], batch["source_attention_mask"])
    target = teacher.get_text_features(batch["target_input_ids"], batch["target_attention_mask"])
    expected = teacher.logit_scale.exp() * F.normalize(source, dim=-1) @ F.normalize(target, dim=-1).t()
    torch.testing.assert_close(out.logits_per_source, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits_per_target, expected.t(), atol=1e-5, rtol=1e-5)
    labels = torch.arange(B)
    reference = (F.cross_entropy(expected, labels) + F.cross_entropy(expected.t(), labels)) / 2
    torch.testing.assert_close(out.loss, reference, atol=1e-5, rtol=1e-5)

    same = teacher(
        source_input_ids=batch["source_input_ids"],
        source_attention_mask=batch["source_attention_mask"],
        target_input_ids=batch["source_input_ids"],
        target_attention_mask=batch["source_attention_mask"],
    )
    torch.testing.assert_close(same.source_embeds, same.target_embeds)


def test_source_only_gives_embeddings_without_logits():
    batch = _pair()
    out = make_teacher()(
        source_input_ids=batch["source_input_ids"], source_attention_mask=batch["source_attention_mask"]
    )
    assert out.source_embeds.shape == (B, P)
    assert out.target_embeds is None and out.logits_per_source is None and out.loss is None


def test_gradients_reach_backbone_projection_and_logit_scale_with_checkpointing():
    teacher = make_teacher().train()
    teacher.activation_checkpointing_enable()
    teacher(**_pair(), return_loss=True).loss.backward()
    for prefix in ("text_model.encoder.", "text_model.embeddings.", "text_projection.", "logit_scale"):
        grads = [p.grad for name, p in teacher.named_parameters() if name.startswith(prefix)]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads), prefix


def test_bad_input():
    teacher = make_teacher()
    batch = _pair()
    with pytest.raises(ValueError, match="pass `target_input_ids` too"):
        teacher(
            source_input_ids=batch["source_input_ids"],
            source_attention_mask=batch["source_attention_mask"],
            return_loss=True,
        )
    with pytest.raises(ValueError, match="`source_input_ids` holds 3 items and `target_input_ids` 4"):
        teacher(
            **{
                **batch,
                "source_input_ids": batch["source_input_ids"][:3],
                "source_attention_mask": batch["source_attention_mask"][:3],
            },
            return_loss=True,
        )
    padded = batch["target_input_ids"].clone()
    padded[0, -1] = teacher.config.text_config.pad_token_id
    with pytest.raises(ValueError, match="`target_input_ids` contains padding tokens"):
        teacher(
            source_input_ids=batch["source_input_ids"],
            source_attention_mask=batch["source_attention_mask"],
            target_input_ids=padded,
        )
