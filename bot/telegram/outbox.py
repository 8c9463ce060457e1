"""How a question's reply leaves: through the Bot API (polling), or, in webhook mode, in the
webhook's response.

Telegram executes a method found in the response to its POST only when that response reaches
it, that is together with the acknowledgement of the update. So an instance that dies while
handling an update has sent no answer, and the redelivery (to any instance) answers once.
What comes with the answer (the contact card, the first parts of a very long answer) goes
through the Bot API before it, each at most once per update (marked in the ledger the
instances share, then sent): a death between the two loses it, never repeats it. In webhook
mode the contact card therefore comes before the answer, not after. The price of the
response: Telegram says nothing back about a method in it, so a 429 there loses that reply
instead of being waited out (flood control keeps the bot within Telegram's rates, which makes
that rare).
"""

from __future__ import annotations

from bot.cluster.updates import UpdateLedger


class Outbox:
    """`ledger`: webhook mode (the updates handled, shared by the instances); None: polling,
    everything through the Bot API."""

    def __init__(self, ledger: UpdateLedger | None = None) -> None:
        self.ledger = ledger

    @property
    def in_response(self) -> bool:
        return self.ledger is not None

    async def first_time(self, update_id: int, what: str) -> bool:
        """Whether `what` of this update has not been sent yet (and is now taken to be)."""
        return self.ledger is None or await self.ledger.first_time(update_id, what)
