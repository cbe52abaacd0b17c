"""Random texts for tests that compare a short path with the general one: ASCII, accents, Unicode and
control white space, compatibility characters (ligatures, superscripts, dotted İ)."""

from __future__ import annotations

import random
import string

ALPHABET = string.printable + "áéíóúñÑÜüß  \u00a0\u2003\u0085ﬁ²İ\x1f\x1c"


def random_texts(count: int, *, seed: int, longest: int = 12) -> list[str]:
    """``count`` texts of 0 to ``longest`` characters drawn from :data:`ALPHABET`."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest))) for _ in range(count)]
