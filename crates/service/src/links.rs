//! Public links (expiry, password, download limit, file drop) and signed download URLs.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use stratus_core::{Link, LinkId, Node, NodeId, NodeName, UrlId};
use stratus_meta::{LinkRecord, NewLink};

use crate::{
    Caller, Page, Result, ServiceError, Stratus, Uploaded,
    access::{Manage, Read},
    files::Plan,
    tree::ListQuery,
};

const MAX_LINK_PASSWORD: usize = 1024;
/// What a link grant starts with (see `link_grant`).
const GRANT_PREFIX: &str = "lgr_";
/// Signed download URLs live at most a week.
pub const MAX_URL_SECONDS: u64 = 7 * 24 * 3600;

/// What a new link may carry.
#[derive(Debug, Clone, Default)]
pub struct LinkOptions {
    pub expires_at: Option<DateTime<Utc>>,
    pub password: Option<String>,
    pub max_downloads: Option<i64>,
    pub upload_only: bool,
}

/// A visitor's view through a link: the link, its node, and the node `path` names inside it.
/// Only [`Stratus::visit`] makes one (its fields are private), after checking the link is
/// active and unexpired and its password was given: holding one is the visitor's grant.
/// Making one up does not compile:
///
/// ```compile_fail,E0451
/// fn forge(link: stratus_core::Link, node: stratus_core::Node) -> stratus_service::LinkVisit {
///     stratus_service::LinkVisit { link, root: node.clone(), target: node }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct LinkVisit {
    link: Link,
    root: Node,
    target: Node,
}

impl LinkVisit {
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The link's own node.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// The node the visited path names inside the link.
    pub fn target(&self) -> &Node {
        &self.target
    }
}

impl Stratus {
    /// Creates a public link (owner or editor). The token carries 256 random bits.
    pub async fn create_link(&self, caller: &Caller, node: NodeId, o: LinkOptions) -> Result<Link> {
        let node = self.authorize::<Manage>(Some(caller), node).await?.into_node();
        if o.expires_at.is_some_and(|t| t <= self.now()) {
            return Err(ServiceError::invalid("invalid_expiry", "the expiry is in the past"));
        }
        let max_downloads = match o.max_downloads {
            Some(n) if n < 1 => {
                return Err(ServiceError::invalid("invalid_limit", "a download limit is at least 1"));
            }
            other => other.map(|n| n as u64),
        };
        if o.upload_only && !node.is_folder() {
            return Err(ServiceError::invalid("not_a_folder", "a file drop needs a folder"));
        }
        let password_set = o.password.is_some();
        let password_hash = match o.password {
            Some(p) if p.is_empty() || p.len() > MAX_LINK_PASSWORD => {
                return Err(ServiceError::invalid("invalid_password", "a link password is 1 to 1024 bytes"));
            }
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let record = self
            .db()
            .insert_link(&NewLink {
                id: LinkId::new(),
                node: node.id,
                owner: node.owner_id,
                created_by: caller.user(),
                token: &token,
                password_hash: password_hash.as_deref(),
                expires_at: o.expires_at,
                max_downloads,
                upload_only: o.upload_only,
                now: self.now(),
            })
            .await?;
        let detail = serde_json::json!({
            "link": record.link.id, "password": password_set, "expires_at": o.expires_at,
            "max_downloads": max_downloads, "upload_only": o.upload_only,
        });
        self.audit(&caller.into(), "link_created", Some(node.id.to_string()), true, Some(detail.to_string()))
            .await;
        Ok(record.link)
    }

    pub async fn links(&self, caller: &Caller, node: NodeId) -> Result<Vec<Link>> {
        self.authorize::<Manage>(Some(caller), node).await?;
        Ok(self.db().links_of(node).await?)
    }

    /// The link, if the caller may manage links on its node.
    async fn managed_link(&self, caller: &Caller, link: LinkId) -> Result<LinkRecord> {
        let record = self.db().link(link).await?;
        self.authorize::<Manage>(Some(caller), record.link.node_id).await?;
        Ok(record)
    }

    pub async fn set_link_active(&self, caller: &Caller, link: LinkId, active: bool) -> Result<Link> {
        self.managed_link(caller, link).await?;
        self.db().set_link_active(link, active).await?;
        Ok(self.db().link(link).await?.link)
    }

    pub async fn delete_link(&self, caller: &Caller, link: LinkId) -> Result<()> {
        let record = self.managed_link(caller, link).await?;
        self.db().delete_link(link).await?;
        let target = Some(record.link.node_id.to_string());
        self.audit(&caller.into(), "link_deleted", target, true, Some(format!("link {link}"))).await;
        Ok(())
    }

    /// Opens a link for a visitor: it must be active, unexpired and, if it has one, given its
    /// password; `path` (e.g. `/sub/file.txt`) names a node inside a folder link and can never
    /// reach outside it.
    /// Wrong passwords are throttled per link and address (the progressive delay of logins), so
    /// guessing is slow while other visitors are unaffected.
    pub async fn visit(
        &self,
        token: &str,
        password: Option<&str>,
        path: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<LinkVisit> {
        let record = self.db().link_by_token(token).await?;
        if !record.link.active {
            return Err(ServiceError::NotFound);
        }
        if record.link.expires_at.is_some_and(|t| t <= self.now()) {
            return Err(ServiceError::Gone { code: "link_expired", message: "this link has expired".into() });
        }
        if let Some(hash) = &record.password_hash {
            let given = password.unwrap_or_default().to_string();
            if given.is_empty() {
                return Err(ServiceError::LinkPassword);
            }
            if self.grant_holds(record.link.id, &given).await? {
                return self.visit_path(record.link, path).await;
            }
            let from = ip.map_or_else(|| "-".to_string(), |ip| ip.to_string());
            let key = format!("link:{}:{from}", record.link.id);
            self.check_delay(&key).await?;
            let right = self.verify_password(given, hash.clone()).await?;
            self.record_outcome(&key, right).await?;
            if !right {
                return Err(ServiceError::LinkPassword);
            }
        }
        self.visit_path(record.link, path).await
    }

    /// The node `path` names inside an opened link.
    async fn visit_path(&self, link: Link, path: &str) -> Result<LinkVisit> {
        let root = self.db().live_node(link.node_id).await?;
        let mut target = root.clone();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let name = NodeName::new(segment)?;
            target =
                self.db().child_by_name(target.id, name.as_str()).await?.ok_or(ServiceError::NotFound)?;
        }
        Ok(LinkVisit { link, root, target })
    }

    /// A page of a folder seen through a link (not for file drops).
    pub async fn visit_children(&self, visit: &LinkVisit, q: &ListQuery) -> Result<Page> {
        self.list_folder(&visit.read_grant()?.folder()?, q).await
    }

    /// Counts a download through a link against its limit, atomically.
    async fn count_link_download(&self, visit: &LinkVisit) -> Result<()> {
        if !self.db().count_download(visit.link.id).await? {
            return Err(ServiceError::Gone {
                code: "link_exhausted",
                message: "this link reached its download limit".into(),
            });
        }
        Ok(())
    }

    /// The file a link (or a path inside it) names, for download. `delivers` tells, from the
    /// file, whether the answer sends any of its bytes: such an answer counts against the
    /// link's download limit (a HEAD or a 304 does not).
    pub async fn link_file(
        &self,
        visit: &LinkVisit,
        delivers: impl FnOnce(&crate::Download) -> bool,
    ) -> Result<crate::Download> {
        let file = self.content_of(&visit.read_grant()?).await?;
        if delivers(&file) {
            self.count_link_download(visit).await?;
        }
        Ok(file)
    }

    /// The folder a link (or a path inside it) names, as a ZIP archive: counted against the
    /// link's download limit unless only its headers are asked for (`head`).
    pub async fn link_zip(&self, visit: &LinkVisit, head: bool) -> Result<(String, crate::ZipStream)> {
        let folder = visit.read_grant()?;
        if !head {
            self.count_link_download(visit).await?;
        }
        self.zip_of(folder).await
    }

    /// Uploads through a file-drop link into its folder (or a folder inside it), charged to the
    /// owner. A clash keeps both: a drop never overwrites and never reveals what is there.
    pub async fn drop_file<S, E>(
        &self,
        visit: &LinkVisit,
        name: &str,
        declared: Option<u64>,
        body: S,
    ) -> Result<Uploaded>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let folder = visit.drop_grant()?;
        let plan = Plan::dropped(folder, NodeName::new(name)?);
        self.upload_planned(plan, declared, body).await
    }

    /// A URL that downloads the file without an auth header until `expires_in` seconds pass,
    /// the file is deleted, the URL is revoked, or its maker can no longer read the file.
    pub async fn signed_url(
        &self,
        caller: &Caller,
        node: NodeId,
        expires_in: u64,
    ) -> Result<(String, DateTime<Utc>)> {
        let node = self.authorize::<Read>(Some(caller), node).await?.into_node();
        if node.is_folder() {
            return Err(ServiceError::invalid("not_a_file", "only files have download URLs"));
        }
        if !(1..=MAX_URL_SECONDS).contains(&expires_in) {
            return Err(ServiceError::invalid(
                "invalid_expiry",
                format!("expires_in is 1 to {MAX_URL_SECONDS} seconds"),
            ));
        }
        let url = UrlId::new();
        let expires_at = self.now() + chrono::Duration::seconds(expires_in as i64);
        self.db().insert_download_url(url, node.id, caller.user(), self.now(), expires_at).await?;
        let expires = expires_at.timestamp();
        let signature = hex::encode(self.url_mac(url, node.id, expires).await?.finalize().into_bytes());
        Ok((format!("/dl/{}?key={url}&expires={expires}&signature={signature}", node.id), expires_at))
    }

    /// The file behind a signed URL, if the signature holds, it has not expired or been
    /// revoked, and whoever made it can still read the file.
    pub async fn signed_download(
        &self,
        node: NodeId,
        url: UrlId,
        expires: i64,
        signature: &str,
    ) -> Result<crate::Download> {
        let given = hex::decode(signature).map_err(|_| ServiceError::NotFound)?;
        self.url_mac(url, node, expires).await?.verify_slice(&given).map_err(|_| ServiceError::NotFound)?;
        if expires <= self.now().timestamp() {
            return Err(ServiceError::Gone {
                code: "url_expired",
                message: "this download URL has expired".into(),
            });
        }
        let (stored_node, maker) = self.db().download_url(url).await?;
        if stored_node != node {
            return Err(ServiceError::NotFound);
        }
        let maker = self.caller_for(maker).await?;
        let file = self.authorize::<Read>(Some(&maker), node).await?;
        self.content_of(&file).await
    }

    /// The live download URLs of a file, for those who manage it (owner and editors).
    pub async fn download_urls(
        &self,
        caller: &Caller,
        node: NodeId,
    ) -> Result<Vec<stratus_core::DownloadUrlInfo>> {
        self.authorize::<Manage>(Some(caller), node).await?;
        Ok(self.db().download_urls(node, self.now()).await?)
    }

    /// Revokes a download URL: its maker, or anyone who manages its file, may.
    pub async fn revoke_download_url(&self, caller: &Caller, url: UrlId) -> Result<()> {
        let (node, maker) = self.db().download_url(url).await?;
        if maker != caller.user() {
            self.authorize::<Manage>(Some(caller), node).await?;
        }
        self.db().delete_download_url(url).await?;
        self.audit(
            &caller.into(),
            "download_url_revoked",
            Some(node.to_string()),
            true,
            Some(format!("url {url}")),
        )
        .await;
        Ok(())
    }

    async fn url_mac(&self, url: UrlId, node: NodeId, expires: i64) -> Result<Hmac<Sha256>> {
        self.mac(&format!("{url}:{node}:{expires}")).await
    }

    /// A grant for a visitor who gave a link's password: for an hour, downloads and previews
    /// carry it in their URLs instead of the password (which must never be in a URL: URLs end
    /// up in histories, logs and `Referer`s). `None` for a link without a password.
    pub async fn link_grant(&self, visit: &LinkVisit) -> Result<Option<String>> {
        if !visit.link.has_password {
            return Ok(None);
        }
        let expires = (self.now() + chrono::Duration::hours(1)).timestamp();
        let mac = self.mac(&format!("grant:{}:{expires}", visit.link.id)).await?;
        Ok(Some(format!("{GRANT_PREFIX}{expires}_{}", hex::encode(mac.finalize().into_bytes()))))
    }

    /// Whether `given` is a live grant for `link`.
    async fn grant_holds(&self, link: LinkId, given: &str) -> Result<bool> {
        let Some((expires, signature)) = given.strip_prefix(GRANT_PREFIX).and_then(|g| g.split_once('_'))
        else {
            return Ok(false);
        };
        let (Ok(expires), Ok(signature)) = (expires.parse::<i64>(), hex::decode(signature)) else {
            return Ok(false);
        };
        let mac = self.mac(&format!("grant:{link}:{expires}")).await?;
        Ok(mac.verify_slice(&signature).is_ok() && expires > self.now().timestamp())
    }

    /// An HMAC-SHA256 of `message` under the server's URL key (one for the cluster, in the
    /// database).
    async fn mac(&self, message: &str) -> Result<Hmac<Sha256>> {
        let key = self
            .0
            .url_key
            .get_or_try_init(|| async {
                let mut fresh = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut fresh);
                self.db().secret("download_url_key", &fresh).await
            })
            .await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(ServiceError::internal)?;
        mac.update(message.as_bytes());
        Ok(mac)
    }
}
