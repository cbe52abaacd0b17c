"""Local peers for the messaging gateways: real servers for tests, crash tests and benchmarks.

- ``smtp``: an aiosmtpd SMTP server that records every accepted message (Message-ID, recipient).
- ``kannel``: a real Kannel (bearerbox + smsbox) with fakesmsc as the SMS centre.
- ``whatsapp``: an HTTP server that answers like the WhatsApp Cloud API and posts signed webhooks.
- ``measure``: adapter throughput against these peers (``python -m rumbo.messaging.peers.measure``).

The peers import no Django, so they run as plain processes (``python -m rumbo.messaging.peers.smtp``);
``measure`` drives the adapters and so needs Django settings.
"""
