//! Folders as streamed ZIP archives (APPNOTE 6.3): entries are stored (media and documents
//! are mostly compressed already, and storing keeps the stream at disk speed), each file
//! followed by a data descriptor carrying its CRC-32, so nothing is buffered beyond the block
//! being sent. ZIP64 records appear exactly when an entry, an offset or the entry count needs
//! them (≥ 4 GiB, ≥ 65,535 entries).

use bytes::Bytes;
use chrono::{Datelike, Timelike};
use futures_util::{Stream, StreamExt};
use stratus_core::{Node, NodeId};

use crate::{
    Caller, Result, ServiceError, Stratus,
    access::{Grant, Read},
};

const U32_MAX: u64 = 0xFFFF_FFFF;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;

/// Builds the headers and the central directory; the caller streams file data between them.
#[derive(Default)]
pub(crate) struct ZipBuilder {
    offset: u64,
    central: Vec<u8>,
    count: u64,
    /// The open file entry: (name, dos time, dos date, local header offset, zip64).
    open: Option<(String, u16, u16, u64, bool)>,
}

fn dos_time(node: &Node) -> (u16, u16) {
    let t = node.modified_at;
    if t.year() < 1980 {
        return (0, (1 << 5) | 1);
    }
    let time = ((t.hour() << 11) | (t.minute() << 5) | (t.second() / 2)) as u16;
    let date = ((((t.year() - 1980) as u32) << 9) | (t.month() << 5) | t.day()) as u16;
    (time, date)
}

impl ZipBuilder {
    /// The local header of a folder entry (no data follows).
    pub fn folder(&mut self, path: &str, node: &Node) -> Vec<u8> {
        let (time, date) = dos_time(node);
        let name = format!("{path}/");
        let header = local_header(&name, FLAG_UTF8, time, date, false);
        self.record(&name, FLAG_UTF8, time, date, 0, 0, self.offset, 0o40755 << 16 | 0x10);
        self.offset += header.len() as u64;
        header
    }

    /// The local header of a file entry of `size` bytes; its data and [`Self::end_file`] follow.
    pub fn start_file(&mut self, path: &str, node: &Node) -> Vec<u8> {
        let (time, date) = dos_time(node);
        let zip64 = node.size >= U32_MAX || self.offset >= U32_MAX;
        let header = local_header(path, FLAG_UTF8 | FLAG_DESCRIPTOR, time, date, zip64);
        self.open = Some((path.to_string(), time, date, self.offset, zip64));
        self.offset += header.len() as u64;
        header
    }

    /// The data descriptor after a file's `size` bytes with checksum `crc`.
    pub fn end_file(&mut self, crc: u32, size: u64) -> Vec<u8> {
        let Some((name, time, date, at, zip64)) = self.open.take() else {
            return Vec::new();
        };
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        if zip64 {
            d.extend_from_slice(&size.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
        } else {
            d.extend_from_slice(&(size as u32).to_le_bytes());
            d.extend_from_slice(&(size as u32).to_le_bytes());
        }
        self.record(&name, FLAG_UTF8 | FLAG_DESCRIPTOR, time, date, crc, size, at, 0o100644 << 16);
        self.offset += size + d.len() as u64;
        d
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        name: &str,
        flags: u16,
        time: u16,
        date: u16,
        crc: u32,
        size: u64,
        at: u64,
        attrs: u32,
    ) {
        let mut extra = Vec::new();
        if size >= U32_MAX {
            extra.extend_from_slice(&size.to_le_bytes());
            extra.extend_from_slice(&size.to_le_bytes());
        }
        if at >= U32_MAX {
            extra.extend_from_slice(&at.to_le_bytes());
        }
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&(3u16 << 8 | 45).to_le_bytes()); // made by: Unix, 4.5
        c.extend_from_slice(&(if extra.is_empty() { 20u16 } else { 45 }).to_le_bytes());
        c.extend_from_slice(&flags.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes()); // stored
        c.extend_from_slice(&time.to_le_bytes());
        c.extend_from_slice(&date.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        let small = |v: u64| if v >= U32_MAX { u32::MAX } else { v as u32 };
        c.extend_from_slice(&small(size).to_le_bytes());
        c.extend_from_slice(&small(size).to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        let extra_len = if extra.is_empty() { 0 } else { extra.len() + 4 };
        c.extend_from_slice(&(extra_len as u16).to_le_bytes());
        c.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        c.extend_from_slice(&attrs.to_le_bytes());
        c.extend_from_slice(&small(at).to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        if !extra.is_empty() {
            c.extend_from_slice(&1u16.to_le_bytes());
            c.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            c.extend_from_slice(&extra);
        }
        self.count += 1;
    }

    /// The central directory and the end records.
    pub fn finish(self) -> Vec<u8> {
        let mut out = self.central;
        let (cd_offset, cd_size) = (self.offset, out.len() as u64);
        let zip64 = self.count >= 0xFFFF || cd_offset >= U32_MAX || cd_size >= U32_MAX;
        if zip64 {
            let at = cd_offset + cd_size;
            out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&(3u16 << 8 | 45).to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // this disk, disk with the directory
            out.extend_from_slice(&self.count.to_le_bytes());
            out.extend_from_slice(&self.count.to_le_bytes());
            out.extend_from_slice(&cd_size.to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        let count16 = if zip64 { 0xFFFF } else { self.count as u16 };
        let small = |v: u64| if zip64 { u32::MAX } else { v as u32 };
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&count16.to_le_bytes());
        out.extend_from_slice(&count16.to_le_bytes());
        out.extend_from_slice(&small(cd_size).to_le_bytes());
        out.extend_from_slice(&small(cd_offset).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }
}

fn local_header(name: &str, flags: u16, time: u16, date: u16, zip64: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len() + 20);
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&time.to_le_bytes());
    h.extend_from_slice(&date.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // crc: in the descriptor
    let size = if zip64 { u32::MAX } else { 0 };
    h.extend_from_slice(&size.to_le_bytes());
    h.extend_from_slice(&size.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    if zip64 {
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(&[0; 16]);
    }
    h
}

impl Stratus {
    /// A folder the caller may read, as a streamed ZIP archive: its name and its bytes.
    pub async fn zip(&self, caller: Option<&Caller>, folder: NodeId) -> Result<(String, ZipStream)> {
        let folder = self.authorize_folder::<Read>(caller, folder).await?;
        self.zip_of(folder).await
    }

    /// Several items the caller may read (a selection: files and folders, each with what is
    /// below it) as one streamed ZIP archive, each at its own name (a repeated name numbered).
    /// Every item is authorised before a byte is sent.
    pub async fn zip_items(&self, caller: Option<&Caller>, items: &[NodeId]) -> Result<(String, ZipStream)> {
        if items.is_empty() || items.len() > MAX_ZIP_ITEMS {
            return Err(ServiceError::bad_request(
                "invalid_items",
                format!("an archive holds 1 to {MAX_ZIP_ITEMS} items"),
            ));
        }
        let mut entries = Vec::new();
        // Names compared as the extracting system will (case aside), each item once.
        let mut taken = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        for &id in items.iter().filter(|id| seen.insert(**id)) {
            let item = self.authorize::<Read>(caller, id).await?;
            let node = item.node().clone();
            let plain = if node.parent_id.is_none() { "drive".to_string() } else { node.name.clone() };
            let mut name = plain.clone();
            let mut n = 1;
            while !taken.insert(name.to_lowercase()) {
                n += 1;
                name = stratus_core::NodeName::new(&plain)
                    .ok()
                    .and_then(|named| named.numbered(n, !node.is_folder()))
                    .map_or_else(|| format!("{plain} ({n})"), |named| named.as_str().to_string());
            }
            let below = if node.is_folder() { self.subtree(&item).await? } else { Vec::new() };
            entries.push((name.clone(), item));
            entries.extend(below.into_iter().map(|(path, grant)| (format!("{name}/{path}"), grant)));
            if entries.len() > MAX_ZIP_ENTRIES {
                return Err(ServiceError::bad_request(
                    "too_many_entries",
                    format!("an archive of a selection holds at most {MAX_ZIP_ENTRIES} files and folders"),
                ));
            }
        }
        Ok(("selection.zip".to_string(), self.stream_zip(entries)))
    }

    /// The archive of a folder the caller holds a grant to read.
    pub(crate) async fn zip_of(&self, folder: Grant<Read>) -> Result<(String, ZipStream)> {
        let folder = folder.folder()?;
        let entries = self.subtree(&folder).await?;
        let name = &folder.node().name;
        let name = if name.is_empty() { "drive".to_string() } else { name.clone() };
        Ok((format!("{name}.zip"), self.stream_zip(entries)))
    }

    /// `entries` (path, grant) written as an archive while the client reads it.
    fn stream_zip(&self, entries: Vec<(String, Grant<Read>)>) -> ZipStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(2);
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(err) = me.write_zip(entries, &tx).await {
                let _ = tx.send(Err(err)).await;
            }
        });
        ZipStream(rx)
    }

    async fn write_zip(
        &self,
        entries: Vec<(String, Grant<Read>)>,
        tx: &tokio::sync::mpsc::Sender<Result<Bytes>>,
    ) -> Result<()> {
        let closed = || ServiceError::internal("the client went away");
        let mut zip = ZipBuilder::default();
        for (path, entry) in entries {
            let node = entry.node();
            let path = entry_path(&path);
            if node.is_folder() {
                tx.send(Ok(zip.folder(&path, node).into())).await.map_err(|_| closed())?;
                continue;
            }
            tx.send(Ok(zip.start_file(&path, node).into())).await.map_err(|_| closed())?;
            let mut crc = crc32fast::Hasher::new();
            let mut size = 0u64;
            let content = self.content_of(&entry).await?;
            if content.size > 0 {
                let mut data = std::pin::pin!(content.stream(0, content.size - 1));
                while let Some(chunk) = data.next().await {
                    let chunk = chunk?;
                    crc.update(&chunk);
                    size += chunk.len() as u64;
                    tx.send(Ok(chunk)).await.map_err(|_| closed())?;
                }
            }
            tx.send(Ok(zip.end_file(crc.finalize(), size).into())).await.map_err(|_| closed())?;
        }
        tx.send(Ok(zip.finish().into())).await.map_err(|_| closed())?;
        Ok(())
    }
}

/// An entry's path as extractors will read it: `/` separates the drive's folders, and a `\`
/// (a separator to Windows extractors: `..\..\evil.bat` would climb out of the target) or a
/// control character left in an older name becomes `_`.
fn entry_path(path: &str) -> String {
    path.chars().map(|c| if c == '\\' || c.is_control() { '_' } else { c }).collect()
}

/// The most items one archive of a selection names, and the most entries (with what is below
/// them) it holds.
pub const MAX_ZIP_ITEMS: usize = 1000;
pub const MAX_ZIP_ENTRIES: usize = 100_000;

/// The bytes of an archive, produced as the client reads them.
pub struct ZipStream(tokio::sync::mpsc::Receiver<Result<Bytes>>);

impl Stream for ZipStream {
    type Item = Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's zipfile (an implementation nobody here wrote) reads what `bytes` holds.
    fn python_reads(bytes: &[u8], script: &str) -> String {
        let dir = std::env::temp_dir().join(format!("stratus-zip-{}", uuid::Uuid::now_v7()));
        std::fs::write(&dir, bytes).ok();
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&dir).output();
        let _ = std::fs::remove_file(&dir);
        out.map(|o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default()
    }

    fn node(size: u64) -> Node {
        let now = chrono::Utc::now();
        Node {
            id: NodeId::new(),
            name: "x".into(),
            kind: if size == u64::MAX {
                stratus_core::NodeKind::Folder
            } else {
                stratus_core::NodeKind::File
            },
            size,
            content_hash: None,
            parent_id: None,
            owner_id: stratus_core::UserId::new(),
            public_access: Default::default(),
            created_at: now,
            modified_at: now,
            version_id: None,
            tree_tag: 0,
            file_no: 0,
            sha1: None,
        }
    }

    #[test]
    fn entries_and_offsets_past_4_gib_get_zip64() -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let size: u64 = (4 << 30) + 1;
        let path = std::env::temp_dir().join(format!("stratus-zip64-{}", uuid::Uuid::now_v7()));
        let mut file = std::fs::File::create(&path)?;
        let mut zip = ZipBuilder::default();
        file.write_all(&zip.start_file("big.bin", &node(size)))?;
        // The entry's bytes are zeros: a hole in a sparse file, checksummed all the same.
        file.seek(SeekFrom::Current(size as i64))?;
        let zeros = vec![0u8; 1 << 20];
        let mut crc = crc32fast::Hasher::new();
        for _ in 0..(size >> 20) {
            crc.update(&zeros);
        }
        crc.update(&zeros[..(size % (1 << 20)) as usize]);
        file.write_all(&zip.end_file(crc.finalize(), size))?;
        file.write_all(&zip.start_file("after.txt", &node(3)))?;
        file.write_all(b"abc")?;
        file.write_all(&zip.end_file(crc32fast::hash(b"abc"), 3))?;
        file.write_all(&zip.finish())?;
        drop(file);
        let script = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\ni=z.getinfo('big.bin')\n\
            print(i.file_size, z.getinfo('after.txt').header_offset > 2**32, z.read('after.txt').decode())";
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output()?;
        let _ = std::fs::remove_file(&path);
        let printed =
            String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(printed, format!("{size} True abc"));
        Ok(())
    }

    #[test]
    fn more_than_65535_entries_need_and_get_zip64() {
        let mut zip = ZipBuilder::default();
        let mut bytes = Vec::new();
        for i in 0..70_000 {
            bytes.extend(zip.folder(&format!("d{i}"), &node(u64::MAX)));
        }
        bytes.extend(zip.start_file("é.txt", &node(3)));
        bytes.extend_from_slice(b"abc");
        bytes.extend(zip.end_file(crc32fast::hash(b"abc"), 3));
        bytes.extend(zip.finish());
        let script = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nprint(len(z.namelist()), z.read('é.txt').decode(), z.testzip())";
        assert_eq!(python_reads(&bytes, script), "70001 abc None");
    }
}
