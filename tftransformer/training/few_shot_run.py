"""What `train_few_shot_classifier` returns."""

import dataclasses

import keras

from tftransformer._arguments import check_strings

__all__ = ["FewShotRun"]


@dataclasses.dataclass(frozen=True)
class FewShotRun:
    """A tuned embedder and its logistic head, evaluated, with what made them.

    Args:
        embedder: the tuned `TextEmbedder`.
        head: the logistic head, a `keras.Model` from embeddings to logits
            (see `train_logistic_head`), divided by the temperature when
            calibrated (see `calibrate_logistic_head`).
        report: the test split's `ClassificationReport`.
        label_names: tuple of str, the class names in class-id order.
        examples: the `TextClassificationData` of the few labelled examples.
        pairs: the `TextPairs` the embedder was tuned on.
        test: the evaluated `TextClassificationData`.
        training: the `TrainingResult` of the contrastive phase.
        trainer: the `Trainer`, e.g. for `trainer.chief`.
        validation: the `TextClassificationData` the temperature was fitted
            on, or `None` without calibration.
        temperature: float, the head's fitted softmax temperature (its
            `"temperature"` layer), or `None` without calibration.
    """

    embedder: object
    head: object
    report: object
    label_names: tuple
    examples: object
    pairs: object
    test: object
    training: object
    trainer: object
    validation: object = None
    temperature: float | None = None

    def probabilities(self, texts, batch_size=32):
        """Class probabilities of raw strings, `(len(texts), num_classes)`.

        Calibrated (`softmax(logits / temperature)`) when the head is.

        Args:
            texts: list of str.
            batch_size: texts embedded at once.

        Returns:
            A float32 NumPy array.
        """
        texts = check_strings("texts", texts)
        embeddings = self.embedder.embed(texts, batch_size=batch_size)
        logits = self.head(embeddings)  # no pipeline and no trace
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
