"""Which of a backbone's layers a task head actually trains."""

import keras


def freeze_unused_backbone_layers(backbone, used_outputs=("sequence_output",)):
    """Sets `trainable = False` on backbone layers no used output depends on.

    A head reading only `sequence_output` leaves BERT's `pooled_dense` pooler
    out of the loss: kept trainable, it gets no gradient, so every step of
    `fit` warns "Gradients do not exist for variables ['pooled_dense/...']"
    and training summaries list it as trained. The layer keeps its weights
    and still computes `pooled_output`; only the optimizer leaves it alone.
    Setting `backbone.trainable = True` later makes it trainable again.

    Args:
        backbone: a functional backbone returning a dict of outputs (a
            keras-hub `BertBackbone`, `tftransformer.models.TransformerEncoder`,
            ...). Other backbones are left as they are.
        used_outputs: names of the outputs the head reads.

    Returns:
        The list of layers set non-trainable, in the backbone's order.

    Example:
    ```python
    frozen = freeze_unused_backbone_layers(bert_backbone)
    [layer.name for layer in frozen]  # ["pooled_dense"]
    ```
    """
    outputs = getattr(backbone, "outputs", None)
    output_dict = getattr(backbone, "output", None)
    if not outputs or not isinstance(output_dict, dict):
        return []
    if any(name not in output_dict for name in used_outputs):
        return []
    # A throwaway functional view of the used part of the graph; named, so
    # it takes no auto-generated name from the user's models.
    used_graph = keras.Model(
        backbone.input,
        [output_dict[name] for name in used_outputs],
        name=f"{backbone.name}_used_outputs",
    )
    used = {id(layer) for layer in used_graph.layers}
    unused = [
        layer for layer in backbone.layers if layer.weights and id(layer) not in used
    ]
    for layer in unused:
        layer.trainable = False
    return unused
