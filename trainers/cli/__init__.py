"""The `babelclip` command (`main.py`): a subcommand for every entry point (`commands.py`), all parsed by one
`--config` + `--key value` parser (`parser.py`); quick `--help` from light dataclasses (`help.py`, `arguments.py`).
`python -m babelclip.trainers.cli <command> ...` and `accelerate launch -m babelclip.trainers.cli <command> ...`
run the same thing."""
