import keras

from tftransformer._arguments import (
    check_choice,
    check_fraction,
    check_int,
    check_model_keywords,
    python_number,
)
from tftransformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock

POSITION_KINDS = ("learned", "sine", "relative")


def check_positive_int(**kwargs):
    """Returns the keyword values as Python ints, in order, if all are > 0.

    NumPy integers are taken (sizes often come out of NumPy, e.g.
    `ids.max() + 1`); anything else raises `ValueError` naming the value.
    """
    return tuple(check_int(name, value, 1) for name, value in kwargs.items())


def check_stack_arguments(position_kind, dropout, **sizes):
    """Checks the hyperparameters of a Transformer stack built from scratch.

    Shared by `TransformerEncoder`, `CausalLM` and `Seq2SeqTransformer`.

    Args:
        position_kind: one of `POSITION_KINDS`.
        dropout: a number in `[0, 1)`.
        **sizes: the stack's sizes, `num_heads` and `hidden_dim` among them;
            each must be an integer >= 1 (a NumPy one too).

    Returns:
        The sizes as Python ints in the order given, then `dropout` as a
        Python number.
    """
    checked = dict(zip(sizes, check_positive_int(**sizes)))
    if checked["hidden_dim"] % checked["num_heads"]:
        raise ValueError(
            "hidden_dim must be divisible by num_heads. Received: "
            f"hidden_dim={checked['hidden_dim']}, num_heads={checked['num_heads']}"
        )
    check_choice("position_kind", position_kind, POSITION_KINDS)
    check_fraction("dropout", dropout)
    return (*checked.values(), python_number(dropout))


@keras.saving.register_keras_serializable(package="tftransformer")
class TransformerEncoder(keras.Model):
    """A Transformer encoder network: embeddings and a stack of encoder blocks.

    Token ids are embedded with `TokenAndPositionEmbedding` (layer name
    `"embeddings"`) and run through `num_layers` `TransformerEncoderBlock`s
    (named `"transformer_layer_{i}"`, as in keras-hub's `BertBackbone`). With
    post-norm blocks (`norm_first=False`) the embeddings are layer-normalized
    as in BERT; with pre-norm blocks a final layer norm follows the stack.
    The pooled output is the first token's vector through a tanh dense
    layer (`"pooled_dense"`), like BERT's `[CLS]` pooler.

    `position_kind` picks the position signal: `"learned"` absolute
    embeddings, the fixed `"sine"` table, or `"relative"`: no absolute
    positions, and a learned relative position bias in every block's
    attention (as in T5).

    Args:
        vocabulary_size: positive int, the number of token ids.
        num_layers: positive int, the number of encoder blocks.
        num_heads: positive int, attention heads per block; must divide
            `hidden_dim`.
        hidden_dim: positive int, the width of the token vectors.
        intermediate_dim: positive int, the width of each block's
            feed-forward layer.
        max_sequence_length: positive int, the longest sequence the
            `"learned"` position table covers.
        position_kind: one of `"learned"`, `"sine"`, `"relative"`.
        dropout: float in [0, 1), dropout of embeddings and blocks.
        norm_first: bool, pre-norm (`True`) or post-norm (`False`) blocks.
        layer_norm_epsilon: float, epsilon of every layer norm.
        dtype: optional dtype policy of every layer, e.g. `"mixed_bfloat16"`.
        **kwargs: passed to `keras.Model`, e.g. `name`.

    Call arguments:
        inputs: dict with `"token_ids"`, int tensor `(batch, seq)`, and
            `"padding_mask"`, int or bool tensor `(batch, seq)` that is 1 at
            real tokens and 0 at padding.

    Returns:
        A dict with `"sequence_output"`, `(batch, seq, hidden_dim)`, and
        `"pooled_output"`, `(batch, hidden_dim)`.

    Example:
    ```python
    encoder = tftransformer.models.TransformerEncoder(
        vocabulary_size=1000,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=128,
        max_sequence_length=128,
    )
    outputs = encoder(
        {
            "token_ids": np.array([[5, 8, 13, 0]]),
            "padding_mask": np.array([[1, 1, 1, 0]]),
        }
    )
    outputs["sequence_output"]  # (1, 4, 64)
    outputs["pooled_output"]  # (1, 64)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length=512,
        position_kind="learned",
        dropout=0.1,
        norm_first=False,
        layer_norm_epsilon=1e-5,
        dtype=None,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs)
        (
            vocabulary_size,
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            max_sequence_length,
            dropout,
        ) = check_stack_arguments(
            position_kind,
            dropout,
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        relative = position_kind == "relative"

        # === Layers ===
        self.embeddings = TokenAndPositionEmbedding(
            vocabulary_size=vocabulary_size,
            sequence_length=max_sequence_length,
            embedding_dim=hidden_dim,
            position_kind="none" if relative else position_kind,
            dtype=dtype,
            name="embeddings",
        )
        # Post-norm blocks expect normalized inputs (BERT); pre-norm blocks
        # leave their output unnormalized, so the stack ends with a norm.
        self.embeddings_layer_norm = None
        self.final_layer_norm = None
        if norm_first:
            self.final_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="final_layer_norm"
            )
        else:
            self.embeddings_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm"
            )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerEncoderBlock(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                norm_first=norm_first,
                use_relative_position_bias=relative,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim, activation="tanh", dtype=dtype, name="pooled_dense"
        )

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        # (batch, seq, hidden)
        x = self.embeddings(token_ids)
        if self.embeddings_layer_norm is not None:
            x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        # (batch, hidden)
        pooled = self.pooled_dense(x[:, 0, :])
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs={"sequence_output": x, "pooled_output": pooled},
            **kwargs,
        )
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.position_kind = position_kind
        self.dropout = dropout
        self.norm_first = norm_first
        self.layer_norm_epsilon = layer_norm_epsilon

    def get_config(self):
        # The functional config (a layer graph) cannot be passed back to this
        # constructor, so the config is the constructor's arguments.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length,
            "position_kind": self.position_kind,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
