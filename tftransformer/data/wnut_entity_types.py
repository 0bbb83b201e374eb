"""A multi-label data set derived from the embedded WNUT-16 tweets.

Each tweet of `load_wnut16` is labelled with the set of entity types its
BIO tags mark (any of the 10 types, or none): "which kinds of things does
this tweet mention?". The text is the tweet's words joined by spaces. The
splits are WNUT-16's (`load_wnut16`), so no tweet text is in two splits.
The labels follow from the annotators' entity tags and nothing else.
"""

import numpy as np

from tftransformer.data.multi_label_data import MultiLabelData
from tftransformer.data.wnut import WNUT16_ENTITY_TYPES, load_wnut16

__all__ = ["load_wnut16_entity_types"]


def load_wnut16_entity_types(split="train"):
    """The WNUT-16 tweets of `split`, each labelled with its entity types.

    Args:
        split: `"train"`, `"validation"`, `"test"` or `"all"`.

    Returns:
        A `MultiLabelData` with `label_vocabulary=WNUT16_ENTITY_TYPES`;
        tweets that mention no entity have no label.

    Example:
    ```python
    train = load_wnut16_entity_types("train")
    train.label_sets()[0]
    ```
    """
    tagging = load_wnut16(split)
    ids = {name: j for j, name in enumerate(WNUT16_ENTITY_TYPES)}
    labels = np.zeros((len(tagging.words), len(ids)), dtype="int32")
    for i, tags in enumerate(tagging.tags):
        for tag in tags:
            if tag.startswith("B-"):
                labels[i, ids[tag[2:]]] = 1
    return MultiLabelData(
        texts=[" ".join(words) for words in tagging.words],
        labels=labels,
        label_vocabulary=WNUT16_ENTITY_TYPES,
        source=f"wnut16-entity-types:{split}",
    )
