"""The floor every other part of `babelclip.trainers` stands on: atomic file writes, lazy package exports and
config-value parsing. Imports only the standard library (and PyYAML where a file format needs it)."""
