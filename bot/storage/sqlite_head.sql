-- Written by `python -m bot.storage.sqlite_head` from Alembic's history: never by hand.

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE meta (
	"key" TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY ("key")
);

CREATE TABLE questions (
	id INTEGER NOT NULL,
	at DOUBLE NOT NULL,
	user_key TEXT NOT NULL,
	text TEXT,
	action TEXT NOT NULL,
	intent TEXT,
	confidence DOUBLE NOT NULL,
	best_guess TEXT,
	assigned_intent TEXT,
	assigned_at DOUBLE, update_id BIGINT,
	PRIMARY KEY (id),
	CHECK (action IN ('answer', 'suggest', 'handoff'))
);

CREATE INDEX questions_at ON questions (at);

CREATE INDEX questions_user ON questions (user_key, id);

CREATE TABLE votes (
	id INTEGER NOT NULL,
	at DOUBLE NOT NULL,
	user_key TEXT NOT NULL,
	intent TEXT NOT NULL,
	up INTEGER NOT NULL,
	question_id INTEGER,
	PRIMARY KEY (id),
	CHECK (up IN (0, 1)),
	FOREIGN KEY(question_id) REFERENCES questions (id)
);

CREATE INDEX votes_at ON votes (at);

CREATE INDEX votes_question ON votes (question_id, up);

CREATE TABLE topics (
	group_id BIGINT,
	topic_id BIGINT NOT NULL,
	chat_id BIGINT NOT NULL,
	UNIQUE (group_id, topic_id),
	UNIQUE (group_id, chat_id)
);

CREATE TABLE handoffs (
	id INTEGER NOT NULL,
	chat_id BIGINT NOT NULL,
	user_key TEXT NOT NULL,
	status TEXT NOT NULL,
	opened_at DOUBLE NOT NULL,
	first_reply_at DOUBLE,
	closed_at DOUBLE,
	rating INTEGER,
	timeout_notified INTEGER DEFAULT 0 NOT NULL,
	PRIMARY KEY (id),
	CHECK (status IN ('waiting', 'active', 'closed')),
	CHECK (rating BETWEEN 1 AND 5)
);

CREATE UNIQUE INDEX handoffs_open_per_chat ON handoffs (chat_id) WHERE status != 'closed';

CREATE INDEX handoffs_opened ON handoffs (opened_at);

CREATE INDEX handoffs_closed ON handoffs (closed_at);

CREATE INDEX handoffs_waiting ON handoffs (opened_at) WHERE status = 'waiting' AND timeout_notified = 0;

CREATE TABLE operator_copies (
	group_id BIGINT NOT NULL,
	message_id BIGINT NOT NULL,
	chat_id BIGINT NOT NULL,
	copy_id BIGINT NOT NULL,
	at DOUBLE NOT NULL,
	PRIMARY KEY (group_id, message_id)
);

CREATE INDEX operator_copies_at ON operator_copies (at);

CREATE TABLE operator_relays (
	id INTEGER NOT NULL,
	chat_id BIGINT NOT NULL,
	kind TEXT NOT NULL,
	payload TEXT NOT NULL, owner TEXT,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX questions_update ON questions (user_key, update_id) WHERE update_id IS NOT NULL;

INSERT INTO alembic_version (version_num) VALUES ('0002');
