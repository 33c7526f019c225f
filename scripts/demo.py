"""The main job in one command (see `babelclip.trainers.demo` for the stages):

    python scripts/demo.py --output-dir runs/demo

Trains the cross-lingual teacher, the translate-train baseline and the CL2CM + CUSA + OT distilled student on the
embedded dataset, evaluates both students per language on its test split, and leaves a Hub-ready checkpoint in
`<output-dir>/student_distilled` and the comparison in `<output-dir>/report.md`. Interrupted? Run the same command
again: finished stages are skipped and the running one resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from babelclip.trainers.demo import PRESETS, run_demo, summarize


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="runs/demo", help="Where every stage, checkpoint and report goes.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full", help="'ci' is a seconds-long smoke run.")
    args = parser.parse_args(argv)
    result = run_demo(args.output_dir, PRESETS[args.preset])
    print(Path(result["report"]).read_text())
    print(summarize(result))
    return result


if __name__ == "__main__":
    main()
