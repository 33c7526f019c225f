"""`from_dual_encoder`: an aligned CLIP / SigLIP / AltCLIP / ChineseCLIP (or a CLIP vision + text pair) becomes a
babelclip student whose features equal the source model's own `get_image_features` / `get_text_features`."""

import copy
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import (
    AltCLIPConfig,
    AltCLIPModel,
    AutoModel,
    BertModel,
    ChineseCLIPConfig,
    ChineseCLIPModel,
    CLIPConfig,
    CLIPModel,
    CLIPTextModelWithProjection,
    CLIPVisionModel,
    CLIPVisionModelWithProjection,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Siglip2Config,
    SiglipConfig,
    SiglipImageProcessorPil,
    SiglipModel,
)

from babelclip.modeling import (
    BabelClipProcessor,
    CrossLingualTeacherModel,
    CrossModalStudentModel,
    load_dual_encoder,
)
from tests.modeling.conftest import make_student
from tests.modeling.test_remote_code import BLOCK_BABELCLIP, run_without_babelclip
from tests.modeling.tiny import (
    IMAGE_SIZE,
    SENTENCES,
    VISION_SETTINGS,
    random_images,
    text_settings,
    tiny_bert_config,
    tiny_image_processor,
    train_tokenizer,
)

SHARED_DIM = 24  # CLIP-style projections map 32-wide towers to 24; SigLIP has no projection, so its space is 32-wide.
TEXTS = ["a dog runs on the beach", "two children play football in the park", "a red car"]
SEP_ID = 3  # the WordPiece tokenizer's [SEP], which ends every text: the end-of-text token CLIP pools at


def _text_settings(vocab_size: int, **overrides) -> dict:
    """A text tower that ends every text with [SEP] (CLIP's end-of-text token) and pads with id 0."""
    return text_settings(vocab_size, pad_token_id=0, bos_token_id=2, eos_token_id=SEP_ID) | overrides


def _reloaded(model: PreTrainedModel, path: Path) -> PreTrainedModel:
    """Save, then load back as a user's checkpoint would be."""
    model.save_pretrained(path)
    return type(model).from_pretrained(path).eval()


@dataclass
class Source:
    """A saved dual encoder and its reference features, computed by the transformers model loaded from disk."""

    name_or_path: str | tuple[str, str]
    vision: PreTrainedModel
    text: PreTrainedModel
    text_pooling: str

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if isinstance(self.vision, CLIPVisionModelWithProjection):
            return self.vision(pixel_values=pixel_values).image_embeds
        return self.vision.get_image_features(pixel_values=pixel_values).pooler_output

    def text_features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(self.text, CLIPTextModelWithProjection):
            return self.text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).text_embeds
        return self.text.get_text_features(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).pooler_output

    def logits_per_image(self, batch: dict[str, torch.Tensor], pixel_values: torch.Tensor) -> torch.Tensor:
        """The composite model's logits (a pair of towers has none)."""
        return self.vision(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=pixel_values
        ).logits_per_image


@pytest.fixture(scope="module")
def english_tokenizer() -> PreTrainedTokenizerFast:
    """The dual encoders' own (English) tokenizer; the multilingual BERT below has a different one."""
    return train_tokenizer(vocab_size=120, sentences=SENTENCES[::3])


@pytest.fixture(scope="module")
def sources(tmp_path_factory, english_tokenizer) -> dict[str, Source]:
    root = tmp_path_factory.mktemp("dual_encoders")
    vocab = len(english_tokenizer)
    torch.manual_seed(0)
    clip = CLIPModel(
        CLIPConfig(text_config=_text_settings(vocab), vision_config=VISION_SETTINGS, projection_dim=SHARED_DIM)
    )
    siglip = SiglipModel(SiglipConfig(text_config=_text_settings(vocab), vision_config=VISION_SETTINGS))
    altclip = AltCLIPModel(
        AltCLIPConfig(
            # AltCLIP's text tower maps its 48-wide states to `project_dim` = 40 before the 40 -> 24 projection.
            text_config=_text_settings(vocab, hidden_size=48, project_dim=40),
            vision_config=VISION_SETTINGS,
            projection_dim=SHARED_DIM,
        )
    )
    chinese_clip = ChineseCLIPModel(
        ChineseCLIPConfig(text_config=_text_settings(vocab), vision_config=VISION_SETTINGS, projection_dim=SHARED_DIM)
    )
    with torch.no_grad():
        # Trained values, not the init ones, must come through.
        for model, scale in ((clip, 100.0), (siglip, 10.0), (altclip, 50.0), (chinese_clip, 20.0)):
            model.logit_scale.fill_(math.log(scale))
        siglip.logit_bias.fill_(-3.0)

    pair_vision = CLIPVisionModelWithProjection(_with_projection_dim(clip.config.vision_config))
    pair_vision.vision_model.load_state_dict(clip.vision_model.state_dict())
    pair_vision.visual_projection.load_state_dict(clip.visual_projection.state_dict())
    pair_text = CLIPTextModelWithProjection(_with_projection_dim(clip.config.text_config))
    pair_text.text_model.load_state_dict(clip.text_model.state_dict())
    pair_text.text_projection.load_state_dict(clip.text_projection.state_dict())

    image_processors = {"siglip": _siglip_image_processor()}
    loaded = {}
    for name, model in (
        ("clip", clip),
        ("siglip", siglip),
        ("altclip", altclip),
        ("chinese_clip", chinese_clip),
        ("pair_vision", pair_vision),
        ("pair_text", pair_text),
    ):
        loaded[name] = _reloaded(model, root / name)
        english_tokenizer.save_pretrained(root / name)
        image_processors.get(name, tiny_image_processor()).save_pretrained(root / name)
    return {
        "clip": Source(str(root / "clip"), loaded["clip"], loaded["clip"], "pooler"),
        "siglip": Source(str(root / "siglip"), loaded["siglip"], loaded["siglip"], "last"),
        "altclip": Source(str(root / "altclip"), loaded["altclip"], loaded["altclip"], "cls"),
        "chinese_clip": Source(str(root / "chinese_clip"), loaded["chinese_clip"], loaded["chinese_clip"], "cls"),
        "pair": Source(
            (str(root / "pair_vision"), str(root / "pair_text")), loaded["pair_vision"], loaded["pair_text"], "pooler"
        ),
    }


def _siglip_image_processor() -> SiglipImageProcessorPil:
    return SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def _with_projection_dim(config: PreTrainedConfig) -> PreTrainedConfig:
    config = copy.deepcopy(config)
    config.projection_dim = SHARED_DIM
    return config


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> str:
    """A multilingual text encoder (tiny BERT) with its own tokenizer, saved as a user's checkpoint would be."""
    path = tmp_path_factory.mktemp("bert")
    tokenizer = train_tokenizer()
    torch.manual_seed(1)
    BertModel(tiny_bert_config(vocab_size=len(tokenizer))).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _pixels(count: int = 3) -> torch.Tensor:
    return torch.randn(count, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(7))


def _batch(tokenizer: PreTrainedTokenizerFast, texts: list[str] = TEXTS) -> dict[str, torch.Tensor]:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert not batch["attention_mask"].all()  # padded rows: CLIP must still pool at [SEP], SigLIP at the last position
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


KINDS = ["clip", "siglip", "altclip", "chinese_clip", "pair"]


@pytest.mark.parametrize("kind", KINDS)
def test_features_equal_the_source_models(sources, english_tokenizer, kind):
    source = sources[kind]
    student = CrossModalStudentModel.from_dual_encoder(source.name_or_path).eval()
    batch, pixels = _batch(english_tokenizer), _pixels()
    with torch.no_grad():
        image, text = student.get_image_features(pixels), student.get_text_features(**batch)
        torch.testing.assert_close(image, source.image_features(pixels), atol=1e-5, rtol=0)
        torch.testing.assert_close(text, source.text_features(batch), atol=1e-5, rtol=0)
    assert image.shape[-1] == text.shape[-1] == student.config.projection_dim
    assert student.config.text_pooling == source.text_pooling
    assert student.config.vision_pooling == "pooler"


@pytest.mark.parametrize("kind", ["clip", "siglip", "altclip", "chinese_clip"])
def test_logits_equal_the_source_models_including_the_siglip_bias(sources, english_tokenizer, kind):
    source = sources[kind]
    student = CrossModalStudentModel.from_dual_encoder(source.name_or_path).eval()
    batch, pixels = _batch(english_tokenizer), _pixels()
    with torch.no_grad():
        out = student(**batch, pixel_values=pixels)
        torch.testing.assert_close(out.logits_per_image, source.logits_per_image(batch, pixels), atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(student.logit_scale.reshape(1), source.vision.logit_scale.reshape(1), atol=0, rtol=0)
    if kind == "siglip":
        assert student.logit_bias.item() == out.logit_bias.item() == -3.0
        assert student.config.logit_bias_init_value == -3.0
    else:
        assert student.logit_bias is None and out.logit_bias is None


def test_a_pair_without_logit_scale_starts_from_the_config_value(sources):
    student = CrossModalStudentModel.from_dual_encoder(sources["pair"].name_or_path, logit_scale_init_value=4.0)
    assert student.logit_scale.item() == 4.0
    assert student.logit_bias is None


def test_siglip_maps_onto_identity_vision_projection_and_its_text_head(sources):
    student = CrossModalStudentModel.from_dual_encoder(sources["siglip"].name_or_path)
    siglip = sources["siglip"].vision
    assert torch.equal(student.visual_projection.weight, torch.eye(32))
    assert torch.equal(student.text_projection.weight, siglip.text_model.head.weight)
    assert torch.equal(student.text_projection.bias, siglip.text_model.head.bias)
    assert student.config.text_projection_bias is True


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_saved_student_reloads_bit_identically(sources, tmp_path, kind):
    student = CrossModalStudentModel.from_dual_encoder(sources[kind].name_or_path)
    student.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is CrossModalStudentModel
    expected = student.state_dict()
    actual = loaded.state_dict()
    assert actual.keys() == expected.keys()
    for key, tensor in expected.items():
        assert torch.equal(actual[key], tensor), key


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_the_teacher_is_the_source_text_side_with_token_states_in_the_shared_space(sources, english_tokenizer, kind):
    source = sources[kind]
    teacher = CrossLingualTeacherModel.from_dual_encoder(source.name_or_path).eval()
    batch = _batch(english_tokenizer)
    with torch.no_grad():
        expected = source.text_features(batch)
        torch.testing.assert_close(teacher.get_text_features(**batch), expected, atol=1e-5, rtol=0)
        tokens = teacher.encode_text(**batch).text_token_embeds
    # The pooled embedding is one of the projected token states: the first [SEP] for CLIP, the last one for SigLIP.
    position = (batch["input_ids"] == SEP_ID).int().argmax(dim=1) if kind == "clip" else torch.full((3,), -1)
    torch.testing.assert_close(tokens[torch.arange(3), position], expected, atol=1e-5, rtol=0)
    assert teacher.logit_scale.item() == source.vision.logit_scale.item()


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_new_text_encoder_replaces_the_text_side_and_the_source_text_side_becomes_the_teacher(
    sources, english_tokenizer, bert_dir, tmp_path, kind
):
    source = sources[kind]
    student = CrossModalStudentModel.from_dual_encoder(
        source.name_or_path, text_model_name_or_path=bert_dir, source_teacher_dir=tmp_path / "teacher"
    ).eval()
    bert = BertModel.from_pretrained(bert_dir)
    state = student.text_model.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in bert.state_dict().items())
    assert student.config.text_config.model_type == "bert"
    assert student.config.text_pooling == "mean"
    shared = student.config.projection_dim
    assert (student.text_projection.in_features, student.text_projection.out_features) == (32, shared)
    assert student.text_projection.bias is None
    torch.testing.assert_close(student.logit_scale, source.vision.logit_scale.reshape(()), atol=0, rtol=0)

    bert_batch = _batch(PreTrainedTokenizerFast.from_pretrained(bert_dir), ["ein Hund rennt", "zwei Kinder"])
    with torch.no_grad():
        torch.testing.assert_close(
            student.get_image_features(_pixels()), source.image_features(_pixels()), atol=1e-5, rtol=0
        )
        assert student.get_text_features(**bert_batch).shape == (2, shared)

    teacher = CrossLingualTeacherModel.from_pretrained(tmp_path / "teacher").eval()
    saved_tokenizer = PreTrainedTokenizerFast.from_pretrained(tmp_path / "teacher")
    assert saved_tokenizer.get_vocab() == english_tokenizer.get_vocab()
    batch = _batch(saved_tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(teacher.get_text_features(**batch), source.text_features(batch), atol=1e-5, rtol=0)


def test_a_source_folder_without_tokenizer_gives_a_teacher_without_one(sources, bert_dir, tmp_path):
    sources["clip"].vision.save_pretrained(tmp_path / "bare_clip")
    CrossModalStudentModel.from_dual_encoder(
        str(tmp_path / "bare_clip"), text_model_name_or_path=bert_dir, source_teacher_dir=tmp_path / "teacher"
    )
    saved = {path.name for path in (tmp_path / "teacher").iterdir()}
    assert {"config.json", "model.safetensors"} <= saved
    assert not saved & {"tokenizer.json", "tokenizer_config.json"}


def test_new_text_encoder_pooling_can_be_chosen(sources, bert_dir):
    student = CrossModalStudentModel.from_dual_encoder(
        sources["clip"].name_or_path, text_model_name_or_path=bert_dir, text_pooling="cls", uni_modal_heads=True
    )
    assert student.config.text_pooling == "cls"
    assert student.uni_text_head is not None


def test_processor_uses_the_pil_image_processor_and_the_tokenizer_of_the_text_side(
    sources, english_tokenizer, bert_dir
):
    images = random_images(2)
    for kind, reference in (("clip", tiny_image_processor()), ("siglip", _siglip_image_processor())):
        processor = BabelClipProcessor.from_dual_encoder(sources[kind].name_or_path)
        assert processor.image_processor.backend == "pil"
        expected = reference(images, return_tensors="pt")["pixel_values"]
        assert torch.equal(processor(images=images)["pixel_values"], expected)
        assert processor.tokenizer.get_vocab() == english_tokenizer.get_vocab()
    multilingual = BabelClipProcessor.from_dual_encoder(sources["pair"].name_or_path, text_model_name_or_path=bert_dir)
    assert multilingual.tokenizer.get_vocab() == PreTrainedTokenizerFast.from_pretrained(bert_dir).get_vocab()
    assert multilingual.image_processor.backend == "pil"


# --- reloading where babelclip is not importable ---------------------------------------------------------------------

REMOTE_CHILD = BLOCK_BABELCLIP + textwrap.dedent(
    """
    import json

    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    work = Path(sys.argv[1])
    texts = json.loads((work / "texts.json").read_text())
    images = [Image.open(path) for path in sorted(work.glob("image_*.png"))]
    results = {}
    for name in json.loads((work / "folders.json").read_text()):
        model = AutoModel.from_pretrained(work / name, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained(work / name, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            if name.endswith("teacher"):
                batch = processor(texts, padding=True, return_tensors="pt")
                results[name] = {"text": model.get_text_features(batch["input_ids"], batch["attention_mask"])}
                continue
            batch = processor(text=texts, images=images)
            text = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            results[name] = {
                "image": model.get_image_features(batch["pixel_values"]),
                "text": model.get_text_features(**text),
                "logits": model(**text, pixel_values=batch["pixel_values"]).logits_per_image,
            }
    torch.save(results, work / "result.pt")
    """
)


def test_saved_students_and_teacher_load_without_babelclip_and_give_the_source_features(
    sources, english_tokenizer, bert_dir, tmp_path
):
    images = random_images(3)
    for index, image in enumerate(images):
        image.save(tmp_path / f"image_{index}.png")
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS))
    for kind in ("clip", "siglip"):
        CrossModalStudentModel.from_dual_encoder(sources[kind].name_or_path).save_pretrained(tmp_path / kind)
        BabelClipProcessor.from_dual_encoder(sources[kind].name_or_path).save_pretrained(tmp_path / kind)
    CrossModalStudentModel.from_dual_encoder(
        sources["clip"].name_or_path, text_model_name_or_path=bert_dir, source_teacher_dir=tmp_path / "clip_teacher"
    )
    (tmp_path / "folders.json").write_text(json.dumps(["clip", "siglip", "clip_teacher"]))

    run_without_babelclip(REMOTE_CHILD, [str(tmp_path)], tmp_path)
    result = torch.load(tmp_path / "result.pt")

    batch = english_tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    batch = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    for kind, image_processor in (("clip", tiny_image_processor()), ("siglip", _siglip_image_processor())):
        pixels = image_processor(images, return_tensors="pt")["pixel_values"]
        source = sources[kind]
        with torch.no_grad():
            expected = {
                "image": source.image_features(pixels),
                "text": source.text_features(batch),
                "logits": source.logits_per_image(batch, pixels),
            }
        for key, value in expected.items():
            torch.testing.assert_close(result[kind][key], value, atol=1e-5, rtol=1e-6, msg=f"{kind} {key}")
    with torch.no_grad():
        expected_teacher = sources["clip"].text_features(batch)
    torch.testing.assert_close(result["clip_teacher"]["text"], expected_teacher, atol=1e-5, rtol=0)


# --- what cannot be imported -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unsupported(tmp_path_factory, sources, bert_dir) -> dict[str, str | tuple[str, str]]:
    root = tmp_path_factory.mktemp("unsupported")
    torch.manual_seed(0)
    CLIPVisionModel(sources["clip"].vision.config.vision_config).save_pretrained(root / "vision_without_projection")
    other = copy.deepcopy(sources["pair"].text.config)
    other.projection_dim = 16
    CLIPTextModelWithProjection(other).save_pretrained(root / "text_16")
    Siglip2Config(text_config=_text_settings(99), vision_config=VISION_SETTINGS).save_pretrained(root / "siglip2")
    # A SigLIP whose text tower embeds into 48 dimensions but whose vision tower (no projection) gives 32.
    SiglipModel(
        SiglipConfig(text_config=_text_settings(99, hidden_size=48), vision_config=VISION_SETTINGS)
    ).save_pretrained(root / "siglip_mismatch")
    SiglipModel(
        SiglipConfig(text_config=_text_settings(99), vision_config=VISION_SETTINGS | {"vision_use_head": False})
    ).save_pretrained(root / "siglip_headless")
    make_student().save_pretrained(root / "babelclip")
    pair_vision, pair_text = sources["pair"].name_or_path
    return {
        "bert": bert_dir,
        "vision_only": pair_vision,
        "swapped_pair": (pair_text, pair_vision),
        "no_projection": (str(root / "vision_without_projection"), pair_text),
        "different_spaces": (pair_vision, str(root / "text_16")),
        "three": (pair_vision, pair_text, pair_text),
        "siglip2": str(root / "siglip2"),
        "siglip_mismatch": str(root / "siglip_mismatch"),
        "siglip_headless": str(root / "siglip_headless"),
        "babelclip": str(root / "babelclip"),
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bert", r"a `bert` checkpoint, not an aligned dual encoder .*from_vision_text_pretrained"),
        ("vision_only", r"has no text tower: pass a full dual encoder or a \(vision, text\) pair"),
        ("swapped_pair", r"first of a \(vision, text\) pair must be a `CLIPVisionModelWithProjection`"),
        ("no_projection", r"lacks weights of a `CLIPVisionModelWithProjection`: \['visual_projection.weight'\]"),
        ("different_spaces", "projects to 24 dimensions, .* to 16"),
        ("three", r"\(vision, text\) pair of folders / Hub ids, got 3 items"),
        ("siglip2", "Siglip2 model, whose NaFlex vision tower"),
        ("siglip_mismatch", r"no vision projection, and its vision tower's width \(32\) differs .* \(48\)"),
        ("siglip_headless", r"without its vision pooling head \(`vision_use_head=False`\)"),
        ("babelclip", "already is a babelclip `babelclip` checkpoint"),
    ],
)
def test_what_is_not_an_importable_dual_encoder_is_rejected(unsupported, name, message):
    with pytest.raises(ValueError, match=message):
        CrossModalStudentModel.from_dual_encoder(unsupported[name])


def test_a_text_tower_alone_makes_a_teacher_but_not_a_student(unsupported, sources, english_tokenizer):
    text_only = sources["pair"].name_or_path[1]
    assert load_dual_encoder(text_only).vision_model is None
    teacher = CrossLingualTeacherModel.from_dual_encoder(text_only).eval()
    batch = _batch(english_tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(
            teacher.get_text_features(**batch), sources["pair"].text_features(batch), atol=1e-5, rtol=0
        )
    with pytest.raises(ValueError, match="has no vision tower"):
        CrossModalStudentModel.from_dual_encoder(text_only)
    with pytest.raises(ValueError, match="has no text tower: the teacher is a dual encoder's text side"):
        CrossLingualTeacherModel.from_dual_encoder(unsupported["vision_only"])


def test_a_vision_tower_alone_takes_a_new_text_encoder_but_gives_no_teacher(unsupported, sources, bert_dir, tmp_path):
    vision_only = unsupported["vision_only"]
    student = CrossModalStudentModel.from_dual_encoder(vision_only, text_model_name_or_path=bert_dir).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            student.get_image_features(_pixels()), sources["pair"].image_features(_pixels()), atol=1e-5, rtol=0
        )
    assert student.logit_scale.item() == pytest.approx(2.6592)  # no logit scale in a tower: the config default
    with pytest.raises(ValueError, match="has no text tower: the source teacher is the source's text side"):
        CrossModalStudentModel.from_dual_encoder(
            vision_only, text_model_name_or_path=bert_dir, source_teacher_dir=tmp_path / "teacher"
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"projection_dim": 8}, r"takes \['projection_dim'\] from the dual encoder"),
        ({"text_pooling": "mean"}, r"takes \['text_pooling'\]"),
        ({"logit_scale_init_value": 1.0}, r"takes \['logit_scale_init_value'\]"),
        ({"source_teacher_dir": "somewhere"}, "`source_teacher_dir` .* needs `text_model_name_or_path`"),
    ],
)
def test_settings_the_source_fixes_cannot_be_overridden(sources, kwargs, message):
    with pytest.raises(ValueError, match=message):
        CrossModalStudentModel.from_dual_encoder(sources["clip"].name_or_path, **kwargs)


def test_from_vision_text_pretrained_takes_siglip_towers_but_not_their_alignment(sources):
    siglip = sources["siglip"]
    student = CrossModalStudentModel.from_vision_text_pretrained(siglip.name_or_path, siglip.name_or_path)
    for tower in ("vision_model", "text_model"):
        expected = getattr(siglip.vision, tower).state_dict()
        assert all(torch.equal(value, expected[key]) for key, value in getattr(student, tower).state_dict().items())
    assert student.config.text_pooling == "mean"  # its own defaults: new projections, no bias, no logit bias
    assert student.logit_bias is None
