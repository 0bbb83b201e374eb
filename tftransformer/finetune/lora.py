"""Low-rank adapters (LoRA) on a keras-hub backbone's attention projections.

`apply_lora` builds on keras-hub's `Backbone.enable_lora`, which adds to each
targeted `Dense`/`EinsumDense` layer two float32 matrices `lora_kernel_a`
(input dims x rank) and `lora_kernel_b` (rank x output dim); the layer then
computes with `kernel + (alpha / rank) * lora_kernel_a @ lora_kernel_b`.
For BERT's query and value kernels, shaped (hidden, heads, head size),
Keras' adapters are per head: `lora_kernel_a` is (hidden, heads, rank) and
`lora_kernel_b` (rank, head size).
"""

import json
import os

import h5py
import keras
import numpy as np
from absl import logging
from keras import ops

from tftransformer._arguments import as_list, check_int, is_finite_number
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.backbone_layers import find_backbone
from tftransformer.models.freezing import freeze_backbone

__all__ = [
    "apply_lora",
    "load_lora_weights",
    "lora_variables",
    "merge_lora",
    "restart_lora_adapters",
    "save_lora_weights",
]

# keras-hub's `save_lora_weights` only writes files with this ending.
LORA_FILE_SUFFIX = ".lora.h5"


def _lora_backbone(model):
    backbone = find_backbone(model)
    if not hasattr(backbone, "enable_lora"):
        raise ValueError(
            "LoRA needs a keras-hub Backbone (it provides `enable_lora`). "
            f"Received: a model whose backbone {backbone.name!r} is a "
            f"{type(backbone).__name__}."
        )
    return backbone


def _lora_layers(backbone):
    return [
        layer
        for layer in backbone._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]


def _reset_compiled_functions(model):
    # Traced train/predict functions captured the previous variables and
    # the previous LoRA state of each layer.
    for name in ("train_function", "test_function", "predict_function"):
        if hasattr(model, name):
            setattr(model, name, None)


def _check_alpha(alpha):
    if alpha is None:
        return None
    if not is_finite_number(alpha) or alpha <= 0:
        raise ValueError(
            f"alpha must be None or a finite number > 0. Received: alpha={alpha!r}"
        )
    return float(alpha)


def apply_lora(model, rank, alpha=None, target_layer_names=None):
    """Adds LoRA adapters to the backbone and freezes the rest of the backbone.

    Everything in the backbone becomes non-trainable except the adapters:
    the targeted layers' kernels and biases stay frozen too. Layers outside
    the backbone (the task head) are left as they are, trainable by default.
    The adapters start as a zero update (`lora_kernel_b` is zeros), so the
    model's outputs do not change until it is trained. Compile the model
    after calling this.

    Saving the whole model (`model.save("model.keras")`) writes each kernel
    with its adapter merged in, and a keras-hub backbone is rebuilt from its
    constructor arguments: the loaded model computes the same outputs but
    has no adapters and nothing frozen (`merge_lora` first: it reloads
    with its backbone frozen). Keep the
    adapters themselves with `save_lora_weights`. Likewise `save_weights`
    writes merged kernels, and Keras' `load_weights` of a `.weights.h5` file
    into a model with adapters (a KerasTuner Hyperband continuation trial
    does this) loads them into the kernels and sets both `lora_kernel_a` and
    `lora_kernel_b` to zeros: the outputs are right, but with both adapters
    zero neither gets a gradient, so training no longer changes the
    backbone. Call `restart_lora_adapters` before training on.

    Args:
        model: a model containing a keras-hub backbone (see
            `tftransformer.finetune.find_backbone`), e.g. a
            `tftransformer.models.TextClassifier`.
        rank: int > 0, the rank of each adapter.
        alpha: optional number > 0; the update is scaled by `alpha / rank`.
            Defaults to `rank` (a scale of 1), Keras' default.
        target_layer_names: optional list of layer names to adapt. Defaults
            to the family's query and value projections of every attention
            layer (keras-hub's `default_lora_layer_names()`; T5's
            `query_projector` and `value_projector`). For BERT,
            `["query", "key", "value", "attention_output"]` adapts all four.

    Returns:
        The list of layers that got adapters, in the order Keras tracks the
        backbone's layers (layer by layer; within an attention layer, as
        keras-hub creates its projections, e.g. `value` before `query`).

    Raises:
        ValueError: if `rank` or `alpha` is out of range, the backbone is not
            a keras-hub `Backbone`, LoRA is already enabled, or no layer of
            the backbone has a targeted name.

    Example:
    ```python
    classifier = tftransformer.models.TextClassifier(backbone, num_classes=2)
    apply_lora(classifier, rank=8)
    classifier.compile(optimizer=create_optimizer(1e-4, num_train_steps=1000))
    ```
    """
    rank = check_int("rank", rank, 1)
    alpha = _check_alpha(alpha)
    # A list first: checking a generator would use it up.
    target_layer_names = as_list(target_layer_names)
    if target_layer_names is not None and (
        not isinstance(target_layer_names, list)
        or not all(isinstance(name, str) for name in target_layer_names)
    ):
        raise ValueError(
            "target_layer_names must be None or a list of layer names. "
            f"Received: target_layer_names={target_layer_names!r}"
        )
    backbone = _lora_backbone(model)
    if _lora_layers(backbone):
        raise ValueError(
            f"LoRA is already enabled on backbone {backbone.name!r}; call "
            "`merge_lora` before enabling it again."
        )
    chosen = target_layer_names is not None
    if not chosen:
        target_layer_names = adapter_for(backbone).lora_layer_names()
    target_layer_names = list(target_layer_names)
    adaptable = {
        layer.name
        for layer in backbone._flatten_layers(include_self=False)
        if hasattr(layer, "enable_lora")
    }
    # A name of the user's that matches nothing (a typo) would leave those
    # layers without adapters, silently.
    unknown = [name for name in target_layer_names if name not in adaptable]
    if unknown == target_layer_names or (chosen and unknown):
        raise ValueError(
            f"Backbone {backbone.name!r} has no Dense or EinsumDense layer "
            f"named {unknown}; its layer names that LoRA can adapt: "
            f"{sorted(adaptable)}. Received: "
            f"target_layer_names={target_layer_names!r}"
        )
    backbone.enable_lora(rank, target_layer_names=target_layer_names)
    layers = _lora_layers(backbone)
    _warn_if_not_low_rank(layers, rank)
    for layer in layers:
        if alpha is not None:
            # Read at call time, as `alpha / rank` scales the update.
            layer.lora_alpha = alpha
        # keras-hub leaves the biases of the adapted layers trainable; the
        # adapter file would not hold them.
        if getattr(layer, "bias", None) is not None:
            layer.bias.trainable = False
    _reset_compiled_functions(model)
    return layers


def _warn_if_not_low_rank(layers, rank):
    # At such a rank the adapters train more numbers than the kernels they
    # adapt: allowed, but a likely mistake (a rank for a wider model).
    for layer in layers:
        adapter = int(np.prod(layer.lora_kernel_a.shape)) + int(
            np.prod(layer.lora_kernel_b.shape)
        )
        kernel = int(np.prod(layer._kernel.shape))
        if adapter >= kernel:
            logging.warning(
                "LoRA rank %d gives %s adapters of %d parameters for a kernel "
                "of %d (shape %s): no saving over training the kernel itself. "
                "Usual ranks are well below the layer's width.",
                rank,
                layer.name,
                adapter,
                kernel,
                tuple(layer._kernel.shape),
            )
            return


def _check_lora_path(filepath):
    filepath = os.fspath(filepath)
    if not filepath.endswith(LORA_FILE_SUFFIX):
        raise ValueError(
            f"The adapter file name must end in {LORA_FILE_SUFFIX!r}. "
            f"Received: filepath={filepath!r}"
        )
    return filepath


def save_lora_weights(model, filepath):
    """Saves only the LoRA adapters of a model's backbone.

    The file is keras-hub's adapter file (`Backbone.save_lora_weights`: the
    rank and each adapted layer's `lora_kernel_a` and `lora_kernel_b`), plus
    `alpha` and the adapted layer names so that `load_lora_weights` can
    enable the same adapters on a fresh model. The task head (layers outside
    the backbone) is not in it: keep the whole model too, or the head's
    weights.

    Args:
        model: a model on which `apply_lora` was called.
        filepath: str or path-like ending in `.lora.h5`; overwritten if it
            exists.

    Returns:
        str, the path written.

    Raises:
        ValueError: if the model has no adapters or the name does not end in
            `.lora.h5`.

    Example:
    ```python
    save_lora_weights(classifier, "runs/sst2/adapters.lora.h5")
    ```
    """
    filepath = _check_lora_path(filepath)
    backbone = _lora_backbone(model)
    layers = _lora_layers(backbone)
    if not layers:
        raise ValueError(
            f"Backbone {backbone.name!r} has no LoRA adapters: call "
            "`apply_lora(model, rank)` first."
        )
    alphas = {float(layer.lora_alpha) for layer in layers}
    if len(alphas) != 1:
        raise ValueError(
            "Expected one alpha for every adapted layer. Received alphas "
            f"{sorted(alphas)} in backbone {backbone.name!r}."
        )
    backbone.save_lora_weights(filepath)
    with h5py.File(filepath, "a") as f:
        f["lora/vars/alpha"] = alphas.pop()
        names = sorted({layer.name for layer in layers})
        f["lora"].attrs["target_layer_names"] = json.dumps(names)
    return filepath


def load_lora_weights(model, filepath):
    """Loads adapters written by `save_lora_weights` into a model.

    The model's base weights must be the ones the adapters were trained on.
    A model without adapters gets them first (`apply_lora` with the file's
    rank, alpha and layer names); a model that has adapters must have the
    same rank and alpha.

    Args:
        model: a model containing the same keras-hub backbone architecture.
        filepath: str or path-like, a `.lora.h5` file.

    Returns:
        The list of adapted layers.

    Raises:
        FileNotFoundError: if there is no file at `filepath`.
        ValueError: if the file's rank, alpha or adapted layers differ from
            the model's existing adapters.

    Example:
    ```python
    backbone, _ = tftransformer.presets.load_backbone("embedded")
    classifier = tftransformer.models.TextClassifier(backbone, num_classes=2)
    classifier.output_dense.set_weights(head_weights)  # not in the file
    load_lora_weights(classifier, "runs/sst2/adapters.lora.h5")
    ```
    """
    filepath = _check_lora_path(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No adapter file at {filepath!r}.")
    try:
        with h5py.File(filepath, "r") as f:
            rank = int(f["lora/vars/rank"][()])
            variables = f["lora/vars"]
            alpha = float(variables["alpha"][()]) if "alpha" in variables else None
            names = f["lora"].attrs.get("target_layer_names")
            names = json.loads(names) if names is not None else None
            indices = sorted(int(key) for key in f["lora"] if key != "vars")
    except (OSError, KeyError) as error:
        # Not HDF5 (a cut-short copy), or HDF5 without the adapter groups.
        raise ValueError(
            f"{filepath!r} is not an adapter file written by save_lora_weights "
            f"({type(error).__name__}: {error})."
        ) from error
    backbone = _lora_backbone(model)
    layers = _lora_layers(backbone)
    if not layers:
        layers = apply_lora(model, rank, alpha=alpha, target_layer_names=names)
    else:
        model_alpha = float(layers[0].lora_alpha)
        if layers[0].lora_rank != rank or (alpha is not None and alpha != model_alpha):
            raise ValueError(
                f"The adapters in {filepath!r} have rank={rank}, alpha={alpha}; "
                f"the model's have rank={layers[0].lora_rank}, "
                f"alpha={model_alpha}. Both must match."
            )
    if sorted(backbone._lora_enabled_layers) != indices:
        raise ValueError(
            f"The adapters in {filepath!r} are for {len(indices)} layers, but "
            f"backbone {backbone.name!r} has {len(layers)} adapted layers at "
            "other positions: was it saved from another architecture or with "
            "other target layers?"
        )
    backbone.load_lora_weights(filepath)
    return layers


def merge_lora(model):
    """Folds the LoRA adapters into the kernels and removes them.

    Each adapted layer's kernel becomes
    `kernel + (alpha / rank) * lora_kernel_a @ lora_kernel_b`, computed in
    float32 as the layer computes it, and the layer loses its `lora_kernel_a`
    and `lora_kernel_b` variables, so the model computes the same outputs
    with plain layers, ready for export. The backbone stays frozen, the
    merged layers included, as `freeze_backbone` freezes it (a saved model
    reloads frozen); a compiled model's optimizer, built over the removed
    adapters, is replaced by an unbuilt one of the same settings, so the
    saved model loads without an optimizer mismatch. Unfreeze and compile
    again to train further.

    Args:
        model: a model on which `apply_lora` was called.

    Returns:
        The list of layers that were merged; empty if there were no adapters.

    Raises:
        ValueError: if an adapted layer is quantized.

    Example:
    ```python
    merge_lora(classifier)
    classifier.save("model.keras")  # no lora variables
    ```
    """
    backbone = _lora_backbone(model)
    layers = _lora_layers(backbone)
    for layer in layers:
        if getattr(layer, "quantization_mode", None) is not None:
            raise ValueError(
                f"Merging adapters into a quantized layer is not supported. "
                f"Received: layer {layer.name!r} with quantization mode "
                f"{layer.quantization_mode!r}."
            )
    for layer in layers:
        _fold_adapters(layer)
        for name in ("lora_kernel_a", "lora_kernel_b"):
            layer._untrack_variable(getattr(layer, name))
            # `keras.Layer.__delattr__` would also run a full `gc.collect()`
            # for each variable, seconds per model.
            super(keras.layers.Layer, layer).__delattr__(name)
        layer.lora_enabled = False
        # `get_config` would otherwise ask for new adapters on rebuild.
        layer.lora_rank = None
        layer.lora_alpha = None
        layer.trainable = False
    backbone._lora_enabled_layers = []
    if layers:
        # Frozen as a linear probe's backbone: a task model's config records
        # it, so a reloaded `.keras` file keeps it (keras-hub's LoRA freeze
        # is not recorded).
        freeze_backbone(model)
        # An optimizer built over the removed adapters would be saved with
        # the model and not load into the merged one ("Skipping variable
        # loading for optimizer"): an unbuilt one of the same settings.
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and optimizer.built:
            model.optimizer = type(optimizer).from_config(optimizer.get_config())
    _reset_compiled_functions(model)
    return layers


def _fold_adapters(layer):
    """Adds a layer's adapter update to its kernel, in float32."""
    update = ops.matmul(layer.lora_kernel_a, layer.lora_kernel_b)
    merged = ops.add(
        ops.cast(layer._kernel, "float32"),
        (layer.lora_alpha / layer.lora_rank) * update,
    )
    layer._kernel.assign(ops.cast(merged, layer._kernel.dtype))


def restart_lora_adapters(model, seed=None):
    """Gives every LoRA-enabled layer of a model fresh, trainable adapters.

    Keras' `load_weights` of a `.weights.h5` file (written by `save_weights`,
    or by KerasTuner's checkpoints) into a model with adapters loads each
    kernel with its adapter merged in and sets both `lora_kernel_a` and
    `lora_kernel_b` to zeros. The outputs are right, but the adapters cannot
    train: each one's gradient is a product with the other, zero. This
    function starts them again as `enable_lora` does: `lora_kernel_a` drawn
    from Keras' `he_uniform` initializer, `lora_kernel_b` zeros, so the
    outputs do not change and training goes on from the loaded weights. An
    adapter that is not a zero update (`lora_kernel_b` not all zeros) is
    first folded into its kernel, as `merge_lora` does.

    Every layer of the model with LoRA enabled is restarted, inside the
    backbone or not; the layers keep their adapter variables, rank and
    alpha, so a compiled model trains on without compiling again.

    Args:
        model: a `keras.Model`, e.g. one on which `apply_lora` was called
            and then `load_weights`.
        seed: optional int, the seed of the new `lora_kernel_a` values;
            `None` draws them as `enable_lora` does (seeded by
            `keras.utils.set_random_seed`).

    Returns:
        The list of restarted layers; empty if the model has no adapters.

    Raises:
        ValueError: if `seed` is not an int or `None`, or a quantized layer
            holds a non-zero update, which cannot be folded into its kernel.

    Example:
    ```python
    apply_lora(classifier, rank=8)
    classifier.load_weights("best.weights.h5")  # merged kernels, zero adapters
    restart_lora_adapters(classifier)
    classifier.fit(train, epochs=1)  # the adapters train again
    ```
    """
    if seed is not None:
        seed = check_int("seed", seed, what=" or None")
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]
    trained = [
        layer for layer in layers if np.any(ops.convert_to_numpy(layer.lora_kernel_b))
    ]
    folded = {id(layer) for layer in trained}
    for layer in trained:
        if getattr(layer, "quantization_mode", None) is not None:
            raise ValueError(
                "Folding adapters into a quantized layer is not supported. "
                f"Received: layer {layer.name!r} with quantization mode "
                f"{layer.quantization_mode!r} and a non-zero lora_kernel_b."
            )
    # One generator, so that each layer gets its own values from one seed.
    generator = None if seed is None else keras.random.SeedGenerator(int(seed))
    for layer in layers:
        if id(layer) in folded:
            _fold_adapters(layer)
        if generator is None:
            initializer = keras.initializers.get("he_uniform")
        else:
            initializer = keras.initializers.HeUniform(seed=generator)
        a = layer.lora_kernel_a
        a.assign(initializer(a.shape, dtype="float32"))
        layer.lora_kernel_b.assign(ops.zeros(layer.lora_kernel_b.shape, "float32"))
    return layers


def lora_variables(model):
    """Returns the LoRA adapter variables of a model's backbone.

    Args:
        model: a model containing a keras-hub backbone.

    Returns:
        A list of `keras.Variable`s: `lora_kernel_a` then `lora_kernel_b` of
        each adapted layer, in the backbone's order; empty without adapters.

    Example:
    ```python
    apply_lora(classifier, rank=8)
    sum(int(np.prod(v.shape)) for v in lora_variables(classifier))
    ```
    """
    backbone = _lora_backbone(model)
    variables = []
    for layer in _lora_layers(backbone):
        variables.extend([layer.lora_kernel_a, layer.lora_kernel_b])
    return variables
