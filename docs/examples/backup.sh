#!/usr/bin/env bash
# Back up chatserver's database while the server runs, and prove the copy is good.
#
#   backup.sh DB OUTDIR [KEEP_DAYS]
#
#   DB         the live database (CHATSERVER_DB), e.g. /var/lib/chatserver/chat.db
#   OUTDIR     where copies go, e.g. /var/backups/chatserver (created mode 0700)
#   KEEP_DAYS  delete copies older than this many days (default 14); copies hold
#              people's words, so keep them no longer than your policy allows
#
# Run it as the user the server runs as (the database is readable by no one
# else). It needs the sqlite3 command (apt-get install sqlite3) and `chatserver`
# on the PATH. What it does:
#   1. sqlite3's online backup: a consistent snapshot, even while the server
#      writes (it never blocks the server);
#   2. `PRAGMA integrity_check` and `chatserver audit verify` on the copy;
#   3. only then names it OUTDIR/chat-YYYY-MM-DD.db (mode 0600), with a
#      .sha256 beside it, and prints the log's head (last row id and hash):
#      keep that line somewhere else too, see docs/audit.md.
# Exit status 0 when the new copy is good; anything else means look at the
# messages, and the previous copies are untouched.
#
# See docs/deploy.md. Checked by tests/test_deploy_examples.py.
set -euo pipefail

die() {
    echo "backup: $*" >&2
    exit 1
}

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 DB OUTDIR [KEEP_DAYS]" >&2
    exit 2
fi
db=$1
outdir=$2
keep_days=${3:-14}
[[ $keep_days =~ ^[0-9]+$ ]] || die "KEEP_DAYS must be a whole number of days, not '$keep_days'"

command -v sqlite3 >/dev/null || die "the sqlite3 command is missing (apt-get install sqlite3)"
command -v chatserver >/dev/null || die "chatserver is not on the PATH (e.g. PATH=/opt/chatserver/.venv/bin:\$PATH)"
[[ -f $db ]] || die "no database at $db"
# sqlite3's dot-commands take the path as a quoted word: keep it simple.
case $outdir in
    *[\'\"\\]* | *$'\n'*) die "please use an OUTDIR without quotes, backslashes or newlines" ;;
esac

umask 077
mkdir -p -- "$outdir"

stamp=$(date +%F)
final="$outdir/chat-$stamp.db"
partial="$outdir/.chat-$stamp.db.partial"
cleanup() {
    rm -f -- "$partial" "$partial-journal" "$partial-wal" "$partial-shm"
}
trap cleanup EXIT
cleanup

# 1. The copy. `.timeout` waits (up to 20 s) if a checkpoint holds a lock.
sqlite3 -bail "$db" ".timeout 20000" ".backup '$partial'"
# A single self-contained file: no -wal/-shm companions for the copy.
sqlite3 -bail "$partial" "PRAGMA journal_mode=DELETE;" >/dev/null

# 2. The checks.
integrity=$(sqlite3 -bail "$partial" "PRAGMA integrity_check;")
[[ $integrity == ok ]] || die "the copy fails SQLite's integrity check: $integrity"
if ! verdict=$(chatserver audit verify --db "$partial" 2>&1); then
    echo "$verdict" >&2
    die "the audit log does not verify; $db itself is probably affected: run 'chatserver audit verify --db $db' and see docs/audit.md"
fi

# 3. Keep it.
mv -f -- "$partial" "$final"
(cd -- "$outdir" && sha256sum -- "chat-$stamp.db" >"chat-$stamp.db.sha256")
head=$(sqlite3 "$final" "SELECT 'row ' || id || ' hash ' || hash FROM audit ORDER BY id DESC LIMIT 1;")
echo "backup: $final: $verdict"
echo "backup: audit head: ${head:-empty log}"

# Old copies go, and their checksums with them.
find "$outdir" -maxdepth 1 -type f \( -name 'chat-*.db' -o -name 'chat-*.db.sha256' \) \
    -mtime +"$keep_days" -delete
