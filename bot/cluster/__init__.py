"""What several instances of the bot share through Redis (REDIS_URL): per-chat state and
order, rate limits, leases for periodic jobs, and the updates already handled."""
