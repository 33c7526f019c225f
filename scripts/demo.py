"""The main job in one command (see `babelclip.trainers.recipes.demo` for the stages); the same as `babelclip demo`.

    python scripts/demo.py --output-dir runs/demo

Trains the cross-lingual teacher, the translate-train baseline and the CL2CM + CUSA + OT distilled student on the
embedded dataset, evaluates both students per language on its test split, and leaves a Hub-ready checkpoint in
`<output-dir>/student_distilled` and the comparison in `<output-dir>/report.md`. Interrupted? Run the same command
again: finished stages are skipped and the running one resumes from its last checkpoint.
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("demo")

if __name__ == "__main__":
    run_as_script()
