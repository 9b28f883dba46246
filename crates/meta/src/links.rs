//! Public links, their atomic download counter, signed download URLs, and server-wide secrets.

use chrono::{DateTime, Utc};
use stratus_core::{DownloadUrlInfo, Link, LinkId, NodeId, UrlId, UserId};

use crate::{
    Db, MetaError, Result,
    row::{id, ms, size, time},
};

pub struct NewLink<'a> {
    pub id: LinkId,
    pub node: NodeId,
    pub owner: UserId,
    pub created_by: UserId,
    pub token: &'a str,
    pub password_hash: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<u64>,
    pub upload_only: bool,
    pub now: DateTime<Utc>,
}

/// A link with what checking a visitor needs.
#[derive(Debug, Clone)]
pub struct LinkRecord {
    pub link: Link,
    pub owner: UserId,
    pub password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: String,
    node_id: String,
    owner_id: String,
    token: String,
    password_hash: Option<String>,
    expires_at: Option<i64>,
    max_downloads: Option<i64>,
    downloads: i64,
    upload_only: bool,
    active: bool,
    created_at: i64,
}

impl TryFrom<LinkRow> for LinkRecord {
    type Error = MetaError;

    fn try_from(r: LinkRow) -> Result<Self> {
        Ok(LinkRecord {
            owner: id(&r.owner_id)?,
            link: Link {
                id: id(&r.id)?,
                node_id: id(&r.node_id)?,
                url: format!("/s/{}", r.token),
                token: r.token,
                expires_at: r.expires_at.map(time).transpose()?,
                has_password: r.password_hash.is_some(),
                max_downloads: r.max_downloads.map(size).transpose()?,
                downloads: size(r.downloads)?,
                upload_only: r.upload_only,
                active: r.active,
                created_at: time(r.created_at)?,
            },
            password_hash: r.password_hash,
        })
    }
}

const LINK_COLUMNS: &str = "SELECT id, node_id, owner_id, token, password_hash, expires_at, \
     max_downloads, downloads, upload_only, active, created_at FROM links";

impl Db {
    pub async fn insert_link(&self, l: &NewLink<'_>) -> Result<LinkRecord> {
        let max = l.max_downloads.map(i64::try_from).transpose().map_err(|_| MetaError::Invalid("limit"))?;
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO links (id, node_id, owner_id, created_by, token, password_hash, \
                 expires_at, max_downloads, upload_only, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(l.id.to_string())
            .bind(l.node.to_string())
            .bind(l.owner.to_string())
            .bind(l.created_by.to_string())
            .bind(l.token)
            .bind(l.password_hash)
            .bind(l.expires_at.map(ms))
            .bind(max)
            .bind(l.upload_only)
            .bind(ms(l.now))
            .execute(pool)
            .await?;
        });
        self.link(l.id).await
    }

    pub async fn link(&self, link: LinkId) -> Result<LinkRecord> {
        let sql = format!("{LINK_COLUMNS} WHERE id = $1");
        let row: LinkRow = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(link.to_string()).fetch_one(pool).await?
        });
        row.try_into()
    }

    pub async fn link_by_token(&self, token: &str) -> Result<LinkRecord> {
        let sql = format!("{LINK_COLUMNS} WHERE token = $1");
        let row: LinkRow = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token).fetch_one(pool).await?
        });
        row.try_into()
    }

    pub async fn links_of(&self, node: NodeId) -> Result<Vec<Link>> {
        let sql = format!("{LINK_COLUMNS} WHERE node_id = $1 ORDER BY created_at, id");
        let rows: Vec<LinkRow> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(node.to_string()).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| LinkRecord::try_from(r).map(|l| l.link)).collect()
    }

    pub async fn set_link_active(&self, link: LinkId, active: bool) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("UPDATE links SET active = $2 WHERE id = $1")
                .bind(link.to_string())
                .bind(active)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    pub async fn delete_link(&self, link: LinkId) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM links WHERE id = $1")
                .bind(link.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    /// Counts one download if the limit allows it, atomically: false once it is reached.
    pub async fn count_download(&self, link: LinkId) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE links SET downloads = downloads + 1 WHERE id = $1 \
                 AND (max_downloads IS NULL OR downloads < max_downloads)",
            )
            .bind(link.to_string())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// A random server-wide secret called `name`, created on first use; every node sharing
    /// the database gets the same one.
    pub async fn secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
        let (value,): (Vec<u8>,) = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(fresh)
            .execute(pool)
            .await?;
            sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await?
        });
        Ok(value)
    }
}

impl Db {
    pub async fn insert_download_url(
        &self,
        id: UrlId,
        node: NodeId,
        by: UserId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO download_urls (id, node_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.to_string())
            .bind(node.to_string())
            .bind(by.to_string())
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A download URL: its node and who made it.
    pub async fn download_url(&self, url: UrlId) -> Result<(NodeId, UserId)> {
        let (node, by): (String, String) = on_db!(self, |pool| {
            sqlx::query_as("SELECT node_id, created_by FROM download_urls WHERE id = $1")
                .bind(url.to_string())
                .fetch_one(pool)
                .await?
        });
        Ok((id(&node)?, id(&by)?))
    }

    /// The unexpired download URLs of a node, newest first.
    pub async fn download_urls(&self, node: NodeId, now: DateTime<Utc>) -> Result<Vec<DownloadUrlInfo>> {
        let rows: Vec<(String, String, String, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT d.id, d.created_by, u.username, d.created_at, d.expires_at FROM download_urls d \
                 JOIN users u ON u.id = d.created_by WHERE d.node_id = $1 AND d.expires_at > $2 \
                 ORDER BY d.created_at DESC, d.id",
            )
            .bind(node.to_string())
            .bind(ms(now))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(url, by, username, created, expires)| {
                Ok(DownloadUrlInfo {
                    id: id(&url)?,
                    node_id: node,
                    created_by: id(&by)?,
                    created_by_username: username,
                    created_at: time(created)?,
                    expires_at: time(expires)?,
                })
            })
            .collect()
    }

    pub async fn delete_download_url(&self, url: UrlId) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM download_urls WHERE id = $1")
                .bind(url.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    /// Forgets download URLs that expired before `now`.
    pub async fn delete_expired_download_urls(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, |pool| {
            sqlx::query("DELETE FROM download_urls WHERE expires_at <= $1")
                .bind(ms(now))
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
