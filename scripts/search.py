"""Multilingual search from the command line: encode a gallery once, then query it in any language.
The same as `babelclip search`.

    python scripts/search.py encode --model path/to/student --dataset embedded --split test --output gallery/
    python scripts/search.py query --model path/to/student --gallery gallery/ --text "ein roter Kreis" -k 5
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("search")

if __name__ == "__main__":
    run_as_script()
