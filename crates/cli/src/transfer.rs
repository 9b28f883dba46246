//! Transfers: uploads through block negotiation (only missing blocks cross, in parallel,
//! resumable), downloads that resume with Range and verify the content hash, and one-way sync.

use std::{
    collections::BTreeMap,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use stratus_core::{BLOCK_SIZE, BlockHash, Node, NodeId};

use crate::client::Client;

/// Blocks sent at once per file.
const PARALLEL_BLOCKS: usize = 4;

/// What a transfer did, for the summary line and `--json`.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub files_sent: u64,
    pub files_skipped: u64,
    pub block_bytes_sent: u64,
    pub files_received: u64,
    pub bytes_received: u64,
    pub deleted: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<String>,
}

pub struct Transfers {
    pub client: Client,
    pub state_dir: PathBuf,
    pub bars: MultiProgress,
    pub dry_run: bool,
}

/// The digests of a local file's 4 MiB blocks, and its content hash.
fn hash_file(path: &Path) -> anyhow::Result<(Vec<BlockHash>, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut blocks = Vec::new();
    let mut buf = vec![0u8; BLOCK_SIZE];
    loop {
        let n = read_full(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        blocks.push(BlockHash(Sha256::digest(&buf[..n]).into()));
        if n < BLOCK_SIZE {
            break;
        }
    }
    let hash = stratus_core::content_hash(&blocks);
    Ok((blocks, hash))
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn bar(bars: &MultiProgress, len: u64, label: &str) -> ProgressBar {
    let bar = bars.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:30!} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_string());
    bar
}

impl Transfers {
    /// Uploads one file into `parent` as `name`; resumes a session this machine left open.
    pub async fn put_file(
        &self,
        local: &Path,
        parent: &Node,
        name: &str,
        policy: &str,
        overall: &ProgressBar,
        report: &mut Report,
    ) -> anyhow::Result<Node> {
        let meta = std::fs::metadata(local)?;
        let size = meta.len();
        let path = local.to_path_buf();
        let (blocks, _) = tokio::task::spawn_blocking(move || hash_file(&path)).await??;
        let hex: Vec<String> = blocks.iter().map(BlockHash::to_hex).collect();
        // A session left by an interrupted run of the same file is picked up again.
        let key = {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let id = format!(
                "{}|{}|{}|{}|{}|{}",
                std::fs::canonicalize(local)?.display(),
                self.client.base(),
                parent.id,
                name,
                size,
                mtime
            );
            hex::encode(Sha256::digest(id.as_bytes()))
        };
        let state = self.state_dir.join(&key);
        let resumed = match std::fs::read_to_string(&state) {
            Ok(id) => self.client.upload_state(id.trim()).await?,
            Err(_) => None,
        };
        let session = match resumed {
            Some(s) => s,
            None => {
                let s = self.client.start_upload(&parent.id, name, size, &hex, policy).await?;
                std::fs::create_dir_all(&self.state_dir)?;
                std::fs::write(&state, &s.upload_id)?;
                s
            }
        };
        let file_bar = bar(&self.bars, size, name);
        let missing: std::collections::HashSet<u64> = session.missing.iter().copied().collect();
        let present: u64 =
            (0..blocks.len() as u64).filter(|i| !missing.contains(i)).map(|i| block_len(size, i)).sum();
        file_bar.inc(present);
        overall.inc(present);
        let sent: Vec<u64> = stream::iter(session.missing.clone())
            .map(|index| {
                let (client, id, local, file_bar) =
                    (&self.client, &session.upload_id, local.to_path_buf(), &file_bar);
                async move {
                    let len = block_len(size, index);
                    let data = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
                        let mut f = std::fs::File::open(&local)?;
                        f.seek(SeekFrom::Start(index * BLOCK_SIZE as u64))?;
                        let mut buf = vec![0u8; len as usize];
                        f.read_exact(&mut buf)?;
                        Ok(buf)
                    })
                    .await??;
                    client.put_block(id, index, data.into()).await?;
                    file_bar.inc(len);
                    overall.inc(len);
                    Ok::<u64, anyhow::Error>(len)
                }
            })
            .buffer_unordered(PARALLEL_BLOCKS)
            .try_collect()
            .await?;
        let node = self.client.commit(&session.upload_id).await?;
        let _ = std::fs::remove_file(&state);
        file_bar.finish_and_clear();
        report.files_sent += 1;
        report.block_bytes_sent += sent.iter().sum::<u64>();
        Ok(node)
    }

    /// Uploads a file or a folder (recursively) into the remote folder `dest`.
    pub async fn put(
        &self,
        local: &Path,
        dest: &str,
        policy: &str,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let files = local_files(local)?;
        let total: u64 = files.iter().map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
        let overall = bar(&self.bars, total, "total");
        let base = local.file_name().and_then(|n| n.to_str()).context("a local path with a name")?;
        let mut small = Batches::default();
        for (rel, path) in files {
            let remote_rel = if local.is_dir() { format!("{base}/{rel}") } else { base.to_string() };
            let size = std::fs::metadata(&path)?.len();
            if size <= BATCH_FILE_MAX {
                small.push(remote_rel, path, size);
                continue;
            }
            let remote = format!("{dest}/{remote_rel}");
            let (dir, name) = remote.rsplit_once('/').context("a remote path")?;
            let parent = self.client.ensure_dir(dir).await?;
            self.put_file(&path, &parent, name, policy, &overall, report).await?;
        }
        if !small.is_empty() {
            let parent = self.client.ensure_dir(dest).await?;
            self.put_batches(small, &parent, policy, &overall, report).await?;
        }
        overall.finish_and_clear();
        Ok(())
    }

    /// Sends small files many to a request (their paths relative to `parent`); each request
    /// is committed by the server as a whole.
    async fn put_batches(
        &self,
        batches: Batches,
        parent: &Node,
        policy: &str,
        overall: &ProgressBar,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        for batch in batches.0 {
            let bytes: u64 = batch.iter().map(|(_, _, size)| size).sum();
            let files = tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|(rel, path, _)| Ok((rel, std::fs::read(path)?)))
                    .collect::<std::io::Result<Vec<_>>>()
            })
            .await??;
            let sent = self.client.upload_files(&parent.id, policy, files).await?;
            overall.inc(bytes);
            report.files_sent += sent.len() as u64;
            report.block_bytes_sent += bytes;
        }
        Ok(())
    }

    /// Downloads one file to `dest`, resuming a `.part` left by an interrupted run, and checks
    /// its content hash.
    pub async fn get_file(
        &self,
        node: &Node,
        dest: &Path,
        overall: &ProgressBar,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let part = dest.with_file_name(format!(
            "{}.part",
            dest.file_name().and_then(|n| n.to_str()).unwrap_or("download")
        ));
        let have = std::fs::metadata(&part).map_or(0, |m| m.len()).min(node.size);
        let file_bar = bar(&self.bars, node.size, &node.name);
        file_bar.inc(have);
        overall.inc(have);
        if have < node.size {
            let response = self.client.download(&node.id, have).await?;
            let mut out = std::fs::OpenOptions::new().create(true).append(true).open(&part)?;
            out.set_len(have)?;
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                out.write_all(&chunk)?;
                file_bar.inc(chunk.len() as u64);
                overall.inc(chunk.len() as u64);
                report.bytes_received += chunk.len() as u64;
            }
            out.sync_all()?;
        } else {
            std::fs::OpenOptions::new().create(true).append(true).open(&part)?;
        }
        let check = part.clone();
        let (_, hash) = tokio::task::spawn_blocking(move || hash_file(&check)).await??;
        if Some(&hash) != node.content_hash.as_ref() {
            let _ = std::fs::remove_file(&part);
            bail!("{}: the download does not match its content hash; run again", node.name);
        }
        std::fs::rename(&part, dest)?;
        file_bar.finish_and_clear();
        report.files_received += 1;
        Ok(())
    }

    /// Downloads a file or a folder (recursively) to `dest`.
    pub async fn get(&self, remote: &str, dest: &Path, report: &mut Report) -> anyhow::Result<()> {
        let node = self.client.at(remote).await?;
        let files = if node.is_folder() {
            self.remote_files(&node).await?
        } else {
            BTreeMap::from([(String::new(), node.clone())])
        };
        let overall = bar(&self.bars, files.values().map(|n| n.size).sum(), "total");
        for (rel, file) in &files {
            let target = if rel.is_empty() { dest.to_path_buf() } else { dest.join(rel) };
            self.get_file(file, &target, &overall, report).await?;
        }
        overall.finish_and_clear();
        Ok(())
    }

    /// Every file under a remote folder, by relative path.
    pub async fn remote_files(&self, folder: &Node) -> anyhow::Result<BTreeMap<String, Node>> {
        let mut out = BTreeMap::new();
        let mut stack: Vec<(String, NodeId)> = vec![(String::new(), folder.id)];
        while let Some((prefix, id)) = stack.pop() {
            for child in self.client.children(&id).await? {
                let rel =
                    if prefix.is_empty() { child.name.clone() } else { format!("{prefix}/{}", child.name) };
                if child.is_folder() {
                    stack.push((rel, child.id));
                } else {
                    out.insert(rel, child);
                }
            }
        }
        Ok(out)
    }

    /// Makes the remote folder `remote` a mirror of `local`: changed files are uploaded (only
    /// their changed blocks cross), unchanged ones skipped; `delete` removes remote extras.
    pub async fn push(
        &self,
        local: &Path,
        remote: &str,
        delete: bool,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let root = self.client.ensure_dir(remote).await?;
        let theirs = self.remote_files(&root).await?;
        let ours = local_files(local)?;
        let overall = bar(&self.bars, 0, "total");
        let mut small = Batches::default();
        for (rel, path) in &ours {
            let p = path.clone();
            let (_, hash) = tokio::task::spawn_blocking(move || hash_file(&p)).await??;
            if theirs.get(rel).and_then(|n| n.content_hash.as_ref()) == Some(&hash) {
                report.files_skipped += 1;
                continue;
            }
            if self.dry_run {
                report.planned.push(format!("upload {rel}"));
                continue;
            }
            let size = std::fs::metadata(path)?.len();
            overall.inc_length(size);
            if size <= BATCH_FILE_MAX {
                small.push(rel.clone(), path.clone(), size);
                continue;
            }
            let (dir, name) = match rel.rsplit_once('/') {
                Some((d, n)) => (format!("{remote}/{d}"), n),
                None => (remote.to_string(), rel.as_str()),
            };
            let parent = self.client.ensure_dir(&dir).await?;
            self.put_file(path, &parent, name, "replace", &overall, report).await?;
        }
        if !small.is_empty() {
            self.put_batches(small, &root, "replace", &overall, report).await?;
        }
        if delete {
            for (rel, node) in &theirs {
                if !ours.iter().any(|(r, _)| r == rel) {
                    if self.dry_run {
                        report.planned.push(format!("delete {rel}"));
                    } else {
                        self.client.delete(&node.id).await?;
                        report.deleted += 1;
                    }
                }
            }
        }
        overall.finish_and_clear();
        Ok(())
    }

    /// Makes the local folder `local` a mirror of the remote folder `remote`.
    pub async fn pull(
        &self,
        remote: &str,
        local: &Path,
        delete: bool,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let root = self.client.at(remote).await?;
        let theirs = self.remote_files(&root).await?;
        std::fs::create_dir_all(local)?;
        let ours = local_files(local)?;
        let overall = bar(&self.bars, 0, "total");
        for (rel, node) in &theirs {
            let target = local.join(rel);
            if target.is_file() {
                let t = target.clone();
                let (_, hash) = tokio::task::spawn_blocking(move || hash_file(&t)).await??;
                if Some(&hash) == node.content_hash.as_ref() {
                    report.files_skipped += 1;
                    continue;
                }
            }
            if self.dry_run {
                report.planned.push(format!("download {rel}"));
                continue;
            }
            overall.inc_length(node.size);
            self.get_file(node, &target, &overall, report).await?;
        }
        if delete {
            for (rel, path) in &ours {
                if !theirs.contains_key(rel) {
                    if self.dry_run {
                        report.planned.push(format!("delete {rel}"));
                    } else {
                        std::fs::remove_file(path)?;
                        report.deleted += 1;
                    }
                }
            }
        }
        overall.finish_and_clear();
        Ok(())
    }
}

fn block_len(size: u64, index: u64) -> u64 {
    (size - index * BLOCK_SIZE as u64).min(BLOCK_SIZE as u64)
}

/// Files up to this size are sent many to a request (`POST /nodes/{id}/files`, committed
/// together) instead of one upload session each: three requests a file would cost far more
/// than their bytes.
const BATCH_FILE_MAX: u64 = 1 << 20;
/// What one batch request holds at most.
const BATCH_BYTES: u64 = 16 << 20;
const BATCH_FILES: usize = 1000;

/// Small files grouped into requests: `(remote relative path, local path, size)` each.
#[derive(Default)]
struct Batches(Vec<Vec<(String, PathBuf, u64)>>);

impl Batches {
    fn push(&mut self, rel: String, path: PathBuf, size: u64) {
        let full = self.0.last().is_none_or(|b| {
            b.len() >= BATCH_FILES || b.iter().map(|(_, _, s)| s).sum::<u64>() + size > BATCH_BYTES
        });
        if full {
            self.0.push(Vec::new());
        }
        if let Some(batch) = self.0.last_mut() {
            batch.push((rel, path, size));
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The files under `root` (or `root` itself) with their paths relative to it, `/`-separated.
pub fn local_files(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    if root.is_file() {
        return Ok(vec![(String::new(), root.to_path_buf())]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}: cannot list", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "part") {
                let rel = path
                    .strip_prefix(root)?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}
