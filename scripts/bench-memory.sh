#!/bin/bash
# Memory per upload and per listing: peak RSS of a server (SQLite, one local volume) during 20
# concurrent 50 MB PUTs, then during PROPFIND Depth 1 on a folder of 100,000 files seeded
# straight into its database, then of `stratus admin fsck` over 1,000,000 block rows. Prints the
# figures; needs curl and sqlite3.
#   cargo build --release -p stratus-server --bin stratus
#   bash scripts/bench-memory.sh target/release/stratus
set -euo pipefail
BIN=$1
D=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STRATUS_DATA_DIR=$D STRATUS_LISTEN=127.0.0.1:$PORT $BIN serve >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$D" "$D".bin* "$D.time"' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/ready >/dev/null && break; sleep 0.2; done
B=http://127.0.0.1:$PORT/api/v1
curl -sf -X POST $B/auth/register -H 'content-type: application/json' -d '{"username":"mem","email":"mem@example.com","password":"mem-secret-pw"}' >/dev/null
LOGIN=$(curl -sf -X POST $B/auth/login -H 'content-type: application/json' -d '{"login":"mem","password":"mem-secret-pw"}')
TOKEN=$(echo "$LOGIN" | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
ROOT=$(echo "$LOGIN" | python3 -c 'import sys,json; print(json.load(sys.stdin)["user"]["root_id"])')
head -c 52428800 /dev/urandom > $D.bin
echo "idle VmRSS: $(grep VmRSS /proc/$PID/status)"
# Other bytes in each (16 random bytes first), so that no block dedups.
for i in $(seq 20); do { head -c 16 /dev/urandom; cat $D.bin; } > $D.bin.$i; done
echo 5 > /proc/$PID/clear_refs
for i in $(seq 20); do
  curl -sf -T $D.bin.$i "$B/nodes/$ROOT/files/f$i.bin" -H "authorization: Bearer $TOKEN" -o /dev/null &
done
wait $(jobs -p | grep -v "^$PID$")
echo "after 20 x 50 MB PUTs: $(grep -E 'VmHWM' /proc/$PID/status) now $(grep VmRSS /proc/$PID/status)"
kill $PID; wait $PID 2>/dev/null || true
# A folder of 100,000 files, seeded straight into the database (the triggers keep the rest).
DB=$D/stratus.db
[ -f $DB ] || DB=$(ls $D/*.db | head -1)
BIG=0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b
sqlite3 $DB "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, created_at, modified_at) SELECT '$BIG', owner_id, id, 'big', 'big', 'folder', 0, 0 FROM nodes WHERE parent_id IS NULL AND owner_id = (SELECT id FROM users WHERE username = 'mem');
WITH RECURSIVE g(i, h) AS (SELECT 1, hex(randomblob(16)) UNION ALL SELECT i+1, hex(randomblob(16)) FROM g WHERE i < 100000) INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, created_at, modified_at) SELECT lower(substr(h,1,8)||'-'||substr(h,9,4)||'-7'||substr(h,14,3)||'-8'||substr(h,18,3)||'-'||substr(h,21,12)), (SELECT owner_id FROM nodes WHERE id='$BIG'), '$BIG', printf('file %06d.txt', i), printf('file %06d.txt', i), 'file', 0, 0, 0 FROM g;"
STRATUS_DATA_DIR=$D STRATUS_LISTEN=127.0.0.1:$PORT $BIN serve >/dev/null 2>&1 &
PID=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/ready >/dev/null && break; sleep 0.2; done
echo "idle VmRSS: $(grep VmRSS /proc/$PID/status)"
START=$(date +%s.%N)
BYTES=$(curl -sf -X PROPFIND -H 'depth: 1' -u mem:mem-secret-pw http://127.0.0.1:$PORT/dav/big/ | wc -c)
END=$(date +%s.%N)
echo "PROPFIND Depth 1 on 100,000 files: $BYTES bytes in $(python3 -c "print(round($END-$START,2))") s; $(grep VmHWM /proc/$PID/status)"
kill $PID; wait $PID 2>/dev/null || true
# fsck over 1,000,000 block rows, each named by a version of one file (the rows are seeded, the
# block files are not: fsck reports them missing, which costs the same memory as finding them).
sqlite3 $DB "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < 1000000) INSERT INTO blocks (hash, size, refcount, created_at) SELECT randomblob(32), 4096, 1, 0 FROM g;
INSERT INTO versions (id, node_id, size, content_hash, blocks, created_at) SELECT printf('seeded-%07d', rowid), (SELECT id FROM nodes WHERE name = 'f1.bin'), 4096, '', hash, 0 FROM blocks WHERE size = 4096;"
START=$(date +%s.%N)
STRATUS_DATA_DIR=$D /usr/bin/time -f 'fsck peak RSS: %M kB' $BIN admin fsck >/dev/null 2>$D.time || true
END=$(date +%s.%N)
echo "fsck of 1,000,000 blocks: $(python3 -c "print(round($END-$START,1))") s; $(tail -1 $D.time)"
