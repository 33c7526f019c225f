"""The babelclip processor: a tokenizer (any AutoTokenizer) and a PIL image processor (e.g. `CLIPImageProcessorPil`)
that turn texts, images and videos (lists of frames) into the student's inputs. No torchvision is involved."""

from collections.abc import Sequence
from typing import ClassVar

import torch
from transformers import AutoImageProcessor, AutoTokenizer, ProcessorMixin
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessingKwargs, Unpack

from .dual_encoder_babelclip import DualEncoderSource, dual_encoder_paths

__all__ = ["BabelClipProcessor"]


class BabelClipProcessor(ProcessorMixin):
    r"""
    Tokenizer + image processor of a babelclip checkpoint.

    Args:
        image_processor (`BaseImageProcessor`):
            A PIL image processor, e.g. `CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size=224)`.
        tokenizer (`PreTrainedTokenizerBase`):
            The text tower's tokenizer.

    Example:

    ```python
    >>> from transformers import AutoProcessor

    >>> processor = AutoProcessor.from_pretrained("path/to/babelclip-checkpoint", trust_remote_code=True)
    >>> batch = processor(text=["a dog", "ein Hund"], images=[image_1, image_2])
    >>> sorted(batch.keys())
    ['attention_mask', 'input_ids', 'pixel_values', 'token_type_ids']
    ```"""

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer)

    @classmethod
    def from_dual_encoder(
        cls, name_or_path: DualEncoderSource, text_model_name_or_path: str | None = None
    ) -> "BabelClipProcessor":
        r"""
        The processor of a student made by `CrossModalStudentModel.from_dual_encoder` with the same arguments: the dual
        encoder's own image processor, in its PIL backend (never torchvision, whatever is installed), and the
        tokenizer of the text tower the student ends up with.

        Args:
            name_or_path (`str`, `os.PathLike` or a `(vision, text)` pair of them):
                The dual encoder; its (vision side's) folder / Hub id must hold an image processor config.
            text_model_name_or_path (`str`, *optional*):
                The text encoder that replaces the source's text tower: its tokenizer is used. Otherwise the dual
                encoder's (text side's) tokenizer is.

        Example:

        ```python
        >>> processor = BabelClipProcessor.from_dual_encoder(
        ...     "openai/clip-vit-base-patch32", text_model_name_or_path="FacebookAI/xlm-roberta-base"
        ... )
        >>> processor.save_pretrained("my-student")
        ```"""
        vision_path, text_path = dual_encoder_paths(name_or_path)
        image_processor = AutoImageProcessor.from_pretrained(vision_path, backend="pil")
        if getattr(image_processor, "backend", "pil") != "pil":
            raise ValueError(
                f"{vision_path!r} gave the `{type(image_processor).__name__}` image processor (backend "
                f"{image_processor.backend!r}), but babelclip processors use a PIL one: build it yourself (e.g. "
                "`CLIPImageProcessorPil`)."
            )
        tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path or text_path)
        return cls(image_processor=image_processor, tokenizer=tokenizer)

    # ProcessorMixin's lowest-priority defaults (`_merge_kwargs`): any call-time kwargs override them.
    text_kwargs: ClassVar[dict[str, object]] = {"padding": True, "truncation": True, "return_tensors": "pt"}
    images_kwargs: ClassVar[dict[str, object]] = {"return_tensors": "pt"}

    def __call__(
        self,
        images=None,
        text: str | list[str] | None = None,
        videos: Sequence[Sequence] | None = None,
        **kwargs: Unpack[ProcessingKwargs],
    ) -> BatchFeature:
        r"""
        Prepare texts, images and / or videos, with `ProcessorMixin`'s call convention: options go flat
        (`padding="max_length"`, `max_length=64`, `return_tensors="np"`) or per modality (`text_kwargs`,
        `images_kwargs`, `common_kwargs` for all), as transformers' own processors take them.

        Args:
            images (`PIL.Image.Image` or `list[PIL.Image.Image]`, *optional*):
                Images, resized and normalised by the image processor.
            text (`str` or `list[str]`, *optional*):
                Sentences to tokenize.
            videos (`list[list[PIL.Image.Image]]`, *optional*):
                One list of frames per video; videos may have different lengths. The frames go through the image
                processor with `images_kwargs`.
            kwargs (*optional*):
                Tokenizer options (defaults: `padding=True`, `truncation=True`), image processor options and
                `return_tensors` (defaults to `"pt"`; videos need `"pt"`).

        Returns:
            [`BatchFeature`]: `input_ids`, `attention_mask` (and `token_type_ids` if the tokenizer makes them) for text;
            `pixel_values` `(B, C, H, W)` for images; `frames` `(B, T_max, C, H, W)` and `frame_mask` `(B, T_max)`
            (True for real frames) for videos.
        """
        if text is None and images is None and videos is None:
            raise ValueError("Nothing to process: pass `text`, `images` and / or `videos`.")
        if kwargs.get("videos_kwargs"):
            raise ValueError(
                "Video frames are prepared by the image processor: pass its options in `images_kwargs`, not "
                f"`videos_kwargs` ({sorted(kwargs['videos_kwargs'])})."
            )
        merged = self._merge_kwargs(tokenizer_init_kwargs=self.tokenizer.init_kwargs, **kwargs)
        text_kwargs, images_kwargs = merged["text_kwargs"], merged["images_kwargs"]
        data = {}
        if text is not None:
            data.update(self.tokenizer(text, **text_kwargs))
        if images is not None:
            data["pixel_values"] = self.image_processor(images, **images_kwargs)["pixel_values"]
        if videos is not None:
            if images_kwargs.get("return_tensors") != "pt":
                raise ValueError(
                    f"Videos are returned as torch tensors: use `return_tensors='pt'`, not "
                    f"{images_kwargs.get('return_tensors')!r}."
                )
            data["frames"], data["frame_mask"] = self._process_videos(videos, images_kwargs)
        return_tensors = text_kwargs.get("return_tensors") if text is not None else images_kwargs.get("return_tensors")
        return BatchFeature(data, tensor_type=return_tensors)

    def _process_videos(self, videos: Sequence[Sequence], images_kwargs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(videos, (str, bytes)) or not all(isinstance(video, (list, tuple)) for video in videos):
            raise ValueError("`videos` must be a list of videos, each a list of PIL frames.")
        lengths = [len(video) for video in videos]
        if not lengths or min(lengths) == 0:
            raise ValueError(f"Every video needs at least one frame; got frame counts {lengths}.")
        # One image-processor call for all frames, then split and pad to the longest video.
        pixels = self.image_processor([frame for video in videos for frame in video], **images_kwargs)
        per_video = torch.split(pixels["pixel_values"], lengths)
        frames = per_video[0].new_zeros(len(videos), max(lengths), *per_video[0].shape[1:])
        frame_mask = torch.zeros(len(videos), max(lengths), dtype=torch.bool)
        for index, video in enumerate(per_video):
            frames[index, : len(video)] = video
            frame_mask[index, : len(video)] = True
        return frames, frame_mask
