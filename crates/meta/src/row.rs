//! Decoding rows into core records, and the encodings both engines share (ids as text,
//! timestamps as epoch milliseconds, block lists as concatenated 32-byte digests).

use chrono::{DateTime, Utc};
use stratus_core::{BlockHash, Node, NodeKind, PublicAccess};

use crate::{MetaError, Result};

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| MetaError::corrupt(format!("timestamp {ms}")))
}

pub(crate) fn id<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| MetaError::corrupt(format!("id {s:?}")))
}

pub(crate) fn size(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| MetaError::corrupt(format!("size {n}")))
}

/// A case-insensitive `LIKE … ESCAPE '\\'` pattern matching any text that contains `text`.
pub(crate) fn contains_pattern(text: &str) -> String {
    format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

pub(crate) fn encode_blocks(blocks: &[BlockHash]) -> Vec<u8> {
    blocks.iter().flat_map(|b| b.0).collect()
}

pub(crate) fn decode_blocks(bytes: &[u8]) -> Result<Vec<BlockHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(MetaError::corrupt("block list length"));
    }
    Ok(bytes.chunks_exact(32).filter_map(BlockHash::from_slice).collect())
}

/// The columns of `nodes` every node query selects, in [`NodeRow`]'s order, as a literal
/// for `concat!` (so every query stays a static string).
macro_rules! node_columns {
    () => {
        "id, owner_id, parent_id, name, kind, size, content_hash, version_id, public_access, \
         created_at, modified_at, tree_tag + CASE WHEN kind = 'folder' THEN (SELECT COUNT(*) \
         FROM tree_deltas WHERE tag_folder = nodes.id) ELSE 0 END AS tree_tag, file_no, \
         (SELECT sha1 FROM content_checksums c WHERE c.owner_id = nodes.owner_id \
         AND c.content_hash = nodes.content_hash) AS sha1"
    };
}
pub(crate) use node_columns;

#[derive(sqlx::FromRow, Clone)]
pub(crate) struct NodeRow {
    pub(crate) id: String,
    owner_id: String,
    pub(crate) parent_id: Option<String>,
    name: String,
    kind: String,
    pub(crate) size: i64,
    content_hash: Option<String>,
    version_id: Option<String>,
    public_access: String,
    created_at: i64,
    modified_at: i64,
    tree_tag: i64,
    file_no: Option<i64>,
    sha1: Option<String>,
}

impl TryFrom<NodeRow> for Node {
    type Error = MetaError;

    fn try_from(r: NodeRow) -> Result<Self> {
        Ok(Node {
            id: id(&r.id)?,
            owner_id: id(&r.owner_id)?,
            parent_id: r.parent_id.as_deref().map(id).transpose()?,
            kind: NodeKind::parse(&r.kind).ok_or_else(|| MetaError::corrupt(&r.kind))?,
            name: r.name,
            size: size(r.size)?,
            content_hash: r.content_hash,
            version_id: r.version_id.as_deref().map(id).transpose()?,
            public_access: PublicAccess::parse(&r.public_access)
                .ok_or_else(|| MetaError::corrupt(&r.public_access))?,
            created_at: time(r.created_at)?,
            modified_at: time(r.modified_at)?,
            tree_tag: r.tree_tag,
            file_no: r.file_no.ok_or_else(|| MetaError::corrupt(format!("node {} has no number", r.id)))?,
            sha1: r.sha1,
        })
    }
}

pub(crate) fn nodes(rows: Vec<NodeRow>) -> Result<Vec<Node>> {
    rows.into_iter().map(Node::try_from).collect()
}
