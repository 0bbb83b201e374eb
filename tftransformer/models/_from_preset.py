"""`from_preset` for the task models, keras-hub's `preprocessor_cls` idiom."""

from tftransformer.presets import load_backbone

__all__ = ["FromPreset"]


class FromPreset:
    """Gives a task model `from_preset`, building its `preprocessor_cls`.

    A task class sets `preprocessor_cls`, as keras-hub's tasks do; the
    backbone and tokenizer come from `tftransformer.presets.load_backbone`,
    which also reads the embedded checkpoint and local Hugging Face
    directories (keras-hub's own `Task.from_preset` reads keras-hub presets
    only).
    """

    preprocessor_cls = None

    def compile(self, optimizer="auto", *args, **kwargs):
        # keras-hub tasks compile with their defaults when made; a trainer
        # reads this to put its own optimizer in their place.
        self.compiled_with_default_optimizer = (
            isinstance(optimizer, str) and optimizer == "auto"
        )
        super().compile(optimizer, *args, **kwargs)

    @classmethod
    def from_preset(cls, preset="embedded", sequence_length=128, dtype=None, **kwargs):
        """Builds the task on a pretrained backbone and its tokenizer.

        Args:
            preset: what `tftransformer.presets.load_backbone` takes:
                `"embedded"`, a local keras-hub preset or Hugging Face
                directory, or a keras-hub preset name (downloaded).
            sequence_length: int, the longest tokenized sequence the
                preprocessor produces.
            dtype: optional dtype policy name, e.g. `"mixed_bfloat16"`.
            **kwargs: the task's other arguments (`num_classes`, `num_tags`,
                `pooling`, `dropout`, ...).

        Example:
        ```python
        classifier = TextClassifier.from_preset("embedded", num_classes=2)
        tagger = TokenClassifier.from_preset("embedded", num_tags=5)
        ```
        """

        backbone, preprocessor = load_backbone(
            preset, sequence_length=sequence_length, dtype=dtype
        )
        return cls(
            backbone,
            preprocessor=cls.preprocessor_cls(
                preprocessor.tokenizer, sequence_length=sequence_length
            ),
            **kwargs,
        )
