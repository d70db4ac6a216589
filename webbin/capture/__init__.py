"""Capture: the endpoint that takes any request to a capture URL and stores it byte-exact,
and the wire helpers that read a request as it was sent (raw headers, raw target, body).

A capture walks one way: capture -> receiver (decide the answer) -> storage -> live broker.
May import ``receiver``, ``storage``, ``live``, ``outbound.loopguard`` and the shared
bottom modules; never ``web`` or ``serving``.
"""
