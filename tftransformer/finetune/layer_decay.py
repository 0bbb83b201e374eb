"""Layer-wise learning-rate decay: lower layers of the backbone learn slower."""

from tftransformer._arguments import is_finite_number
from tftransformer.models.backbone_adapter import adapter_for

__all__ = ["layer_decay_multipliers"]


def check_decay(name, decay):
    """Returns a layer-wise decay, a number in (0, 1]; refuses anything else,
    naming the argument `name` (`decay`, `layer_decay`)."""
    if not is_finite_number(decay) or not 0 < decay <= 1:
        raise ValueError(
            f"{name} must be a number in (0, 1]. Received: {name}={decay!r}"
        )
    return decay


def layer_decay_multipliers(model, decay):
    """Returns learning-rate multipliers decaying from the head to the embeddings.

    With `L` encoder layers, the variables of encoder layer `l` (0-based) get
    `decay ** (L - l)`, the embedding layers' `decay ** (L + 1)`, and every
    other variable 1.0: the task head (extra blocks, pooling, dense) and the
    backbone layers that are neither embeddings nor encoder layers, such as
    BERT's `pooled_dense` pooler. The pooler counts as head because it sits
    above the last encoder layer and its pretrained task (next-sentence
    prediction) is not the new one.

    Args:
        model: a built model containing a backbone (see
            `tftransformer.finetune.find_backbone`).
        decay: float in (0, 1]; 1.0 gives every variable 1.0.

    Returns:
        A dict mapping the `path` of every variable of `model` to its
        multiplier, for `LayerwiseAdamW(learning_rate_multipliers=...)`.

    Raises:
        ValueError: if `decay` is out of range, or two variables share a path
            but would get different multipliers.

    Example:
    ```python
    multipliers = layer_decay_multipliers(classifier, decay=0.9)
    multipliers["transformer_layer_5/self_attention_layer/query/kernel"]  # 0.9
    multipliers["token_embedding/embeddings"]  # 0.9 ** 7
    multipliers["logits/kernel"]  # 1.0
    ```
    """
    check_decay("decay", decay)
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built: build it (or call it on a "
            "batch) before computing per-variable multipliers."
        )
    decay = float(decay)
    # One backbone search: the adapter answers all three questions.
    adapter = adapter_for(model)
    adapter.check_recipe("layer_decay")
    encoders = adapter.encoder_layers()
    num_layers = len(encoders)
    by_variable = {}
    for layer in adapter.embedding_layers():
        for variable in layer.weights:
            by_variable[id(variable)] = decay ** (num_layers + 1)
    for index, layer in enumerate(encoders):
        for variable in layer.weights:
            by_variable[id(variable)] = decay ** (num_layers - index)

    multipliers = {}
    for variable in model.weights:
        multiplier = by_variable.get(id(variable), 1.0)
        previous = multipliers.setdefault(variable.path, multiplier)
        # The optimizer finds multipliers by path, so a shared path must not
        # stand for two different rates.
        if previous != multiplier:
            raise ValueError(
                f"Two variables of model {model.name!r} share the path "
                f"{variable.path!r} but belong to layers with different "
                f"multipliers ({previous} and {multiplier}). Give the layers "
                "distinct names."
            )
    return multipliers
