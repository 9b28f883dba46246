//! The records the service layer returns and the adapters render. They serialise to the
//! JSON shapes of the public contract (DESIGN.md §6).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{LinkId, NodeId, ShareId, TokenId, UrlId, UserId, VersionId};

/// Bytes a new account may store: 1 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    File,
    Folder,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Folder => "folder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(Self::File),
            "folder" => Some(Self::Folder),
            _ => None,
        }
    }
}

/// Who may reach an item without an account or a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublicAccess {
    #[default]
    None,
    View,
    Edit,
}

impl PublicAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::View => "view",
            Self::Edit => "edit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "view" => Some(Self::View),
            "edit" => Some(Self::Edit),
            _ => None,
        }
    }
}

/// A file or folder as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub kind: NodeKind,
    /// Bytes of the current version (0 for folders).
    pub size: u64,
    /// Dropbox-style content hash of the current version; `null` for folders.
    pub content_hash: Option<String>,
    /// `null` only for a user's root folder.
    pub parent_id: Option<NodeId>,
    pub owner_id: UserId,
    pub public_access: PublicAccess,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    #[serde(skip)]
    pub version_id: Option<VersionId>,
    /// For a folder, a count of the changes anywhere below it (its ETag); 0 for files.
    #[serde(skip)]
    pub tree_tag: i64,
    /// A number for the node, unique and never reused (Nextcloud's `oc:fileid`).
    #[serde(skip)]
    pub file_no: i64,
    /// The current content's SHA-1 (hex), when an upload declared it and it was verified.
    #[serde(skip)]
    pub sha1: Option<String>,
}

impl Node {
    pub fn is_folder(&self) -> bool {
        self.kind == NodeKind::Folder
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quota {
    /// Bytes counted against the quota: current versions of live and trashed files.
    pub used: u64,
    pub limit: u64,
}

/// An account as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    /// Whether the owner proved the address (a mailed link, or a verified OIDC login).
    pub email_verified: bool,
    pub display_name: Option<String>,
    /// Whether a profile photo is set (`GET /api/v1/users/{id}/photo`).
    pub has_photo: bool,
    pub is_admin: bool,
    /// A disabled account cannot log in; its sessions and tokens stop working.
    pub disabled: bool,
    pub root_id: NodeId,
    pub quota: Quota,
    /// The plan's size in GB: 1 for the free plan, 10 to 100 for paid plans.
    pub plan_gb: u64,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A payment for a plan change, as its payer (or an admin) sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub reference: String,
    pub user_id: UserId,
    /// The plan paid for, in GB.
    pub gb: u64,
    /// In the currency's smallest unit (kobo, cents).
    pub amount: u64,
    pub currency: String,
    /// `pending`, `success` or `failed`.
    pub status: String,
    pub authorization_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// One security-relevant event: who did what to what, from where, and whether it worked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<UserId>,
    /// The actor's username, or the login that was attempted.
    pub actor: Option<String>,
    /// E.g. `login`, `login_failed`, `password_reset`, `share_created`, `admin_user_updated`.
    pub action: String,
    pub target: Option<String>,
    /// What the target is called, when it is a file, folder or account that still exists (read
    /// with the log; not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    pub ip: Option<String>,
    pub success: bool,
    pub detail: Option<String>,
}

/// A named, revocable token for WebDAV and CLI clients. The secret is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppToken {
    pub id: TokenId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A top-level item in the trash (its content comes back with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrashItem {
    pub id: NodeId,
    pub name: String,
    pub kind: NodeKind,
    /// Bytes of all files inside (or of the file itself).
    pub size: u64,
    /// Where it lived, e.g. `/Photos/2024`.
    pub original_path: String,
    pub trashed_at: DateTime<Utc>,
}

/// One stored version of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    pub id: VersionId,
    pub size: u64,
    pub content_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    #[default]
    Name,
    Modified,
    Size,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// What an upload does when its name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Refuse with 409 `name_conflict`.
    #[default]
    Fail,
    /// Store a new version of the existing file.
    Replace,
    /// Store under `name (1).ext`, `name (2).ext`, …
    KeepBoth,
}

impl ConflictPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Replace => "replace",
            Self::KeepBoth => "keep_both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fail" => Some(Self::Fail),
            "replace" => Some(Self::Replace),
            "keep_both" => Some(Self::KeepBoth),
            _ => None,
        }
    }
}

/// What a user may do with an item: owner > editor > viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A grant of one node (and, for a folder, everything in it) to another user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Share {
    pub id: ShareId,
    pub node_id: NodeId,
    pub owner_id: UserId,
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// An item someone shared with the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SharedItem {
    pub share_id: ShareId,
    pub role: Role,
    pub owner_username: String,
    pub node: Node,
}

/// A public link to a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    pub id: LinkId,
    pub node_id: NodeId,
    /// The secret part of the URL (at least 128 random bits).
    pub token: String,
    /// `/s/{token}`, relative to the server.
    pub url: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_password: bool,
    pub max_downloads: Option<u64>,
    pub downloads: u64,
    pub upload_only: bool,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// A signed download URL as its file's managers see it (never its signature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DownloadUrlInfo {
    pub id: UrlId,
    pub node_id: NodeId,
    /// Who made it: downloads stop when they can no longer read the file.
    pub created_by: UserId,
    pub created_by_username: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One run of a background job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobRun {
    pub id: VersionId,
    pub name: String,
    /// Which server process ran it.
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `ok` or `failed`.
    pub outcome: String,
    /// What it handled: items purged, links removed, blocks collected…
    pub items: u64,
    pub detail: Option<String>,
}

/// Bytes and files of one kind of content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryUsage {
    /// `images`, `video`, `audio`, `documents`, `archives` or `other`.
    pub category: String,
    pub files: u64,
    pub bytes: u64,
}

/// One day of the usage series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DailyUsage {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub bytes: u64,
    pub files: u64,
}

/// A user's usage statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserStats {
    pub quota: Quota,
    /// Live files (not in the trash), by category; every category is listed.
    pub by_category: Vec<CategoryUsage>,
    pub files: u64,
    pub folders: u64,
    /// Current versions of files in the trash.
    pub trash_bytes: u64,
    pub trash_files: u64,
    /// Older versions of live and trashed files.
    pub version_bytes: u64,
    pub versions: u64,
    /// The last 90 days, oldest first.
    pub daily: Vec<DailyUsage>,
}

/// System-wide statistics for administrators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemStats {
    pub users: u64,
    /// Bytes of every stored version (current and older, live and trashed).
    pub logical_bytes: u64,
    /// Bytes of the distinct blocks those versions reference, and of the small files kept in
    /// the database (`inline_bytes`).
    pub stored_bytes: u64,
    /// Bytes of the versions small enough to be kept in the database instead of in blocks.
    pub inline_bytes: u64,
    pub blocks: u64,
    /// `logical_bytes / stored_bytes` (1 when nothing is stored).
    pub dedup_ratio: f64,
    pub volumes: Vec<VolumeUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeUsage {
    /// The volume's id.
    pub name: String,
    pub pool: String,
    pub block_files: u64,
    /// Bytes of the block files it holds (replicas count on each volume).
    pub bytes: u64,
    /// Share of its disk in use, when it has a fixed size.
    pub used_ratio: Option<f64>,
}

/// Which category a file name falls in, by its extension.
pub fn category_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    CATEGORIES.iter().find(|(_, exts)| exts.contains(&ext.as_str())).map_or("other", |(category, _)| category)
}

/// Categories and their extensions (lowercase). Anything else is `other`.
pub const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "images",
        &[
            "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "bmp", "tif", "tiff", "svg", "raw", "cr2",
            "nef", "avif",
        ],
    ),
    ("video", &["mp4", "mov", "mkv", "avi", "webm", "m4v", "wmv", "flv", "mpg", "mpeg", "3gp"]),
    ("audio", &["mp3", "flac", "wav", "ogg", "oga", "m4a", "aac", "opus", "wma", "aiff"]),
    (
        "documents",
        &[
            "pdf", "doc", "docx", "odt", "rtf", "txt", "md", "xls", "xlsx", "ods", "csv", "ppt", "pptx",
            "odp", "epub", "pages", "key", "numbers",
        ],
    ),
    ("archives", &["zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "iso", "dmg"]),
];
