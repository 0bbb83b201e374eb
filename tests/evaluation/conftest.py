import pytest


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Overrides the Keras reset: these tests are pure NumPy and need no session."""
    yield
