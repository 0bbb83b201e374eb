import keras

from tftransformer._arguments import (
    check_choice,
    check_fraction,
    check_int,
    check_model_keywords,
    python_number,
)
from tftransformer.layers.sequence_pooling import SequencePooling
from tftransformer.models._task_base import (
    InMemoryBatches,
    freeze_unused_backbone_layers,
)

POOLING_MODES = ("cls", "mean")


@keras.saving.register_keras_serializable(package="tftransformer")
class TransformerClassifier(InMemoryBatches, keras.Model):
    """A Transformer encoder with a dropout and dense classification head.

    The encoder is any functional Keras model that takes a dict with
    `"token_ids"` and `"padding_mask"` (and possibly more, such as BERT's
    `"segment_ids"`) and returns a dict with `"sequence_output"` (and
    possibly `"pooled_output"`): a `tftransformer.models.TransformerEncoder`
    or a keras-hub `BertBackbone`. The classifier takes the same inputs as
    its encoder, built from the encoder's own input spec.

    Pooling turns the sequence into one vector per example:

    - `"cls"`: the encoder's `"pooled_output"` (the first token through the
      encoder's tanh pooler, which BERT pretrains), or the first token of
      `"sequence_output"` when the encoder has no pooled output.
    - `"mean"`: the average of `"sequence_output"` over real tokens, as
      marked by `"padding_mask"`; padded positions do not count.

    The logits are float32 even under a mixed precision policy, so the loss
    is computed at full precision.

    Args:
        encoder: the encoder `keras.Model`, described above. Its weights are
            trained with the head unless it is frozen
            (`encoder.trainable = False`).
        num_classes: int >= 1, the number of logits. Use `num_classes >= 2`
            with a softmax cross-entropy, or `num_classes=1` for a single
            binary logit (with `keras.losses.BinaryCrossentropy(
            from_logits=True)`).
        dropout: float in [0, 1), dropout applied to the pooled vector.
        pooling: `"cls"` or `"mean"`.
        dtype: optional dtype policy of the head layers; defaults to the
            encoder's policy.
        **kwargs: passed to `keras.Model`, e.g. `name`.

    Call arguments:
        inputs: the encoder's input dict, each entry `(batch, seq)`.

    Returns:
        Float32 logits of shape `(batch, num_classes)`.

    Example:
    ```python
    encoder = tftransformer.models.TransformerEncoder(
        vocabulary_size=1000,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=128,
    )
    classifier = tftransformer.models.TransformerClassifier(
        encoder, num_classes=3, pooling="mean"
    )
    logits = classifier(
        {
            "token_ids": np.array([[5, 8, 13, 0]]),
            "padding_mask": np.array([[1, 1, 1, 0]]),
        }
    )  # (1, 3)
    ```
    """

    def __init__(
        self,
        encoder,
        num_classes,
        dropout=0.1,
        pooling="cls",
        dtype=None,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs)
        dropout = python_number(dropout)
        num_classes = check_int(
            "num_classes", num_classes, 1, what=" (1 for a single binary logit)"
        )
        check_choice("pooling", pooling, POOLING_MODES)
        check_fraction("dropout", dropout)
        _check_encoder(encoder)
        head_dtype = dtype if dtype is not None else encoder.dtype_policy

        # === Layers ===
        self.encoder = encoder
        self.pooler = None
        if pooling == "mean":
            self.pooler = SequencePooling(
                mode="mean", dtype=head_dtype, name="mean_pooling"
            )
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=head_dtype, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes, dtype=head_dtype, name="logits"
        )
        self.logits_float32 = keras.layers.Activation(
            "linear", dtype="float32", name="logits_float32"
        )

        # === Functional model ===
        # Fresh inputs that mirror the encoder's, so any extra encoder input
        # (e.g. BERT's segment_ids) becomes a classifier input too.
        inputs = {
            name: keras.Input(shape=spec.shape[1:], dtype=spec.dtype, name=name)
            for name, spec in encoder.input.items()
        }
        encoder_outputs = encoder(inputs)
        used_outputs = ("sequence_output",)
        if pooling == "mean":
            # (batch, hidden)
            pooled = self.pooler(
                encoder_outputs["sequence_output"],
                padding_mask=inputs["padding_mask"],
            )
        elif "pooled_output" in encoder_outputs:
            pooled = encoder_outputs["pooled_output"]
            used_outputs = ("pooled_output",)
        else:
            pooled = encoder_outputs["sequence_output"][:, 0, :]
        pooled = self.output_dropout(pooled)
        # (batch, num_classes)
        logits = self.logits_float32(self.output_dense(pooled))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        freeze_unused_backbone_layers(encoder, used_outputs)
        # The config then records the policy the head was built with.
        self.dtype_policy = keras.dtype_policies.get(head_dtype)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        self.pooling = pooling

    def get_config(self):
        # The functional config (a layer graph) cannot be passed back to this
        # constructor; the encoder is stored as a nested layer config.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "encoder": keras.layers.serialize(self.encoder),
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "pooling": self.pooling,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("encoder"), dict):
            config["encoder"] = keras.layers.deserialize(config["encoder"])
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def _check_encoder(encoder):
    inputs = (
        getattr(encoder, "input", None) if isinstance(encoder, keras.Model) else None
    )
    outputs = getattr(encoder, "output", None) if inputs is not None else None
    if (
        not isinstance(inputs, dict)
        or not {"token_ids", "padding_mask"} <= set(inputs)
        or not isinstance(outputs, dict)
        or "sequence_output" not in outputs
    ):
        raise ValueError(
            "encoder must be a functional keras.Model taking a dict with "
            "'token_ids' and 'padding_mask' and returning a dict with "
            f"'sequence_output'. Received: encoder={encoder!r}"
        )
