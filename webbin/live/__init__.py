"""Live: the broker that says "bin X changed" (relayed to other workers and hosts through
Redis, PostgreSQL's LISTEN/NOTIFY or a local notifier: ``relay``), the WebSocket streams that
replay past a cursor and then push, and the limits on viewers.

May import ``storage`` and the shared bottom modules; never ``receiver``, ``capture``,
``outbound``, ``web`` or ``serving``.
"""
