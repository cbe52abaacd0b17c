"""The standard consent texts shown to a person, per purpose, in the UI language.

The hash stored with a consent record is the hash of one of these texts exactly as shown, so a text that
changes must get a new :data:`CONSENT_TEXT_VERSION`.
"""

from __future__ import annotations

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from rumbo.people.models import ConsentPurpose

#: Bump when any text below changes: records keep pointing at the wording that was agreed to.
CONSENT_TEXT_VERSION = "2025-01"


def consent_text(purpose: str) -> str:
    """The text to read or show to the person for ``purpose``, in the current language."""
    texts = {
        ConsentPurpose.REGISTRY: _(
            "I agree that this office keeps my personal data in its registry to assist me. Only staff of "
            "this office can see it. I can ask to see, correct or delete my data, and withdraw this "
            "consent at any time."
        ),
        ConsentPurpose.REFERRAL: _(
            "I agree that this office shares the data needed for my referral with the institutions it "
            "refers me to. I can withdraw this consent at any time."
        ),
        ConsentPurpose.MESSAGES: _(
            "I agree to receive messages and alerts from this office by SMS, WhatsApp or email. I can "
            "stop them at any time."
        ),
        ConsentPurpose.EMERGENCY: _(
            "I agree that this office contacts me, or the relatives I named, in an emergency."
        ),
        ConsentPurpose.DATA_SHARING: _(
            "I agree that this office shares my data with another office that assists migrants, so "
            "that it can continue assisting me. I can withdraw this consent at any time."
        ),
    }
    return str(texts[ConsentPurpose(purpose)])


def consent_text_version() -> str:
    """Version label stored with a record: the text version and the language it was shown in."""
    return f"{CONSENT_TEXT_VERSION}/{(get_language() or 'es').split('-')[0]}"
