//! `stratus-scale`: how the metadata calls a user waits on grow with the size of a drive.
//! Seeds one user's drive with N files (100,000 per folder) through the metadata layer on the
//! real schema, on SQLite and PostgreSQL, and prints the median latency of each call at each
//! size. `cargo run --release -p stratus-bench --bin stratus-scale -- --sizes 1000,100000,1000000`
//! (`--sizes 10000000 --no-sqlite` for the PostgreSQL-only 10 M run).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Parser;
use sqlx::Connection;
use stratus_core::{NodeId, NodeName, SortKey, SortOrder, UserId};
use stratus_meta::{ChildCursor, Db, NewFolder, NewUser};

#[derive(Parser)]
struct Args {
    /// Drive sizes, in files.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    sizes: Vec<u64>,
    /// PostgreSQL to create the scratch databases in (dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// SQLite only.
    #[arg(long)]
    no_postgres: bool,
    /// PostgreSQL only (10 M files is a PostgreSQL size).
    #[arg(long)]
    no_sqlite: bool,
    /// Keep the PostgreSQL scratch databases (their names are printed), to look into them.
    #[arg(long)]
    keep: bool,
    /// Timed repetitions of each call (the median is printed).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

const PER_FOLDER: u64 = 100_000;
const PAGE: u32 = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!("| engine | files | call | median ms |");
    println!("|---|---:|---|---:|");
    let scratch = tempfile::tempdir()?;
    for &size in &args.sizes {
        if !args.no_sqlite {
            let path = scratch.path().join(format!("scale-{size}.db"));
            let db = Db::connect(&format!("sqlite://{}", path.display())).await?;
            measure(&db, "SQLite", size, args.rounds).await?;
            db.close().await;
        }
        if !args.no_postgres {
            let name = format!("stratus_scale_{}", uuid::Uuid::now_v7().simple());
            let mut admin = sqlx::PgConnection::connect(&args.postgres).await.context("PostgreSQL")?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
            let base = args.postgres.rsplit_once('/').map_or(args.postgres.as_str(), |(b, _)| b);
            let db = Db::connect(&format!("{base}/{name}")).await?;
            let measured = measure(&db, "PostgreSQL", size, args.rounds).await;
            db.close().await;
            if args.keep {
                eprintln!("kept the database {name}");
            } else {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                    .execute(&mut admin)
                    .await?;
            }
            measured?;
        }
    }
    Ok(())
}

async fn measure(db: &Db, engine: &str, size: u64, rounds: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let (user, root) = (UserId::new(), NodeId::new());
    db.create_user(&NewUser {
        id: user,
        root_id: root,
        username: "scale".into(),
        email: "scale@example.com".into(),
        password_hash: String::new(),
        is_admin: false,
        email_verified: true,
        quota_limit: u64::MAX >> 2,
        now,
    })
    .await?;
    let seeding = Instant::now();
    let mut folders = Vec::new();
    for f in 0..size.div_ceil(PER_FOLDER) {
        let name = format!("folder{f:03}");
        let folder =
            NewFolder { id: NodeId::new(), owner: user, parent: root, name: &name, now, replacing: None };
        let folder = db.create_folder(&folder).await?;
        let count = PER_FOLDER.min(size - f * PER_FOLDER);
        db.seed_files(user, folder.id, "f", f * PER_FOLDER..f * PER_FOLDER + count, 4096, now).await?;
        folders.push((folder, count));
    }
    // What every node's heartbeat does: fold the usage deltas the seeding appended.
    db.fold_usage().await?;
    db.analyze().await?;
    eprintln!("{engine}: seeded {size} files in {:.1} s", seeding.elapsed().as_secs_f64());
    let (big, in_big) = folders[0].clone();
    // One item in the trash (as the issue measured: a big drive, a small trash).
    let victim = db.child_by_name(big.id, "f00000000.bin").await?.context("seeded file")?;
    db.trash_node(&victim, "/folder000", now).await?;
    let at_ninety = format!("f{:08}.bin", in_big * 9 / 10);
    let ninety = db.child_by_name(big.id, &at_ninety).await?.context("seeded file")?;
    let cursor = ChildCursor::after(&ninety, SortKey::Name);
    let one_hit = format!("{:08}", size / 2);

    let row = |call: &str, ms: f64| println!("| {engine} | {size} | {call} | {ms:.2} |");
    let first = median(rounds, || db.children(big.id, SortKey::Name, SortOrder::Asc, None, PAGE)).await?;
    row("list first page (200)", first);
    let deep =
        median(rounds, || db.children(big.id, SortKey::Name, SortOrder::Asc, Some(&cursor), PAGE)).await?;
    row("list page at 90 %", deep);
    row("search, 1 hit", median(rounds, || db.search(user, &one_hit, None, 100)).await?);
    row("search, 0 hits", median(rounds, || db.search(user, "nothing-like-it", None, 100)).await?);
    row("trash list (1 item)", median(rounds, || db.trash(user)).await?);
    row("usage statistics", median(rounds, || db.usage(user)).await?);

    // A folder of 10,000 files to the trash and back, in the big drive.
    let name = NodeName::new("bulk").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let bulk =
        NewFolder { id: NodeId::new(), owner: user, parent: root, name: name.as_str(), now, replacing: None };
    let bulk = db.create_folder(&bulk).await?;
    db.seed_files(user, bulk.id, "b", 0..BULK, 4096, now).await?;
    let (mut trashing, mut restoring) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        db.trash_node(&bulk, "/bulk", now).await?;
        trashing.push(started.elapsed());
        let started = Instant::now();
        db.restore(bulk.id, root, &name).await?;
        restoring.push(started.elapsed());
    }
    db.fold_usage().await?;
    row("usage statistics after those", median(rounds, || db.usage(user)).await?);
    row("trash a folder of 10,000 files", middle(trashing));
    row("restore it", middle(restoring));
    Ok(())
}

const BULK: u64 = 10_000;

fn middle(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

/// The median of `rounds` timed calls, in milliseconds (after one untimed warm-up call).
async fn median<T, F, Fut>(rounds: usize, call: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, stratus_meta::MetaError>>,
{
    call().await?;
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed());
    }
    Ok(middle(times))
}
