#!/bin/sh
# Backs up the bot's database while the bot runs, and the knowledge file /assign edits.
# Run as the bot's user (cso-bot-backup.service does), with the settings of cso-bot.env.
#
# VACUUM INTO reads one consistent snapshot in a single read transaction: in WAL mode it never
# blocks the bot's writes nor waits for them. A plain copy of bot.sqlite3 would miss what is
# still in bot.sqlite3-wal, and a copy taken during a checkpoint can be torn.
set -eu

DATA_DIR=${DATA_DIR:-/var/lib/cso-bot}
KNOWLEDGE_FILE=${KNOWLEDGE_FILE:-$DATA_DIR/knowledge/faq.json}
BACKUP_DIR=${BACKUP_DIR:-/var/backups/cso-bot}
KEEP_DAYS=${KEEP_DAYS:-14}

umask 077  # the database holds questions and chat ids: backups are as private as it is
stamp=$(date -u +%Y%m%dT%H%M%SZ)
database="$BACKUP_DIR/bot-$stamp.sqlite3"
partial="$database.part"

if [ -e "$database" ]; then
    echo "$database exists already: one backup a second at most" >&2
    exit 1
fi
rm -f "$partial"
sqlite3 "$DATA_DIR/bot.sqlite3" "VACUUM INTO '$partial'"
verdict=$(sqlite3 "$partial" "PRAGMA integrity_check")
if [ "$verdict" != "ok" ]; then
    echo "backup $partial failed the integrity check: $verdict" >&2
    exit 1
fi
mv "$partial" "$database"
cp "$KNOWLEDGE_FILE" "$BACKUP_DIR/knowledge-$stamp.json"

find "$BACKUP_DIR" -maxdepth 1 -type f \
    \( -name 'bot-*.sqlite3' -o -name 'knowledge-*.json' \) -mtime +"$KEEP_DAYS" -delete
echo "backed up to $database"
