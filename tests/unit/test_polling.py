import threading
import time

from seganypet_node.polling import QueuePoller


class CountingPoller(QueuePoller):
    def __init__(self, poll_interval_s: float) -> None:
        super().__init__("test", "p1", poll_interval_s)
        self.steps = 0
        self.stepped = threading.Event()

    def step(self) -> bool:
        self.steps += 1
        self.stepped.set()
        return False


def test_wake_ends_the_poll_wait_at_once() -> None:
    poller = CountingPoller(poll_interval_s=60)
    poller.start()
    try:
        assert poller.stepped.wait(5)
        poller.stepped.clear()
        time.sleep(0.2)
        assert poller.steps == 1  # waiting out the 60 s interval
        poller.wake()
        assert poller.stepped.wait(2)
        assert poller.steps == 2
    finally:
        started = time.monotonic()
        poller.stop()
        assert time.monotonic() - started < 5  # stop does not wait out the interval either


def test_idle_poller_steps_once_per_interval() -> None:
    poller = CountingPoller(poll_interval_s=0.1)
    poller.start()
    time.sleep(0.55)
    poller.stop()
    assert 2 <= poller.steps <= 8  # about 5; loose for a loaded CI machine
