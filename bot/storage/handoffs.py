"""Live handoffs and the operators' forum topics.

These tables keep the private chat id, the one exception to pseudonymous storage, because
the bot must relay the operators' replies to it; the retention purge forgets it once a
handoff has been closed longer than the retention period. The queue for the operators' group
(``operator_relays``) holds, until sent, what sending needs: for a card, the customer's name.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

from bot.storage.database import DAY, Database, Row, Tx

COPIES_KEPT = 7 * DAY  # how long an operator's message can be corrected in the customer's copy


@dataclass(frozen=True, slots=True)
class Handoff:
    id: int
    chat_id: int
    user_key: str
    status: str  # "waiting" (no operator reply yet) | "active" | "closed"
    opened_at: float
    first_reply_at: float | None
    closed_at: float | None
    rating: int | None  # 1..5
    timeout_notified: bool


def _handoff(row: Row) -> Handoff:
    return Handoff(
        id=row["id"],
        chat_id=row["chat_id"],
        user_key=row["user_key"],
        status=row["status"],
        opened_at=row["opened_at"],
        first_reply_at=row["first_reply_at"],
        closed_at=row["closed_at"],
        rating=row["rating"],
        timeout_notified=bool(row["timeout_notified"]),
    )


@dataclass(frozen=True, slots=True)
class PendingRelay:
    """Something queued for the operators' group and not sent yet."""

    id: int  # ascending in the order they were queued
    chat_id: int  # the customer's chat
    kind: str
    payload: str  # JSON


_HANDOFF_COLUMNS = (
    "id, chat_id, user_key, status, opened_at, first_reply_at, closed_at, rating, timeout_notified"
)


class Handoffs(Database):
    """Live handoffs and the forum topic of each customer's chat."""

    # Set by _after_open when this process's open found topics from before groups were recorded.
    _unclaimed_topics = False

    async def _after_open(self) -> None:
        await super()._after_open()

        def take_flag(db: Tx) -> bool:
            cursor = db.execute("DELETE FROM meta WHERE key = 'unclaimed_topics'")
            return cursor.rowcount == 1

        # Only this process may claim them: a later one may run with another group.
        self._unclaimed_topics = await self._write(take_flag)

    async def claim_topics(self, group_id: int) -> int:
        """The topics stored before their group was, given to the operator group the bot runs
        with right after the upgrade; how many. Later calls (and other processes) claim none:
        by then OPERATOR_CHAT_ID may name another group, where those ids mean other topics."""
        if not self._unclaimed_topics:
            return 0
        self._unclaimed_topics = False

        def claim(db: Tx) -> int:
            # Skips a topic the group already has (by topic or by chat), as UPDATE OR IGNORE did.
            return db.execute(
                "UPDATE topics SET group_id = :group_id WHERE group_id IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM topics AS t WHERE t.group_id = :group_id"
                "   AND (t.topic_id = topics.topic_id OR t.chat_id = topics.chat_id))",
                {"group_id": group_id},
            ).rowcount

        return await self._write(claim)

    async def topic_for(self, group_id: int, chat_id: int) -> int | None:
        """The chat's topic in the operators' group ``group_id``, if the bot opened one."""
        row = await self._one(
            "SELECT topic_id FROM topics WHERE group_id = :group_id AND chat_id = :chat_id",
            {"group_id": group_id, "chat_id": chat_id},
        )
        return None if row is None else int(row["topic_id"])

    async def chat_for_topic(self, group_id: int, topic_id: int) -> int | None:
        """The customer's chat of a topic the bot opened in ``group_id`` (None for any other)."""
        row = await self._one(
            "SELECT chat_id FROM topics WHERE group_id = :group_id AND topic_id = :topic_id",
            {"group_id": group_id, "topic_id": topic_id},
        )
        return None if row is None else int(row["chat_id"])

    async def set_topic(self, group_id: int, chat_id: int, topic_id: int) -> None:
        """The chat's topic in the operators' group ``group_id``, replacing an old one."""

        values = {"group_id": group_id, "topic_id": topic_id, "chat_id": chat_id}

        def upsert(db: Tx) -> None:
            db.execute(
                "DELETE FROM topics WHERE group_id = :group_id AND topic_id = :topic_id"
                " AND chat_id != :chat_id",
                values,
            )
            # An upsert, not delete-then-insert: two instances setting it at once both succeed.
            db.execute(
                "INSERT INTO topics (group_id, topic_id, chat_id)"
                " VALUES (:group_id, :topic_id, :chat_id)"
                " ON CONFLICT (group_id, chat_id) DO UPDATE SET topic_id = excluded.topic_id",
                values,
            )

        await self._write(upsert, savepoint=True)

    async def remember_copy(
        self, group_id: int, message_id: int, chat_id: int, copy_id: int, *, at: float | None = None
    ) -> None:
        """The operator's message ``message_id`` reached the customer as ``copy_id``. Kept
        COPIES_KEPT (at most the retention period): long enough for a correction."""
        when = time.time() if at is None else at
        forget_before = when - min(COPIES_KEPT, self.retention_days * DAY)

        def insert(db: Tx) -> None:
            db.execute("DELETE FROM operator_copies WHERE at < :before", {"before": forget_before})
            db.execute(
                "INSERT INTO operator_copies (group_id, message_id, chat_id, copy_id, at)"
                " VALUES (:group_id, :message_id, :chat_id, :copy_id, :at)"
                " ON CONFLICT (group_id, message_id) DO UPDATE SET chat_id = excluded.chat_id,"
                " copy_id = excluded.copy_id, at = excluded.at",
                {
                    "group_id": group_id,
                    "message_id": message_id,
                    "chat_id": chat_id,
                    "copy_id": copy_id,
                    "at": when,
                },
            )

        await self._write(insert, savepoint=True)

    async def copy_of(self, group_id: int, message_id: int) -> tuple[int, int] | None:
        """(customer's chat, copy id) of an operator's relayed message, if still known."""
        row = await self._one(
            "SELECT chat_id, copy_id FROM operator_copies"
            " WHERE group_id = :group_id AND message_id = :message_id",
            {"group_id": group_id, "message_id": message_id},
        )
        return None if row is None else (int(row["chat_id"]), int(row["copy_id"]))

    async def add_relay(
        self, chat_id: int, kind: str, payload: str, *, owner: str | None = None
    ) -> int:
        """Queue something for the operators' group (kept until ``relay_done``); its id.
        ``owner``: the instance that will send it (several instances on one database)."""

        def insert(db: Tx) -> int:
            row = db.execute(
                "INSERT INTO operator_relays (chat_id, kind, payload, owner)"
                " VALUES (:chat_id, :kind, :payload, :owner) RETURNING id",
                {"chat_id": chat_id, "kind": kind, "payload": payload, "owner": owner},
            ).fetchone()
            return int(row["id"])

        return await self._write(insert)

    async def relay_done(self, relay_id: int) -> None:
        """Sent (or given up, and logged): off the queue."""

        def delete(db: Tx) -> None:
            db.execute("DELETE FROM operator_relays WHERE id = :id", {"id": relay_id})

        await self._write(delete)

    async def pending_relays(self, owner: str | None = None) -> list[PendingRelay]:
        """What is queued for the operators' group and not sent, in the order queued: all of
        it, or ``owner``'s."""
        select = "SELECT id, chat_id, kind, payload FROM operator_relays"
        if owner is None:
            rows = await self._rows(f"{select} ORDER BY id")
        else:
            rows = await self._rows(f"{select} WHERE owner = :owner ORDER BY id", {"owner": owner})
        return [PendingRelay(r["id"], r["chat_id"], r["kind"], r["payload"]) for r in rows]

    async def relay_is_owned(self, relay_id: int, owner: str) -> bool:
        """Whether relay ``relay_id`` is still queued, as ``owner``'s (not taken over)."""
        row = await self._one(
            "SELECT 1 FROM operator_relays WHERE id = :id AND owner = :owner",
            {"id": relay_id, "owner": owner},
        )
        return row is not None

    async def earlier_relay_elsewhere(self, chat_id: int, relay_id: int, owner: str) -> bool:
        """Whether something for the same customer, queued before ``relay_id``, waits with
        another instance (or with none): it must reach the topic first."""
        row = await self._one(
            "SELECT 1 FROM operator_relays WHERE chat_id = :chat_id AND id < :id"
            " AND (owner IS NULL OR owner != :owner) LIMIT 1",
            {"chat_id": chat_id, "id": relay_id, "owner": owner},
        )
        return row is not None

    async def give_up_relays(self, owner: str) -> int:
        """``owner`` stops: what it queued and did not send is anyone's (owner NULL); how many."""

        def update(db: Tx) -> int:
            return db.execute(
                "UPDATE operator_relays SET owner = NULL WHERE owner = :owner", {"owner": owner}
            ).rowcount

        return await self._write(update)

    async def relay_owners(self) -> set[str | None]:
        """The instances that have something queued (None: queued before owners were kept)."""
        rows = await self._rows("SELECT DISTINCT owner FROM operator_relays")
        return {row["owner"] for row in rows}

    async def take_over_relays(self, owners: Collection[str | None], owner: str) -> int:
        """What ``owners`` (instances that are gone) queued becomes ``owner``'s; how many."""
        gone = sorted(o for o in owners if o is not None)
        unowned = None in owners

        def update(db: Tx) -> int:
            taken = 0
            for old in gone:
                taken += db.execute(
                    "UPDATE operator_relays SET owner = :owner WHERE owner = :old",
                    {"owner": owner, "old": old},
                ).rowcount
            if unowned:
                taken += db.execute(
                    "UPDATE operator_relays SET owner = :owner WHERE owner IS NULL",
                    {"owner": owner},
                ).rowcount
            return taken

        return await self._write(update)

    async def open_handoff(self, chat_id: int, user_id: int, *, at: float | None = None) -> Handoff:
        """A new handoff for this chat, or the one already open."""
        opened_at = time.time() if at is None else at
        key = self.user_key(user_id)

        def open_one(db: Tx) -> Handoff:
            # ON CONFLICT on the partial index: when two instances open one at once, the second
            # waits for the first's commit and then finds its handoff.
            db.execute(
                "INSERT INTO handoffs (chat_id, user_key, status, opened_at)"
                " VALUES (:chat_id, :user_key, 'waiting', :opened_at)"
                " ON CONFLICT (chat_id) WHERE status != 'closed' DO NOTHING",
                {"chat_id": chat_id, "user_key": key, "opened_at": opened_at},
            )
            row = db.execute(
                f"SELECT {_HANDOFF_COLUMNS} FROM handoffs"
                " WHERE chat_id = :chat_id AND status != 'closed'",
                {"chat_id": chat_id},
            ).fetchone()
            assert row is not None
            return _handoff(row)

        return await self._write(open_one, savepoint=True)

    async def current_handoff(self, chat_id: int) -> Handoff | None:
        """The chat's open handoff (waiting or active), if any."""
        row = await self._one(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs"
            " WHERE chat_id = :chat_id AND status != 'closed'",
            {"chat_id": chat_id},
        )
        return None if row is None else _handoff(row)

    async def open_handoffs(self) -> list[Handoff]:
        """Every handoff still open (waiting or active), oldest first: for a restart."""
        rows = await self._rows(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE status != 'closed'"
            " ORDER BY opened_at, id"
        )
        return [_handoff(row) for row in rows]

    async def handoff(self, handoff_id: int) -> Handoff | None:
        row = await self._one(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE id = :id", {"id": handoff_id}
        )
        return None if row is None else _handoff(row)

    async def operator_replied(self, handoff_id: int, *, at: float | None = None) -> None:
        """An operator answered: the first time, record when; the handoff becomes active."""
        when = time.time() if at is None else at

        def update(db: Tx) -> None:
            db.execute(
                "UPDATE handoffs SET first_reply_at = COALESCE(first_reply_at, :at),"
                " status = 'active' WHERE id = :id AND status != 'closed'",
                {"at": when, "id": handoff_id},
            )

        await self._write(update)

    async def close_handoff(self, handoff_id: int, *, at: float | None = None) -> Handoff | None:
        """Close an open handoff; the closed handoff, or None if it was not open."""
        when = time.time() if at is None else at

        def close_one(db: Tx) -> Handoff | None:
            row = db.execute(
                "UPDATE handoffs SET status = 'closed', closed_at = :at"
                f" WHERE id = :id AND status != 'closed' RETURNING {_HANDOFF_COLUMNS}",
                {"at": when, "id": handoff_id},
            ).fetchone()
            return None if row is None else _handoff(row)

        return await self._write(close_one, savepoint=True)

    async def rate_handoff(self, handoff_id: int, rating: int) -> bool:
        """Store the user's 1..5 rating; False if not closed, already rated, or out of range."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            return False

        def update(db: Tx) -> bool:
            cursor = db.execute(
                "UPDATE handoffs SET rating = :rating"
                " WHERE id = :id AND status = 'closed' AND rating IS NULL",
                {"rating": rating, "id": handoff_id},
            )
            return cursor.rowcount == 1

        return await self._write(update)

    async def handoffs_waiting(self, opened_before: float) -> list[Handoff]:
        """Handoffs still without an operator reply, opened before, whose user was not told."""
        rows = await self._rows(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs"
            " WHERE status = 'waiting' AND timeout_notified = 0 AND opened_at < :before"
            " ORDER BY opened_at, id",
            {"before": opened_before},
        )
        return [_handoff(row) for row in rows]

    async def mark_timeout_notified(self, handoff_id: int) -> None:
        def update(db: Tx) -> None:
            db.execute(
                "UPDATE handoffs SET timeout_notified = 1 WHERE id = :id", {"id": handoff_id}
            )

        await self._write(update)
