"""SQLite without Redis: the processes of one host that share the database file hear of each
other's captures through the local notifier (unix datagram sockets beside the file), whether
they are the workers of one ``webbin serve`` or several servers on one data folder. Restarting
the capturing server loses nothing.

As in every scale-out test, the ordinary safety poll is an hour.
"""

from __future__ import annotations

from pathlib import Path

from scaleout.cluster import Instance, Viewer, assert_each_once_in_order, capture, wait_until

from webbin.live.local_notify import socket_dir


def listening(data_dir: Path) -> int:
    """Processes listening beside the data folder's SQLite file (one per socket)."""
    folder = socket_dir(data_dir / "webbin.sqlite3")
    return sum(1 for _ in folder.iterdir())


def test_two_servers_on_one_sqlite_file_see_each_others_captures(tmp_path, instances, viewers):
    shared = tmp_path / "data"
    instances.append(Instance(shared, 1))
    instances.append(Instance(shared, 1))
    a, b = instances
    bin_ = a.new_bin()
    viewers.extend(Viewer(b.stream_url(bin_)) for _ in range(3))
    wait_until(lambda: listening(shared) == 1, "B's listener")  # A has no viewer
    acknowledged: dict[str, int] = {}
    for i in range(30):
        capture(a, bin_, f"/{i}", acknowledged)
        if i == 14:
            a.restart()
    for viewer in viewers:
        assert_each_once_in_order(viewer.until("/29"), acknowledged)
    assert sorted(acknowledged.values()) == b.all_ids(bin_)


def test_the_workers_of_one_server_see_each_others_captures(tmp_path, instances, viewers):
    data = tmp_path / "data"
    instances.append(Instance(data, 2))
    (server,) = instances
    bin_ = server.new_bin()
    # Viewers until both workers have one (the kernel picks the worker of a connection).
    while listening(data) < 2:
        assert len(viewers) < 40, "the second worker never got a viewer"
        viewers.append(Viewer(server.stream_url(bin_)))
        wait_until(lambda: listening(data) >= 1, "a listener")
    acknowledged: dict[str, int] = {}
    for i in range(40):  # each over a fresh connection: either worker
        capture(server, bin_, f"/{i}", acknowledged)
    for viewer in viewers:
        assert_each_once_in_order(viewer.until("/39"), acknowledged)
