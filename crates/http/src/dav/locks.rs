//! Class 2: LOCK, UNLOCK, the `If` header (RFC 4918 §10.4) and the check every write makes
//! against the locks that cover what it changes.

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use stratus_service::{Caller, DavLock, DavTarget, MAX_LOCK_SECS, Stratus};

use super::{Base, DavError, DavPath, Req, etag_of, xml};

/// One condition of an `If` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Token(String),
    Etag(String),
}

/// One parenthesised list, with the resource it is tagged with (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IfList {
    resource: Option<String>,
    conditions: Vec<(bool, Condition)>,
}

/// The parsed `If` header.
#[derive(Debug, Default)]
pub struct IfHeader {
    lists: Vec<IfList>,
}

impl IfHeader {
    pub fn parse(headers: &HeaderMap) -> Result<Self, DavError> {
        let Some(value) = headers.get("if") else { return Ok(Self::default()) };
        let text = value.to_str().map_err(|_| bad_if())?;
        let mut lists = Vec::new();
        let mut resource = None;
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                let (uri, tail) = after.split_once('>').ok_or_else(bad_if)?;
                resource = Some(uri.to_string());
                rest = tail.trim_start();
            } else if let Some(after) = rest.strip_prefix('(') {
                // A list the header's end cuts off is taken as closed there: some clients
                // (neon, so litmus) truncate long If headers, and 64-digit ETags make them long.
                let (inner, tail) = split_list(after).unwrap_or((after, ""));
                lists.push(IfList { resource: resource.clone(), conditions: parse_conditions(inner)? });
                rest = tail.trim_start();
            } else {
                return Err(bad_if());
            }
        }
        if lists.is_empty() {
            return Err(bad_if());
        }
        Ok(Self { lists })
    }

    /// Lock tokens the client submitted.
    pub fn tokens(&self) -> Vec<&str> {
        self.lists
            .iter()
            .flat_map(|l| l.conditions.iter())
            .filter_map(|(not, c)| match c {
                Condition::Token(t) if !not => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

/// The inside of one `( … )`, minding `<…>` and `[…]` that may hold parentheses.
fn split_list(s: &str) -> Option<(&str, &str)> {
    let mut depth = None::<char>;
    for (i, c) in s.char_indices() {
        match (depth, c) {
            (None, '<') => depth = Some('>'),
            (None, '[') => depth = Some(']'),
            (Some(close), c) if c == close => depth = None,
            (None, ')') => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

fn parse_conditions(mut s: &str) -> Result<Vec<(bool, Condition)>, DavError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            break;
        }
        let not = s.len() >= 3 && s[..3].eq_ignore_ascii_case("not");
        if not {
            s = s[3..].trim_start();
        }
        if let Some(after) = s.strip_prefix('<') {
            let (token, tail) = after.split_once('>').ok_or_else(bad_if)?;
            out.push((not, Condition::Token(token.to_string())));
            s = tail;
        } else if let Some(after) = s.strip_prefix('[') {
            let (etag, tail) = after.split_once(']').unwrap_or((after, ""));
            out.push((not, Condition::Etag(etag.trim().to_string())));
            s = tail;
        } else {
            return Err(bad_if());
        }
    }
    if out.is_empty() {
        return Err(bad_if());
    }
    Ok(out)
}

fn bad_if() -> DavError {
    DavError::status(StatusCode::BAD_REQUEST)
}

/// Whether `lock` covers `path`: its root, or below it when it is deep.
pub fn covers(lock: &DavLock, path: &str) -> bool {
    lock.path == path || (lock.deep && is_below(path, &lock.path))
}

/// Whether `path` lies strictly below `root`.
pub fn is_below(path: &str, root: &str) -> bool {
    if root == "/" {
        return path != "/";
    }
    path.strip_prefix(root).is_some_and(|rest| rest.starts_with('/'))
}

impl Req {
    /// Evaluates the `If` header (412 when no list holds) and loads the caller's locks.
    pub async fn conditions(&self, s: &Stratus) -> Result<Vec<DavLock>, DavError> {
        let locks = s.dav_locks(&self.caller).await.map_err(DavError::from)?;
        if self.if_header.is_empty() {
            return Ok(locks);
        }
        for list in &self.if_header.lists {
            let path = match &list.resource {
                Some(uri) => match DavPath::from_uri(uri, &self.path.base) {
                    Ok(path) => path,
                    Err(_) => continue,
                },
                None => self.path.clone(),
            };
            let mut etag = None;
            let mut holds = true;
            for (not, condition) in &list.conditions {
                let ok = match condition {
                    Condition::Token(token) => {
                        locks.iter().any(|l| &l.token == token && covers(l, &path.text()))
                    }
                    Condition::Etag(wanted) => {
                        if etag.is_none() {
                            etag = Some(current_etag(s, &self.caller, &path).await);
                        }
                        etag.as_ref().is_some_and(|e| e.as_deref() == Some(wanted.as_str()))
                    }
                };
                if ok == *not {
                    holds = false;
                    break;
                }
            }
            if holds {
                return Ok(locks);
            }
        }
        Err(DavError::status(StatusCode::PRECONDITION_FAILED))
    }

    /// 423 unless every lock covering `path` (and, for `deep`, anything below it) has its
    /// token submitted.
    pub fn check_locks(&self, locks: &[DavLock], path: &str, deep: bool) -> Result<(), DavError> {
        let tokens = self.if_header.tokens();
        for lock in locks {
            let applies = covers(lock, path) || (deep && is_below(&lock.path, path));
            if applies && !tokens.contains(&lock.token.as_str()) {
                return Err(DavError::with_body(StatusCode::LOCKED, xml::error("lock-token-submitted")));
            }
        }
        Ok(())
    }

    /// Adding or removing a member changes its folder: locks on the folder count too.
    pub fn check_member_change(&self, locks: &[DavLock], path: &DavPath, deep: bool) -> Result<(), DavError> {
        if let Some(parent) = path.parent() {
            self.check_locks(locks, &parent.text(), false)?;
        }
        self.check_locks(locks, &path.text(), deep)
    }
}

async fn current_etag(s: &Stratus, caller: &Caller, path: &DavPath) -> Option<String> {
    match s.dav_resolve(caller, &path.segments).await {
        Ok(DavTarget::Found(node)) => Some(etag_of(&node)),
        _ => None,
    }
}

/// `Timeout: Second-N | Infinite`, the first usable value.
fn timeout(headers: &HeaderMap) -> i64 {
    let value = headers.get("timeout").and_then(|v| v.to_str().ok()).unwrap_or("");
    for part in value.split(',') {
        let part = part.trim();
        if part.eq_ignore_ascii_case("infinite") {
            return MAX_LOCK_SECS;
        }
        if let Some(n) = part.strip_prefix("Second-").and_then(|n| n.parse::<i64>().ok()) {
            return n.clamp(1, MAX_LOCK_SECS);
        }
    }
    3600
}

pub fn activelock(base: &Base, lock: &DavLock) -> String {
    let scope = if lock.exclusive { "exclusive" } else { "shared" };
    let depth = if lock.deep { "infinity" } else { "0" };
    let root = DavPath::from_text(&lock.path, base).href(false);
    format!(
        "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:{scope}/></D:lockscope>\
         <D:depth>{depth}</D:depth><D:owner>{}</D:owner><D:timeout>Second-{}</D:timeout>\
         <D:locktoken><D:href>{}</D:href></D:locktoken><D:lockroot><D:href>{}</D:href></D:lockroot></D:activelock>",
        lock.owner_xml,
        lock.timeout_secs,
        xml::escape(&lock.token),
        xml::escape(&root)
    )
}

fn lock_response(base: &Base, status: StatusCode, lock: &DavLock, new: bool) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery>{}</D:lockdiscovery></D:prop>",
        activelock(base, lock)
    );
    let mut response = (status, [("content-type", "application/xml; charset=utf-8")], body).into_response();
    if new && let Ok(value) = format!("<{}>", lock.token).parse() {
        response.headers_mut().insert("lock-token", value);
    }
    response
}

pub async fn lock(s: &Stratus, req: &Req, body: &[u8]) -> Result<Response, DavError> {
    let doc = xml::parse(body).map_err(|_| DavError::status(StatusCode::BAD_REQUEST))?;
    let locks = req.conditions(s).await?;
    let path = req.path.text();
    let Some(doc) = doc else {
        // A refresh: the If header names the lock.
        let tokens = req.if_header.tokens();
        let Some(lock) = locks.iter().find(|l| tokens.contains(&l.token.as_str()) && covers(l, &path)) else {
            return Err(DavError::status(StatusCode::PRECONDITION_FAILED));
        };
        let secs = timeout(&req.headers);
        s.dav_refresh_lock(&req.caller, &lock.token, secs).await.map_err(DavError::from)?;
        let refreshed = DavLock { timeout_secs: secs, ..lock.clone() };
        return Ok(lock_response(&req.path.base, StatusCode::OK, &refreshed, false));
    };
    let info = doc.root_element();
    if !xml::is(info, "lockinfo") {
        return Err(DavError::status(StatusCode::BAD_REQUEST));
    }
    let scope = xml::child(info, "lockscope").ok_or_else(|| DavError::status(StatusCode::BAD_REQUEST))?;
    let exclusive = xml::child(scope, "exclusive").is_some();
    if !exclusive && xml::child(scope, "shared").is_none() {
        return Err(DavError::status(StatusCode::BAD_REQUEST));
    }
    let owner = xml::child(info, "owner")
        .map(|o| o.children().map(xml::serialize).collect::<String>())
        .unwrap_or_default();
    let deep = match req.headers.get("depth").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(d) if d.eq_ignore_ascii_case("infinity") => true,
        Some("0") => false,
        Some(_) => return Err(DavError::status(StatusCode::BAD_REQUEST)),
    };
    let (status, node) = match s.dav_resolve(&req.caller, &req.path.segments).await.map_err(DavError::from)? {
        DavTarget::Found(node) => (StatusCode::OK, node.id),
        DavTarget::Missing { parent, name } => {
            // Locking an unmapped URL creates an empty resource (RFC 4918 §7.3).
            req.check_locks(&locks, &req.path.parent().map(|p| p.text()).unwrap_or_default(), false)?;
            let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
            let target = stratus_service::UploadTarget::Named {
                parent: parent.id,
                path: name,
                policy: stratus_core::ConflictPolicy::Fail,
            };
            let created =
                s.upload(Some(&req.caller), target, Some(0), empty).await.map_err(DavError::from)?;
            (StatusCode::CREATED, created.node.id)
        }
        DavTarget::NoParent => return Err(DavError::status(StatusCode::CONFLICT)),
        DavTarget::SharedRoot => return Err(DavError::status(StatusCode::FORBIDDEN)),
    };
    // The service checks every user's locks and takes this one in one transaction.
    let lock = match s.dav_lock(&req.caller, &path, node, deep, exclusive, owner, timeout(&req.headers)).await
    {
        Ok(lock) => lock,
        Err(stratus_service::ServiceError::Locked) => {
            return Err(DavError::with_body(StatusCode::LOCKED, xml::error("no-conflicting-lock")));
        }
        Err(err) => return Err(err.into()),
    };
    Ok(lock_response(&req.path.base, status, &lock, true))
}

pub async fn unlock(s: &Stratus, req: &Req) -> Result<Response, DavError> {
    let token = req
        .headers
        .get("lock-token")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().trim_start_matches('<').trim_end_matches('>').to_string())
        .ok_or_else(|| DavError::status(StatusCode::BAD_REQUEST))?;
    let locks = s.dav_locks(&req.caller).await.map_err(DavError::from)?;
    let path = req.path.text();
    if !locks.iter().any(|l| l.token == token && covers(l, &path)) {
        return Err(DavError::with_body(StatusCode::CONFLICT, xml::error("lock-token-matches-request-uri")));
    }
    s.dav_unlock(&req.caller, &token).await.map_err(DavError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
