"""Recipes built on the library: the presets (`presets.py`), the arguments and model builders of the training
commands (`arguments.py`, `builders.py`), the one-command demo (`demo.py`) and the methods benchmark (`benchmark/`),
and the shipped YAML and accelerate configs (`configs/`, `accelerate_configs/`, package data)."""

from pathlib import Path

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
ACCELERATE_CONFIGS_DIR = Path(__file__).resolve().parent / "accelerate_configs"
