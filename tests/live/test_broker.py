"""The in-process broker: every subscriber woken, no notification lost while nobody waits."""

from __future__ import annotations

import threading

import pytest

from webbin.live.broker import InProcessBroker


@pytest.mark.parametrize("viewers", [1, 3])
def test_in_process_broker_wakes_every_subscriber(viewers):
    broker = InProcessBroker()
    with_subs = [broker.subscribe("bin") for _ in range(viewers)]
    subs = [cm.__enter__() for cm in with_subs]
    broker.publish("bin")
    broker.publish("other-bin")
    # publish() is synchronous: the flags are set when it returns, so no waiting is needed.
    assert all(s.wait(0) for s in subs)
    assert not any(s.wait(0) for s in subs)  # one notification, consumed once
    for cm in with_subs:
        cm.__exit__(None, None, None)
    assert broker.subscriber_count("bin") == 0


def test_notification_before_wait_is_not_lost():
    broker = InProcessBroker()
    with broker.subscribe("bin") as sub:
        broker.publish("bin")  # arrives while the viewer is busy sending
        assert sub.wait(0)


def test_a_blocked_viewer_is_woken_by_a_publish_from_another_thread():
    broker = InProcessBroker()
    woken: list[bool] = []
    with broker.subscribe("bin") as sub:
        waiter = threading.Thread(target=lambda: woken.append(sub.wait(30)))
        waiter.start()
        broker.publish("bin")  # before or after the wait began: the flag is kept either way
        waiter.join(30)
    assert woken == [True]


def test_notifications_fold_into_the_newest_id_or_say_read():
    broker = InProcessBroker()
    with broker.subscribe("bin") as sub:
        broker.publish("bin", 7)
        broker.publish("bin", 5)
        assert sub.wait(0) and sub.take() == 7  # the newest of those announced
        assert sub.take() == 0  # nothing since
        broker.publish("bin", 9)
        broker.publish("bin")  # e.g. a delete: says nothing, so the reader must look
        assert sub.wait(0) and sub.take() is None


def test_interrupt_wakes_without_news():
    broker = InProcessBroker()
    with broker.subscribe("bin") as sub:
        sub.interrupt()
        assert sub.wait(0) and sub.take() == 0
