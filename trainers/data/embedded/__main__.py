"""`python -m babelclip.trainers.data.embedded`: build the default embedded dataset, print its sizes and timing."""

from .dataset import main

main()
