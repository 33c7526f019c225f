import time

import pytest
import torch
import torch.nn.functional as F

from babelclip.modeling import CrossModalStudentConfig, CrossModalStudentModel
from tests.modeling.conftest import make_student
from tests.modeling.tiny import IMAGE_SIZE, PROJECTION_DIM, random_token_batch, tiny_bert_config, tiny_vision_config

B, L, P = 3, 7, PROJECTION_DIM


def _pixels(batch: int = B, size: int = IMAGE_SIZE, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_builds_fast(text_backbone):
    start = time.perf_counter()
    make_student(text_backbone)
    assert time.perf_counter() - start < 3.0


def test_forward_fields_have_documented_shapes(text_backbone):
    model = make_student(text_backbone, uni_modal_heads=True)
    out = model(**random_token_batch(B, L), pixel_values=_pixels(2), return_loss=False)
    assert out.logits_per_image.shape == (2, B)
    assert out.logits_per_text.shape == (B, 2)
    assert out.image_embeds.shape == (2, P)
    assert out.text_embeds.shape == (B, P)
    assert out.text_token_embeds.shape == (B, L, P)
    assert out.text_attention_mask.shape == (B, L)
    assert out.uni_image_embeds.shape == (2, P)
    assert out.uni_text_embeds.shape == (B, P)
    assert out.logit_scale.shape == ()
    assert out.loss is None
    assert out.text_model_output.last_hidden_state.shape == (B, L, 32)
    assert out.vision_model_output.last_hidden_state.shape[0] == 2


def test_logits_are_scaled_cosines_and_loss_is_symmetric_infonce():
    model = make_student()
    text = random_token_batch(B, L)
    pixels = _pixels()
    out = model(**text, pixel_values=pixels, return_loss=True)

    image = model.get_image_features(pixels)
    caption = model.get_text_features(**text)
    scale = model.logit_scale.exp()
    for i in range(B):
        for j in range(B):
            expected = scale * F.cosine_similarity(image[i], caption[j], dim=0)
            torch.testing.assert_close(out.logits_per_image[i, j], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits_per_text, out.logits_per_image.t())
    torch.testing.assert_close(out.image_embeds.norm(dim=-1), torch.ones(B))

    # Hand-written InfoNCE: -log softmax of the matching pair, averaged over rows, for both directions.
    def row_loss(logits):
        return sum(-(logits[i, i] - torch.logsumexp(logits[i], dim=0)) for i in range(len(logits))) / len(logits)

    expected_loss = (row_loss(out.logits_per_image) + row_loss(out.logits_per_text)) / 2
    torch.testing.assert_close(out.loss, expected_loss, atol=1e-5, rtol=1e-5)


def test_mean_pooling_ignores_padding_and_uses_real_tokens_only():
    model = make_student(text_pooling="mean")
    text = random_token_batch(2, L)
    encoded = model.encode_text(**text)
    row = 1  # padded row
    real = text["attention_mask"][row].bool()
    hidden = encoded.last_hidden_state[row, real]
    expected = model.text_projection(hidden.mean(dim=0))
    torch.testing.assert_close(encoded.text_embeds[row], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoded.text_token_embeds, model.text_projection(encoded.last_hidden_state))


@pytest.mark.parametrize("pooling", ["cls", "pooler", "last"])
def test_other_text_poolings(pooling):
    model = make_student(text_pooling=pooling)
    text = random_token_batch(2, L)
    encoded = model.encode_text(**text)
    backbone = model.text_model(**text)
    pooled = {
        "cls": backbone.last_hidden_state[:, 0],
        "pooler": backbone.pooler_output,
        "last": backbone.last_hidden_state[:, -1],  # padding included, as SigLIP pools
    }[pooling]
    torch.testing.assert_close(encoded.text_embeds, model.text_projection(pooled))


def test_text_projection_bias_is_optional():
    assert make_student().text_projection.bias is None
    model = make_student(text_projection_bias=True)
    assert model.text_projection.bias.shape == (P,)
    assert not model.text_projection.bias.any()  # initialised to zero


def test_logit_bias_is_added_to_every_logit_and_absent_by_default():
    plain, biased = make_student(), make_student(logit_bias_init_value=-2.5)
    assert plain.logit_bias is None and "logit_bias" not in plain.state_dict()
    assert biased.logit_bias.item() == -2.5
    text, pixels = random_token_batch(B, L), _pixels()
    out_plain = plain(**text, pixel_values=pixels, return_loss=True)
    out_biased = biased(**text, pixel_values=pixels, return_loss=True)
    torch.testing.assert_close(out_biased.logits_per_image, out_plain.logits_per_image - 2.5)
    torch.testing.assert_close(out_biased.logits_per_text, out_plain.logits_per_text - 2.5)
    assert out_plain.logit_bias is None and out_biased.logit_bias.item() == -2.5
    # A bias shared by every logit cancels in the softmax: InfoNCE does not change and gives it no gradient.
    torch.testing.assert_close(out_biased.loss, out_plain.loss)
    out_biased.loss.backward()
    assert biased.logit_bias.grad.abs().item() < 1e-6
    assert biased(**text, text_only=True).logit_bias.item() == -2.5


def test_uni_modal_heads_apply_layernorm_linear_to_projected_embeddings():
    model = make_student(uni_modal_heads=True)
    image = model.encode_image(_pixels())
    head = model.uni_visual_head
    expected = head[1](F.layer_norm(image.image_embeds, (P,), head[0].weight, head[0].bias, head[0].eps))
    torch.testing.assert_close(image.uni_image_embeds, expected)
    assert make_student().uni_text_head is None


def test_gradients_reach_both_towers_projections_and_logit_scale(text_backbone):
    model = make_student(text_backbone).train()
    out = model(**random_token_batch(B, L), pixel_values=_pixels(), return_loss=True)
    out.loss.backward()
    for prefix in ("vision_model.", "text_model.", "visual_projection.", "text_projection.", "logit_scale"):
        # The text pooler is unused with the default mean pooling, so it rightly gets no gradient.
        grads = [p.grad for name, p in model.named_parameters() if name.startswith(prefix) and ".pooler." not in name]
        assert grads and all(g is not None for g in grads), prefix
        assert sum(g.abs().sum() for g in grads) > 0, prefix


def test_activation_checkpointing_recomputes_layers_and_keeps_gradients():
    def run(checkpointing: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
        torch.manual_seed(0)
        config = CrossModalStudentConfig(
            vision_config=tiny_vision_config(),
            text_config=tiny_bert_config().to_dict()
            | {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
            projection_dim=P,
        )
        model = CrossModalStudentModel(config).train()
        if checkpointing:
            model.activation_checkpointing_enable()
        calls = []
        # Early sub-modules of a layer: their hooks fire again when the layer is recomputed during backward (late ones
        # may not: torch stops recomputing once the saved tensors it needs are back).
        model.text_model.encoder.layer[0].attention.register_forward_hook(lambda *_: calls.append("text"))
        model.vision_model.encoder.layers[0].self_attn.register_forward_hook(lambda *_: calls.append("vision"))
        model(**random_token_batch(B, L), pixel_values=_pixels(), return_loss=True).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}, sorted(calls)

    plain, plain_calls = run(False)
    checkpointed, checkpointed_calls = run(True)
    assert plain_calls == ["text", "vision"]
    assert checkpointed_calls == ["text", "text", "vision", "vision"]  # both towers recomputed: checkpointing is on
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-5, msg=name)


# --- video ---------------------------------------------------------------------------------------------------------


def _video_batch() -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.randn(2, 4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(3))
    frame_mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    return frames, frame_mask


def test_video_embedding_is_mean_of_its_valid_frames():
    model = make_student(uni_modal_heads=True)
    frames, frame_mask = _video_batch()
    video = model.get_video_features(frames, frame_mask)
    assert video.shape == (2, P)
    for index in range(2):
        valid = frames[index][frame_mask[index]]
        expected = torch.stack([model.get_image_features(frame[None])[0] for frame in valid]).mean(dim=0)
        torch.testing.assert_close(video[index], expected, atol=1e-5, rtol=1e-5)


def test_masked_frames_change_nothing():
    model = make_student()
    frames, frame_mask = _video_batch()
    reference = model.get_video_features(frames, frame_mask)
    corrupted = frames.clone()
    corrupted[0, 3] = float("nan")
    corrupted[1, 1:] = 1e4 * torch.randn(3, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert torch.equal(model.get_video_features(corrupted, frame_mask), reference)
    out = model(**random_token_batch(2, L), frames=corrupted, frame_mask=frame_mask, return_loss=True)
    torch.testing.assert_close(out.image_embeds, F.normalize(reference, dim=-1))
    assert torch.isfinite(out.loss)


def test_video_without_mask_uses_every_frame():
    model = make_student()
    frames, _ = _video_batch()
    expected = model.get_image_features(frames.flatten(0, 1)).view(2, 4, P).mean(dim=1)
    torch.testing.assert_close(model.get_video_features(frames), expected, atol=1e-5, rtol=1e-5)


# --- bad input -----------------------------------------------------------------------------------------------------


def test_video_without_valid_frame_is_rejected():
    frames, frame_mask = _video_batch()
    frame_mask[1] = False
    with pytest.raises(ValueError, match=r"Videos \[1\] have no valid frame"):
        make_student().get_video_features(frames, frame_mask)


def test_needs_exactly_one_of_pixel_values_and_frames():
    model = make_student()
    text = random_token_batch(2, L)
    with pytest.raises(ValueError, match=r"pass `pixel_values`.*or `frames`"):
        model(**text)
    frames, frame_mask = _video_batch()
    with pytest.raises(ValueError, match="not both"):
        model(**text, pixel_values=_pixels(2), frames=frames, frame_mask=frame_mask)
    with pytest.raises(ValueError, match="pass `input_ids`"):
        model(pixel_values=_pixels(2))


def test_text_only_forward_matches_the_text_half_of_a_full_forward():
    model = make_student(uni_modal_heads=True)
    text = random_token_batch(B, L)
    full = model(**text, pixel_values=_pixels(B))
    alone = model(**text, text_only=True)
    assert alone.image_embeds is None and alone.logits_per_image is None and alone.uni_image_embeds is None
    for field in ("text_embeds", "text_token_embeds", "uni_text_embeds", "logit_scale"):
        torch.testing.assert_close(getattr(alone, field), getattr(full, field), rtol=0, atol=0)
    with pytest.raises(ValueError, match="text_only=True"):
        model(**text, pixel_values=_pixels(B), text_only=True)
    with pytest.raises(ValueError, match="text_only=True"):
        model(**text, text_only=True, return_loss=True)


def test_padding_without_attention_mask_is_rejected(text_backbone):
    model = make_student(text_backbone)
    input_ids = random_token_batch(2, L)["input_ids"]
    input_ids[0, -2:] = model.config.text_config.pad_token_id
    with pytest.raises(ValueError, match=r"padding tokens .* no attention mask"):
        model.get_text_features(input_ids)
    # Without padding, a missing mask is fine and means "all tokens are real".
    clean = random_token_batch(2, L)["input_ids"]
    torch.testing.assert_close(model.get_text_features(clean), model.get_text_features(clean, torch.ones_like(clean)))


def test_image_size_the_vision_tower_cannot_take_is_rejected():
    with pytest.raises(ValueError, match=r"\(48, 48\) pixels .* takes \(32, 32\): resize"):
        make_student().get_image_features(_pixels(2, size=48))
    with pytest.raises(ValueError, match="1 channels"):
        make_student().get_image_features(_pixels(2)[:, :1])


def test_mismatched_batch_sizes_are_rejected_only_with_return_loss():
    model = make_student()
    text = random_token_batch(3, L)
    with pytest.raises(ValueError, match="`pixel_values` holds 2 items and `input_ids` 3"):
        model(**text, pixel_values=_pixels(2), return_loss=True)
    assert model(**text, pixel_values=_pixels(2)).logits_per_image.shape == (2, 3)
