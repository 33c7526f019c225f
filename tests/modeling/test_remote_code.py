"""A saved checkpoint must load with `trust_remote_code=True` in a process where babelclip cannot be imported."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from babelclip.modeling import BabelClipProcessor
from tests.modeling import remote_embed
from tests.modeling.conftest import make_student, make_teacher
from tests.modeling.remote_embed import embed_everything
from tests.modeling.tiny import random_images, tiny_image_processor, train_tokenizer

TEXTS = ["a dog runs on the beach", "ein Hund rennt", "deux enfants jouent au football dans le parc"]

# The start of a child script run with `python -I` (no cwd / PYTHONPATH on sys.path): a finder that refuses babelclip,
# since the editable install would otherwise still provide it.
BLOCK_BABELCLIP = textwrap.dedent(
    """
    import importlib.util
    import sys
    from pathlib import Path

    class RefuseBabelclip:
        def find_spec(self, name, path=None, target=None):
            if name == "babelclip" or name.startswith("babelclip."):
                raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, RefuseBabelclip())
    try:
        import babelclip  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("babelclip should not be importable here")
    """
)

CHILD = BLOCK_BABELCLIP + textwrap.dedent(
    """
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    student_dir, teacher_dir, work, embed_file = (Path(arg) for arg in sys.argv[1:5])
    texts = (work / "texts.txt").read_text().splitlines()
    images = [Image.open(path) for path in sorted(work.glob("image_*.png"))]

    student = AutoModel.from_pretrained(student_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(student_dir, trust_remote_code=True)
    teacher = AutoModel.from_pretrained(teacher_dir, trust_remote_code=True).eval()
    tokenizer = AutoProcessor.from_pretrained(teacher_dir, trust_remote_code=True)
    for thing in (student, processor, teacher):
        assert type(thing).__module__.startswith("transformers_modules"), type(thing).__module__

    spec = importlib.util.spec_from_file_location("remote_embed", embed_file)
    remote_embed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(remote_embed)
    result = remote_embed.embed_everything(student, processor, teacher, tokenizer, texts, images)
    torch.save(result, work / "result.pt")
    """
)


def run_without_babelclip(script: str, args: list[str], work: Path) -> None:
    """Run `script` (which starts with `BLOCK_BABELCLIP`) offline in a fresh interpreter, in `work`; fail on error."""
    (work / "child.py").write_text(script)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hf_home")}
    command = [sys.executable, "-I", str(work / "child.py"), *args]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_student_and_teacher_load_without_babelclip(tmp_path):
    student_dir, teacher_dir, work = tmp_path / "student", tmp_path / "teacher", tmp_path / "work"
    work.mkdir()
    tokenizer = train_tokenizer()
    student, teacher = make_student(uni_modal_heads=True), make_teacher("bert")
    processor = BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=tokenizer)
    student.save_pretrained(student_dir)
    processor.save_pretrained(student_dir)
    teacher.save_pretrained(teacher_dir)
    tokenizer.save_pretrained(teacher_dir)

    images = random_images(3)
    for index, image in enumerate(images):
        image.save(work / f"image_{index}.png")
    (work / "texts.txt").write_text("\n".join(TEXTS))
    run_without_babelclip(CHILD, [str(student_dir), str(teacher_dir), str(work), remote_embed.__file__], work)
    result = torch.load(work / "result.pt")

    expected = embed_everything(student, processor, teacher, tokenizer, TEXTS, images)
    for key, value in expected.items():
        torch.testing.assert_close(result[key], value, atol=1e-5, rtol=0, msg=key)
