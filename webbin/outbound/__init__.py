"""Outbound: the only code that makes HTTP requests (``client``), the address policy that
decides where they may go (``policy``), resending a captured request (``resend``), and the
mark that stops resends looping back (``loopguard``).

May import ``storage`` and the shared bottom modules; never ``capture``, ``web`` or
``serving``.
"""
