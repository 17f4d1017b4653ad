"""The mod-11 check digits of Norwegian identifiers: the weights and the sums, in one place.

``k = 11 - (weighted sum mod 11)``, 11 -> 0, 10 -> no valid number (DOMAIN.md, "Identifiers"). The fødselsnummer's
2032 rule and the DUF number's check pair build on the same weighted sums (:mod:`sendemodul.identity.person_ids`).
"""

from __future__ import annotations

#: Fødselsnummer: K1 over digits 1-9, K2 over digits 1-10.
K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
#: DUF number: over the first 10 digits; (sum mod 11), two digits, is digits 11-12.
DUF_WEIGHTS = (4, 6, 3, 2, 4, 6, 3, 2, 7, 5)
#: Organisasjonsnummer: over the first 8 digits.
ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def ascii_digits(text: str, length: int) -> bool:
    """Whether ``text`` is exactly ``length`` ASCII digits (``str.isdigit`` would also accept e.g. '²' or '٣')."""
    return len(text) == length and text.isascii() and text.isdigit()


def weighted(digits: str, weights: tuple[int, ...]) -> int:
    """The weighted sum of exactly as many digits as there are weights."""
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True))


def mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    """The mod-11 check digit ``11 - (sum mod 11)`` with 11 -> 0, or ``None`` where it would be 10."""
    check = (11 - weighted(digits, weights) % 11) % 11
    return None if check == 10 else check


def duf_check_pair(first10: str) -> str:
    """The two check digits of a DUF number whose first 10 digits are ``first10``."""
    return f"{weighted(first10, DUF_WEIGHTS) % 11:02d}"
