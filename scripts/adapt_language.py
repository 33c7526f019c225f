"""Adapt a released babelclip student to a new language from bitext alone, with a LoRA adapter of a few hundred KB.
The same as `babelclip adapt` (`babelclip adapt --help` lists the options).

    python scripts/adapt_language.py --base runs/student --language yo --bitext embedded \
        --output-dir runs/adapters/yo --losses embedding_mse optimal_transport --max-steps 600 --eval-dataset embedded
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("adapt")

if __name__ == "__main__":
    run_as_script()
