"""``webbin forward``: a client on the developer's machine that follows a bin and sends each
arrival, byte for byte, to a local app webbin itself cannot reach (docs/forward.md).

It uses nothing of the server's code (a contract in pyproject.toml says so): it speaks to a
webbin server only through its public API and WebSocket, like any other client.

* :mod:`~webbin.forward.command`: the command line;
* :mod:`~webbin.forward.forwarder`: the delivery loop, its order and its cursor;
* :mod:`~webbin.forward.state`: the cursor on disk;
* :mod:`~webbin.forward.transport`: every network exchange (webbin's API, its WebSocket,
  the target);
* :mod:`~webbin.forward.output`: what is printed.
"""
