"""What several instances of the bot share through Redis (REDIS_URL): the per-chat state
(follow-up context, failure streaks) in aiogram's Redis FSM storage, the per-chat order across
instances (aiogram's Redis events isolation), flood control and the operators' group rate as
atomic Redis scripts, the leases under which one instance at a time runs a periodic job, the
updates already handled, and the admins' knowledge changes. Without REDIS_URL none of this is
imported: every piece of state lives in the one process. Everything here fails soft: when Redis
is unreachable for a while, follow-up context may be lost and limits are not shared, but the
bot keeps answering and recovers by itself."""
