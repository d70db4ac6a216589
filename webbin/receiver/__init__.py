"""Receiver: what webbin decides about a delivery from its bin's settings: signature
verdicts (``signatures/``, one module per provider), handshake replies, custom responses,
retry detection, sender allow-lists, and signed test webhooks.

Mostly plain Python over plain data, free of Flask. May import ``storage`` (verification
writes verdicts back) and the shared bottom modules; never ``capture``, ``live``,
``outbound``, ``web`` or ``serving``.
"""
