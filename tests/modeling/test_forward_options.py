"""The student's `forward` takes `output_hidden_states`, `output_attentions` and `return_dict` as `CLIPModel` does: a
student imported from a CLIP returns CLIP's own hidden states, attentions and tuple."""

import pytest
import torch
from transformers import CLIPConfig, CLIPModel

from babelclip.modeling import CrossModalStudentModel
from tests.modeling.conftest import make_student
from tests.modeling.tiny import IMAGE_SIZE, VISION_SETTINGS, random_token_batch, text_settings

SEP_ID = 3  # CLIP pools at its end-of-text token: every test text ends with it


def _pixels(count: int = 2) -> torch.Tensor:
    return torch.randn(count, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(3))


def _clip_batch(count: int = 2) -> dict[str, torch.Tensor]:
    batch = random_token_batch(count, 6, vocab_size=90)
    lengths = batch["attention_mask"].sum(dim=1)
    batch["input_ids"][torch.arange(count), lengths - 1] = SEP_ID
    return batch


@pytest.fixture(scope="module")
def clip_and_student(tmp_path_factory) -> tuple[CLIPModel, CrossModalStudentModel]:
    torch.manual_seed(0)
    text = text_settings(90, pad_token_id=0, bos_token_id=2, eos_token_id=SEP_ID)
    clip = CLIPModel(CLIPConfig(text_config=text, vision_config=VISION_SETTINGS, projection_dim=24))
    path = tmp_path_factory.mktemp("clip")
    clip.save_pretrained(path)
    clip = CLIPModel.from_pretrained(path, attn_implementation="eager").eval()
    student = CrossModalStudentModel.from_dual_encoder(str(path)).eval()
    student.set_attn_implementation("eager")  # SDPA computes no attention weights to return
    return clip, student


def _assert_same_states(actual: tuple, expected: tuple) -> None:
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)


def test_hidden_states_and_attentions_are_clips_own(clip_and_student):
    clip, student = clip_and_student
    batch, pixels = _clip_batch(), _pixels()
    options = {"output_hidden_states": True, "output_attentions": True}
    with torch.no_grad():
        expected = clip(**batch, pixel_values=pixels, **options)
        actual = student(**batch, pixel_values=pixels, **options)
    for tower in ("text_model_output", "vision_model_output"):
        for field in ("hidden_states", "attentions"):
            _assert_same_states(getattr(actual[tower], field), getattr(expected[tower], field))
        assert len(actual[tower].attentions) == VISION_SETTINGS["num_hidden_layers"]
    torch.testing.assert_close(actual.logits_per_image, expected.logits_per_image, atol=1e-4, rtol=1e-5)


def test_return_dict_false_gives_a_tuple_that_starts_like_clips(clip_and_student):
    clip, student = clip_and_student
    batch, pixels = _clip_batch(), _pixels()
    with torch.no_grad():
        expected = clip(**batch, pixel_values=pixels, return_dict=False, return_loss=True)
        actual = student(**batch, pixel_values=pixels, return_dict=False, return_loss=True)
        named = student(**batch, pixel_values=pixels, return_loss=True)
    assert isinstance(actual, tuple)
    # loss, logits_per_image, logits_per_text, text_embeds, image_embeds: CLIPOutput's order.
    for mine, theirs in zip(actual[:5], expected[:5], strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-5)
    assert len(actual) == len(named.to_tuple())
    for mine, by_name in zip(actual, named.to_tuple(), strict=True):
        if isinstance(by_name, torch.Tensor):
            assert torch.equal(mine, by_name)
        else:  # a tower output, flattened to a tuple as CLIP does
            assert isinstance(mine, tuple) and all(torch.equal(a, b) for a, b in zip(mine, by_name, strict=True))


def test_config_return_dict_is_the_default(clip_and_student):
    _, student = clip_and_student
    batch, pixels = _clip_batch(), _pixels()
    student.config.return_dict = False
    try:
        with torch.no_grad():
            as_tuple = student(**batch, pixel_values=pixels)
            as_output = student(**batch, pixel_values=pixels, return_dict=True)
    finally:
        student.config.return_dict = True
    assert isinstance(as_tuple, tuple)
    assert torch.equal(as_tuple[0], as_output.logits_per_image)


def test_without_the_flags_no_states_are_kept():
    student = make_student()
    with torch.no_grad():
        out = student(**random_token_batch(2, 6), pixel_values=_pixels())
    for tower in (out.text_model_output, out.vision_model_output):
        assert tower.hidden_states is None and tower.attentions is None


def test_video_and_text_only_paths_take_the_flags():
    student = make_student(uni_modal_heads=True)
    student.set_attn_implementation("eager")
    frames = torch.stack([_pixels(3), _pixels(3).flip(0)])
    frame_mask = torch.tensor([[True, True, True], [True, False, False]])
    text = random_token_batch(2, 6)
    with torch.no_grad():
        video = student(**text, frames=frames, frame_mask=frame_mask, output_hidden_states=True)
        video_tuple = student(**text, frames=frames, frame_mask=frame_mask, return_dict=False)
        text_only = student(**text, text_only=True, output_attentions=True, return_dict=False)
        text_only_named = student(**text, text_only=True, output_attentions=True)
        # Only the 4 valid frames go through the vision tower.
        frame_states = student.vision_model(pixel_values=frames[frame_mask], output_hidden_states=True).hidden_states
    _assert_same_states(video.vision_model_output.hidden_states, frame_states)
    assert video.vision_model_output.hidden_states[0].shape[0] == 4
    torch.testing.assert_close(video_tuple[0], video.logits_per_image, atol=0, rtol=0)
    assert video.logits_per_image.shape == (2, 2)
    assert text_only_named.logits_per_image is None and text_only_named.image_embeds is None
    assert len(text_only_named.text_model_output.attentions) == 2
    assert torch.equal(text_only[0], text_only_named.text_embeds)  # no logits: the tuple starts at the text side
    assert len(text_only) == len(text_only_named.to_tuple())
