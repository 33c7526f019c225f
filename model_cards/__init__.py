"""babelclip model cards."""
