"""Fingerprints tell models, files and settings apart, and agree for the same thing reloaded."""

from __future__ import annotations

import hashlib

import torch
from transformers import BertConfig, BertModel

from babelclip.trainers.common.fingerprints import file_sha256, model_fingerprint, settings_fingerprint


def _tiny_bert(seed: int) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    return BertModel(config)


def test_model_fingerprint_survives_save_and_load(tmp_path):
    model = _tiny_bert(0)
    model.save_pretrained(tmp_path)
    assert model_fingerprint(BertModel.from_pretrained(tmp_path)) == model_fingerprint(model)


def test_model_fingerprint_sees_one_weight_and_the_config():
    model = _tiny_bert(0)
    before = model_fingerprint(model)
    with torch.no_grad():
        model.pooler.dense.bias[0] += 1e-6
    assert model_fingerprint(model) != before
    assert model_fingerprint(_tiny_bert(1)) != model_fingerprint(_tiny_bert(0))
    wider = _tiny_bert(0)
    wider.config.hidden_dropout_prob = 0.5  # same weights, another architecture setting
    assert model_fingerprint(wider) != model_fingerprint(_tiny_bert(0))


def test_settings_fingerprint_ignores_key_order_only():
    assert settings_fingerprint({"lr": 1e-4, "losses": ["a", "b"]}) == settings_fingerprint(
        {"losses": ["a", "b"], "lr": 1e-4}
    )
    assert settings_fingerprint({"losses": ["a", "b"]}) != settings_fingerprint({"losses": ["b", "a"]})


def test_file_sha256_is_hashlib_of_the_bytes(tmp_path):
    path = tmp_path / "weights.bin"
    payload = bytes(range(256)) * 5000  # several read chunks
    path.write_bytes(payload)
    assert file_sha256(path, chunk_bytes=4096) == hashlib.sha256(payload).hexdigest()
