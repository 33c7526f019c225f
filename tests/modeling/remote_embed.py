"""Embeddings compared across processes in test_remote_code.py; imports only torch so the babelclip-free child
process can load this file by path."""

import torch


def embed_everything(student, processor, teacher, tokenizer, texts: list[str], images: list) -> dict[str, torch.Tensor]:
    """Student text, image and video features and teacher text features; the videos are images[:2] and images[2:]."""
    with torch.no_grad():
        batch = processor(text=texts, images=images, videos=[images[:2], images[2:]])
        teacher_batch = tokenizer(texts, padding=True, return_tensors="pt")
        return {
            "text": student.get_text_features(batch["input_ids"], batch["attention_mask"]),
            "image": student.get_image_features(batch["pixel_values"]),
            "video": student.get_video_features(batch["frames"], batch["frame_mask"]),
            "teacher": teacher.get_text_features(teacher_batch["input_ids"], teacher_batch["attention_mask"]),
        }
