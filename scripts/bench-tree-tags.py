# The cost of the folder-tag trigger (migration 0021) on SQLite inserts: 2,000 files into a
# folder two levels down, in one transaction (as a multipart batch commits them), on a copy of
# a database migrated by `stratus serve`, with the trigger as shipped, without it, and with a
# trigger that bumps the parent only. Prints the fastest of 9 rounds of each.
#   python3 scripts/bench-tree-tags.py /path/to/data/stratus.db
import sqlite3, shutil, time, uuid, sys
src = sys.argv[1]
def run(variant):
    shutil.copy(src, '/tmp/bench-tree-tags.db')
    c = sqlite3.connect('/tmp/bench-tree-tags.db', isolation_level=None)
    c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA synchronous=OFF')
    if variant != 'shipped':
        c.execute('DROP TRIGGER tree_node_added')
    if variant == 'parent':
        c.execute("CREATE TRIGGER t AFTER INSERT ON nodes WHEN NEW.parent_id IS NOT NULL BEGIN UPDATE nodes SET tree_tag = tree_tag + 1 WHERE id = NEW.parent_id; END")
    owner, root = c.execute("SELECT id, root_id FROM users LIMIT 1").fetchone()
    f1, f2 = str(uuid.uuid4()), str(uuid.uuid4())
    c.execute("BEGIN")
    for fid, parent, name in ((f1, root, 'x'), (f2, f1, 'y')):
        c.execute("INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, created_at, modified_at) VALUES (?,?,?,?,?, 'folder', 0, 0)", (fid, owner, parent, name, name))
    c.execute("COMMIT")
    times = []
    for rnd in range(9):
        rows = [(str(uuid.uuid4()), owner, f2, f'f{rnd}-{i}.txt', f'f{rnd}-{i}.txt') for i in range(2000)]
        t = time.perf_counter()
        c.execute("BEGIN")
        c.executemany("INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, created_at, modified_at) VALUES (?,?,?,?,?, 'file', 4096, 0, 0)", rows)
        c.execute("COMMIT")
        times.append(time.perf_counter() - t)
    return min(times)
for v in ['none', 'shipped', 'parent', 'none', 'shipped', 'parent']:
    print(f"{v:8} {run(v) * 1000:6.1f} ms for 2,000 inserts")
