# What migration 0024 costs on SQLite, on a copy of a database migrated by `stratus serve`:
# (1) 2,000 file inserts in one transaction (as a multipart batch commits them) with the
#     numbering trigger as shipped and without it;
# (2) a 1,000-row page of a folder of 20,000 files, read with the node columns as shipped
#     (file_no, and the SHA-1 looked up per row in content_checksums) and without those two.
# Prints the fastest of 9 rounds of each.
#   python3 scripts/bench-file-numbers.py /path/to/data/stratus.db
import sqlite3, shutil, time, uuid, sys
src = sys.argv[1]
BASE = ("id, owner_id, parent_id, name, kind, size, content_hash, version_id, public_access, "
        "created_at, modified_at, tree_tag + CASE WHEN kind = 'folder' THEN (SELECT COUNT(*) "
        "FROM tree_deltas WHERE tag_folder = nodes.id) ELSE 0 END AS tree_tag")
SHIPPED = BASE + (", file_no, (SELECT sha1 FROM content_checksums c "
                  "WHERE c.content_hash = nodes.content_hash) AS sha1")
def fresh():
    shutil.copy(src, '/tmp/bench-file-numbers.db')
    c = sqlite3.connect('/tmp/bench-file-numbers.db', isolation_level=None)
    c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA synchronous=OFF')
    owner, root = c.execute("SELECT id, root_id FROM users LIMIT 1").fetchone()
    return c, owner, root
def inserts(variant):
    c, owner, root = fresh()
    if variant == 'none':
        c.execute('DROP TRIGGER nodes_numbered')
    times = []
    for rnd in range(9):
        rows = [(str(uuid.uuid4()), owner, root, f'f{rnd}-{i}.txt', f'f{rnd}-{i}.txt') for i in range(2000)]
        t = time.perf_counter()
        c.execute("BEGIN")
        c.executemany("INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, created_at, modified_at) VALUES (?,?,?,?,?, 'file', 4096, 0, 0)", rows)
        c.execute("COMMIT")
        times.append(time.perf_counter() - t)
    return min(times)
def listing(columns):
    c, owner, root = fresh()
    rows = [(str(uuid.uuid4()), owner, root, f'p{i:05}.jpg', f'p{i:05}.jpg', f'hash{i}') for i in range(20000)]
    c.execute("BEGIN")
    c.executemany("INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, content_hash, created_at, modified_at) VALUES (?,?,?,?,?, 'file', 4096, ?, 0, 0)", rows)
    c.executemany("INSERT INTO content_checksums (content_hash, sha1) VALUES (?, ?)", [(f'hash{i}', 'a' * 40) for i in range(0, 20000, 2)])
    c.execute("COMMIT")
    q = (f"SELECT {columns} FROM nodes WHERE parent_id = ? AND trashed_at IS NULL "
         "AND (kind, sort_name, id) > ('file', 'p10000', '') ORDER BY kind DESC, sort_name, id LIMIT 1000")
    times = []
    for _ in range(9):
        t = time.perf_counter()
        assert len(c.execute(q, (root,)).fetchall()) == 1000
        times.append(time.perf_counter() - t)
    return min(times)
for v in ['none', 'shipped', 'none', 'shipped']:
    print(f"inserts {v:8} {inserts(v) * 1000:6.1f} ms for 2,000")
for name, cols in [('before', BASE), ('shipped', SHIPPED), ('before', BASE), ('shipped', SHIPPED)]:
    print(f"page    {name:8} {listing(cols) * 1000:6.2f} ms for 1,000 rows")
