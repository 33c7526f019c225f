"""`python -m babelclip.trainers.cli <command> ...` (and `accelerate launch -m babelclip.trainers.cli ...`)."""

import sys

from .main import main

sys.exit(main())
