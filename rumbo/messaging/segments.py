"""How many SMS a text costs: GSM-7 or UCS-2 encoding, characters and segments, shown before sending.

GSM 03.38: a text made only of the basic GSM-7 alphabet (plus the extension table, whose characters take two
septets: ``^ { } \\ [ ~ ] | €`` and form feed) fits 160 septets in one SMS, 153 per segment when it is split
(the user data header takes the rest). Any other character switches the whole message to UCS-2: 70 UTF-16 code
units in one SMS, 67 per segment. GSM-7 has ``é``, ``ñ``, ``¿`` and ``¡`` but not ``á``, ``í``, ``ó`` or
``ú``, so Spanish texts often fall into UCS-2: the check names the characters that did it, so the writer can
decide.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67


@dataclass(frozen=True)
class SegmentInfo:
    """The cost of one SMS text.

    ``characters`` is what a person counts; ``units`` what the network counts (septets for GSM-7, extension
    characters counting two; UTF-16 code units for UCS-2, emoji counting two).
    """

    encoding: str  # "GSM-7" or "UCS-2"
    characters: int
    units: int
    segments: int
    per_segment: int  # the limit that applies: 160/153 or 70/67
    non_gsm: tuple[str, ...]  # distinct characters that forced UCS-2, in order of appearance

    @property
    def remaining(self) -> int:
        """Units left in the last segment before another one is needed."""
        if self.segments == 0:
            return self.per_segment
        return self.segments * self.per_segment - self.units


def _segments(units: int, single: int, multi: int) -> tuple[int, int]:
    if units == 0:
        return 0, single
    if units <= single:
        return 1, single
    return -(-units // multi), multi


def sms_segments(text: str) -> SegmentInfo:
    """Count ``text`` the way an SMS centre does."""
    non_gsm: dict[str, None] = {}
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENSION:
            septets += 2
        else:
            non_gsm[char] = None
    if not non_gsm:
        segments, per = _segments(septets, GSM7_SINGLE, GSM7_MULTI)
        return SegmentInfo("GSM-7", len(text), septets, segments, per, ())
    units = len(text.encode("utf-16-le")) // 2
    segments, per = _segments(units, UCS2_SINGLE, UCS2_MULTI)
    return SegmentInfo("UCS-2", len(text), units, segments, per, tuple(non_gsm))
