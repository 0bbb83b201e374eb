"""`SquadExample`: one extractive question answering example."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """A question about a context, with its gold answers as character spans.

    Args:
        id: the question's id (unique in its data set).
        question: the question text.
        context: the paragraph the answer is taken from.
        answers: tuple of gold answer texts; empty for a question with no
            answer in the context (SQuAD 2.0's `is_impossible`).
        answer_starts: tuple of the character offsets in `context` where
            each answer starts: `context[start:start + len(text)] == text`.
        title: the article's title, if any.

    Example:
    ```python
    example = SquadExample("q1", "Who won?", "The Broncos won.", ("Broncos",), (4,))
    example.context[4:11]  # "Broncos"
    ```
    """

    id: str
    question: str
    context: str
    answers: tuple = ()
    answer_starts: tuple = ()
    title: str = ""

    def __post_init__(self):
        object.__setattr__(self, "answers", tuple(self.answers))
        object.__setattr__(self, "answer_starts", tuple(self.answer_starts))
        if len(self.answers) != len(self.answer_starts):
            raise ValueError(
                "answers and answer_starts must have one entry per answer. "
                f"Received: answers={self.answers}, "
                f"answer_starts={self.answer_starts}"
            )
        for text, start in zip(self.answers, self.answer_starts):
            found = self.context[start : start + len(text)]
            if (
                isinstance(start, bool)
                or not isinstance(start, int)
                or start < 0
                or found != text
                or not text
            ):
                raise ValueError(
                    f"Question {self.id!r}: answer {text!r} is not at its "
                    f"answer_start {start!r} in the context (found {found!r} "
                    "there); expected a non-empty answer whose text starts at "
                    "that character offset."
                )

    @property
    def is_impossible(self):
        """Whether the question has no answer in the context."""
        return not self.answers
