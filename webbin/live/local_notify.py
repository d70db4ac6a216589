"""Live notifications between the processes of one host that share a SQLite file, when no
Redis is configured: unix datagram sockets in a folder beside the file.

Each listening process binds one socket in the folder (``<database>-live/``); a publish sends
one datagram to every other socket there. Every process that opens the same SQLite file (the
workers of ``webbin serve``, several servers, ``webbin prune``) finds the same folder, so no
setting is needed. Sends never block: a peer whose queue is full misses the datagram and finds
the row by its safety poll; a socket nobody holds any more (a worker killed) refuses it and is
removed. The folder is the database's neighbour and is made private to its owner.

Unix socket paths are short (107 bytes on Linux); when the folder beside the database would be
too long, a private folder under the system's temporary directory, named after the database's
path, is used instead.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import os
import secrets
import socket
import stat
import tempfile
from pathlib import Path

# Room in sun_path (108 bytes with the final NUL).
MAX_SOCKET_PATH = 107
# Messages per datagram (each under 100 bytes): well inside any socket buffer.
PER_DATAGRAM = 64


def socket_dir(database: Path) -> Path:
    """The folder of the sockets of every process using ``database`` (created private)."""
    database = database.resolve()
    beside = database.with_name(database.name + "-live")
    if len(str(beside)) + 1 + len(_name()) <= MAX_SOCKET_PATH:
        beside.mkdir(mode=0o700, exist_ok=True)
        return beside
    base = Path(tempfile.gettempdir()) / f"webbin-live-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{base} is not a private folder of this user")
    folder = base / hashlib.sha256(str(database).encode()).hexdigest()[:16]
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _name() -> str:
    """A socket name unique to this listener: the pid for people, a token for certainty."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


class LocalTransport:
    def __init__(self, database: Path) -> None:
        self._database = database
        self.description = f"the local notifier of {database.name}"
        self._dir: Path | None = None
        self._own: str | None = None  # this process's listening socket, skipped when sending
        self._sock: socket.socket | None = None

    def _folder(self) -> Path:
        if self._dir is None:
            self._dir = socket_dir(self._database)
        return self._dir

    def send(self, messages: list[str]) -> None:
        folder = self._folder()
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        datagrams = [
            "\n".join(messages[i : i + PER_DATAGRAM]).encode()
            for i in range(0, len(messages), PER_DATAGRAM)
        ]
        with os.scandir(folder) as entries:
            peers = [e.path for e in entries if e.name != self._own and not e.name.startswith(".")]
        for peer in peers:
            for datagram in datagrams:
                try:
                    self._sock.sendto(datagram, peer)
                except ConnectionRefusedError:
                    _remove(peer)  # nobody listens there any more
                    break
                except BlockingIOError:
                    break  # its queue is full: it finds the rows by its safety poll
                except OSError as error:
                    if error.errno in (errno.ENOENT, errno.ENOTSOCK, errno.EPROTOTYPE):
                        break  # gone meanwhile, or not one of ours
                    raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def listen(self) -> LocalListening:
        name = _name()
        path = self._folder() / name
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(path))
        except BaseException:
            sock.close()
            raise
        self._own = name
        return LocalListening(sock, path)


class LocalListening:
    def __init__(self, sock: socket.socket, path: Path) -> None:
        self._sock = sock
        self._path = path
        atexit.register(self._remove)  # a worker's normal exit leaves nothing behind

    def receive(self, timeout: float) -> list[str]:
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return []
        messages = data.decode(errors="replace").split("\n")
        self._sock.settimeout(0)
        while True:  # whatever else is queued, without waiting
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, TimeoutError):
                return messages
            messages.extend(data.decode(errors="replace").split("\n"))

    def close(self) -> None:
        self._sock.close()
        self._remove()
        atexit.unregister(self._remove)

    def _remove(self) -> None:
        _remove(str(self._path))


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
