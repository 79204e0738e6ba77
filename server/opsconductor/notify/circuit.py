"""Per-receiver circuit: notice a dead receiver, probe it, and drain its backlog as soon as it answers.

Rows that fail back off exponentially (up to ``notify_retry_max_s``), so without a circuit a receiver
that comes back after an outage would wait for each row's own timer, minutes later. Instead, after
``THRESHOLD`` consecutive failures without a usable answer (network error, timeout, 5xx) the circuit
opens: only one delivery at a time goes to the receiver, every ``probe_s`` seconds, whatever its row's
timer says. The first answer closes the circuit and makes every retried row of the receiver due now,
so the backlog drains at full speed (in order per alert: the claim only takes each alert's oldest
unsettled row). Pure state; the worker does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsconductor.notify.receivers.base import Result

THRESHOLD = 3


def is_outage(result: Result) -> bool:
    """A failure that says the receiver (not this notification) is in trouble."""
    return not result.ok and result.retry and (result.unreachable or (result.status_code or 0) >= 500)


@dataclass
class Circuit:
    probe_s: float = 3.0
    failures: int = 0
    open: bool = False
    next_probe: float = 0.0

    def record(self, result: Result, now: float) -> bool:
        """Take an outcome into account; True when this success closes an open circuit (drain now)."""
        if not is_outage(result):  # it answered (even a 4xx): the receiver is up
            was_open = self.open
            self.failures, self.open = 0, False
            return was_open
        self.failures += 1
        if self.failures >= THRESHOLD:
            self.open = True
            self.next_probe = now + self.probe_s
        return False

    def may_probe(self, now: float) -> bool:
        return self.open and now >= self.next_probe

    def probing(self, now: float) -> None:
        self.next_probe = now + self.probe_s
