"""Which parameters a run does not train: the image side (LiT's locked image tower, Multilingual-CLIP's fixed image
space) and the text tower's lower part (its embeddings and first N transformer layers, or all of it).

Pure functions over a model's modules. `DistillationTrainer` applies them at init, before the optimizer exists:
a frozen parameter gets `requires_grad=False`, so `Trainer.create_optimizer` leaves it out of every parameter group;
it has no optimizer state, weight decay never touches it, and its value stays the same bit for bit.

peft-wrapped models (LoRA adapters) work too: the rules apply to the wrapped model, LoRA weights inside a frozen
layer included (peft has already frozen the base weights themselves).

```python
>>> report = apply_freezing(student, freeze_vision=True, frozen_text_layers=4)
>>> report.frozen_by_setting["freeze_vision"] == sum(p.numel() for p in vision_parameters(student).values())
True
>>> report.summary()
'frozen: freeze_vision ..., frozen_text_layers ...; trainable ... of ... parameters'
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

# The image side of a `CrossModalStudentModel`: what `freeze_vision` freezes.
VISION_MODULES = ("vision_model", "visual_projection", "uni_visual_head")
WHOLE_TOWER = -1
# Config fields that hold a tower's number of transformer layers, by family.
LAYER_COUNT_FIELDS = ("num_hidden_layers", "num_layers", "n_layers", "encoder_layers")

Parameters = dict[str, nn.Parameter]


@dataclass(frozen=True)
class FreezingReport:
    r"""
    What freezing left to train, in parameter counts (elements, not tensors).

    Args:
        trainable (`int`): parameters that still train.
        frozen (`int`): parameters that do not (frozen here or before, e.g. by peft).
        frozen_by_setting (`dict[str, int]`): parameters each setting (`freeze_vision`, `frozen_text_layers`) froze.
    """

    trainable: int
    frozen: int
    frozen_by_setting: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the log."""
        settings = ", ".join(f"{name} {count:,}" for name, count in self.frozen_by_setting.items()) or "nothing"
        return f"frozen: {settings}; trainable {self.trainable:,} of {self.trainable + self.frozen:,} parameters"


def unwrapped(model: nn.Module) -> nn.Module:
    """The model inside a peft wrapper (its parameters are the wrapper's), or `model` itself."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def _named(module: nn.Module, prefix: str) -> Parameters:
    return dict(module.named_parameters(prefix=prefix))


def vision_parameters(model: nn.Module) -> Parameters:
    """The parameters of the image side (`VISION_MODULES`), by name relative to the (unwrapped) model.

    Raises:
        `ValueError`: when the model has no vision tower (a `CrossLingualTeacherModel`).
    """
    base = unwrapped(model)
    if getattr(base, "vision_model", None) is None:
        raise ValueError(
            f"`freeze_vision` freezes the image side, but the {type(base).__name__} being trained has no "
            "`vision_model` (a cross-lingual teacher is text only): drop `freeze_vision`."
        )
    parameters: Parameters = {}
    for name in VISION_MODULES:
        module = getattr(base, name, None)
        if module is not None:
            parameters.update(_named(module, name))
    return parameters


def _layer_count(config) -> int | None:
    for name in LAYER_COUNT_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def transformer_layers(tower: nn.Module) -> tuple[str, nn.ModuleList]:
    """The list of transformer layers of a text tower and its name inside it: the one `nn.ModuleList` of modules of
    one class as long as the config's layer count (`encoder.layer` in BERT / XLM-R, `encoder.layers` in CLIP /
    SigLIP text towers, `transformer.layer` in DistilBERT, `layers` in an NLLB / M2M100 encoder).

    Raises:
        `ValueError`: when there is no such list, or more than one.
    """
    expected = _layer_count(getattr(tower, "config", None))
    candidates = [
        (name, module)
        for name, module in tower.named_modules()
        if isinstance(module, nn.ModuleList)
        and len(module) > 0
        and len({type(child) for child in module}) == 1
        and (expected is None or len(module) == expected)
    ]
    if len(candidates) != 1:
        found = "none" if not candidates else ", ".join(repr(name) for name, _ in candidates)
        raise ValueError(
            f"`frozen_text_layers` cannot tell the transformer layers of the {type(tower).__name__} text tower "
            f"(lists of {expected} layers of one kind: {found}); it knows towers with one such list (BERT, XLM-R, "
            "CLIP / SigLIP text, DistilBERT, M2M100-style encoders). Set `frozen_text_layers: 0` and freeze by hand "
            "(`parameter.requires_grad_(False)`) before building the trainer."
        )
    return candidates[0]


def _is_inside(name: str, ancestor: str) -> bool:
    return ancestor == "" or name == ancestor or name.startswith(ancestor + ".")


def embedding_module_name(tower: nn.Module, layers_name: str) -> str:
    """The name of the module that holds the tower's input embeddings (and its position / type embeddings and their
    LayerNorm, where the tower groups them, as BERT's `embeddings` does): the outermost ancestor of the input
    embedding table that does not contain the transformer layers."""
    try:
        table = tower.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        table = None
    name = next((name for name, module in tower.named_modules() if module is table), None)
    if table is None or name is None:
        raise ValueError(
            f"`frozen_text_layers` cannot find the input embeddings of the {type(tower).__name__} text tower "
            "(`get_input_embeddings()`); set `frozen_text_layers: 0` and freeze by hand."
        )
    parts = name.split(".")
    chosen = name
    for end in range(len(parts) - 1, 0, -1):
        ancestor = ".".join(parts[:end])
        if _is_inside(layers_name, ancestor):
            break
        chosen = ancestor
    return chosen


def lower_text_parameters(model: nn.Module, count: int) -> Parameters:
    """The text tower's embeddings and first `count` transformer layers (`-1`: the whole tower), by name relative to
    the (unwrapped) model.

    Raises:
        `ValueError`: for `count < -1`, more layers than the tower has, or a tower whose layers cannot be found.
    """
    if count < WHOLE_TOWER:
        raise ValueError(f"`frozen_text_layers` must be >= 0 (or -1 for the whole text tower), got {count}.")
    if count == 0:
        return {}
    tower = unwrapped(model).text_model
    if count == WHOLE_TOWER:
        return _named(tower, "text_model")
    layers_name, layers = transformer_layers(tower)
    if count > len(layers):
        raise ValueError(
            f"`frozen_text_layers` is {count} but the text tower has {len(layers)} layers: give at most "
            f"{len(layers)}, or -1 to freeze the whole tower."
        )
    embeddings = embedding_module_name(tower, layers_name)
    parameters = _named(tower.get_submodule(embeddings), f"text_model.{embeddings}")
    for index in range(count):
        parameters.update(_named(layers[index], f"text_model.{layers_name}.{index}"))
    return parameters


def parameters_to_freeze(
    model: nn.Module, freeze_vision: bool = False, frozen_text_layers: int = 0
) -> dict[str, Parameters]:
    """What each freezing setting freezes: `{"freeze_vision": {...}, "frozen_text_layers": {...}}` (settings that
    freeze nothing are left out), names relative to the (unwrapped) model."""
    chosen = {}
    if freeze_vision:
        chosen["freeze_vision"] = vision_parameters(model)
    text = lower_text_parameters(model, frozen_text_layers)
    if text:
        chosen["frozen_text_layers"] = text
    return chosen


def apply_freezing(model: nn.Module, freeze_vision: bool = False, frozen_text_layers: int = 0) -> FreezingReport:
    r"""
    Freeze what the settings name (`requires_grad_(False)`, in place) and count what is left to train. Call it
    before the optimizer is built, which then leaves the frozen parameters out.

    Args:
        model (`nn.Module`): a babelclip model, or a peft wrapper of one.
        freeze_vision (`bool`, *optional*, defaults to `False`): the image side ([`vision_parameters`]).
        frozen_text_layers (`int`, *optional*, defaults to 0): the text tower's embeddings and first N layers;
            `-1`: the whole text tower ([`lower_text_parameters`]).

    Returns:
        [`FreezingReport`]

    Raises:
        `ValueError`: for a setting the model cannot take, or when nothing would be left to train.
    """
    chosen = parameters_to_freeze(model, freeze_vision, frozen_text_layers)
    for parameters in chosen.values():
        for parameter in parameters.values():
            parameter.requires_grad_(False)
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    if chosen and trainable == 0:
        raise ValueError(
            f"Freezing {sorted(chosen)} leaves nothing of the model to train: freeze less (e.g. a smaller "
            "`frozen_text_layers`)."
        )
    frozen = sum(parameter.numel() for parameter in model.parameters() if not parameter.requires_grad)
    by_setting = {name: sum(p.numel() for p in parameters.values()) for name, parameters in chosen.items()}
    return FreezingReport(trainable=trainable, frozen=frozen, frozen_by_setting=by_setting)
