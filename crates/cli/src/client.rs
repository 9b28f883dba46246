//! A typed client of the Stratus REST API (`/api/v1`), speaking only the public contract.

use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};
use stratus_core::{Node, TrashItem, User, Version};

/// An error the server answered, with its stable code.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.detail, self.code)
    }
}

impl std::error::Error for ApiError {}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Session {
    pub upload_id: String,
    pub missing: Vec<u64>,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Node>,
    next_cursor: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_string(), token }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> anyhow::Result<T> {
        let r = self.checked(req).await?;
        if r.status() == StatusCode::NO_CONTENT {
            return Ok(serde_json::from_value(Value::Null)?);
        }
        Ok(r.json().await?)
    }

    async fn checked(&self, req: RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let r = req.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Err(ApiError {
            status,
            code: body["code"].as_str().unwrap_or("error").to_string(),
            detail: body["detail"].as_str().unwrap_or("the server refused").to_string(),
        }
        .into())
    }

    pub async fn login(&self, login: &str, password: &str) -> anyhow::Result<(String, User)> {
        let v: Value = self
            .send(self.req(Method::POST, "/auth/login").json(&json!({"login": login, "password": password})))
            .await?;
        let token = v["token"].as_str().context("no token in the answer")?.to_string();
        Ok((token, serde_json::from_value(v["user"].clone())?))
    }

    pub async fn logout(&self) -> anyhow::Result<()> {
        self.checked(self.req(Method::POST, "/auth/logout")).await.map(drop)
    }

    pub async fn me(&self) -> anyhow::Result<User> {
        self.send(self.req(Method::GET, "/me")).await
    }

    /// Every child of a folder, page after page.
    pub async fn children(&self, folder: &stratus_core::NodeId) -> anyhow::Result<Vec<Node>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req =
                self.req(Method::GET, &format!("/nodes/{folder}/children")).query(&[("limit", "1000")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page: Page = self.send(req).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(items),
            }
        }
    }

    /// The node at `path`, or `None`.
    pub async fn by_path(&self, path: &str) -> anyhow::Result<Option<Node>> {
        match self.send(self.req(Method::GET, "/nodes/by-path").query(&[("path", path)])).await {
            Ok(node) => Ok(Some(node)),
            Err(err) if err.downcast_ref::<ApiError>().is_some_and(|e| e.status == 404) => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub async fn at(&self, path: &str) -> anyhow::Result<Node> {
        match self.by_path(path).await? {
            Some(node) => Ok(node),
            None => bail!("{path}: no such file or folder"),
        }
    }

    pub async fn mkdir(&self, parent: &stratus_core::NodeId, name: &str) -> anyhow::Result<Node> {
        self.send(
            self.req(Method::POST, &format!("/nodes/{parent}/children"))
                .json(&json!({"name": name, "kind": "folder"})),
        )
        .await
    }

    /// The folder at `path`, created with its parents when missing.
    pub async fn ensure_dir(&self, path: &str) -> anyhow::Result<Node> {
        let mut node = self.at("/").await?;
        for name in path.split('/').filter(|s| !s.is_empty()) {
            let children = self.children(&node.id).await?;
            node = match children.into_iter().find(|c| c.name == name) {
                Some(c) if c.is_folder() => c,
                Some(_) => bail!("{name} exists and is not a folder"),
                None => self.mkdir(&node.id, name).await?,
            };
        }
        Ok(node)
    }

    pub async fn patch(&self, id: &stratus_core::NodeId, body: Value) -> anyhow::Result<Node> {
        self.send(self.req(Method::PATCH, &format!("/nodes/{id}")).json(&body)).await
    }

    pub async fn copy(
        &self,
        id: &stratus_core::NodeId,
        parent: &stratus_core::NodeId,
        name: &str,
    ) -> anyhow::Result<Node> {
        self.send(
            self.req(Method::POST, &format!("/nodes/{id}/copy"))
                .json(&json!({"parent_id": parent, "name": name})),
        )
        .await
    }

    pub async fn delete(&self, id: &stratus_core::NodeId) -> anyhow::Result<()> {
        self.checked(self.req(Method::DELETE, &format!("/nodes/{id}"))).await.map(drop)
    }

    pub async fn trash(&self) -> anyhow::Result<Vec<TrashItem>> {
        let v: Value = self.send(self.req(Method::GET, "/trash")).await?;
        Ok(serde_json::from_value(v["items"].clone())?)
    }

    pub async fn restore(&self, id: &str) -> anyhow::Result<Node> {
        self.send(self.req(Method::POST, &format!("/trash/{id}/restore"))).await
    }

    pub async fn empty_trash(&self) -> anyhow::Result<()> {
        self.checked(self.req(Method::DELETE, "/trash")).await.map(drop)
    }

    pub async fn share(&self, id: &stratus_core::NodeId, user: &str, role: &str) -> anyhow::Result<Value> {
        self.send(
            self.req(Method::POST, &format!("/nodes/{id}/shares")).json(&json!({"user": user, "role": role})),
        )
        .await
    }

    pub async fn link(&self, id: &stratus_core::NodeId, options: Value) -> anyhow::Result<Value> {
        self.send(self.req(Method::POST, &format!("/nodes/{id}/links")).json(&options)).await
    }

    pub async fn versions(&self, id: &stratus_core::NodeId) -> anyhow::Result<Vec<Version>> {
        let v: Value = self.send(self.req(Method::GET, &format!("/nodes/{id}/versions"))).await?;
        Ok(serde_json::from_value(v["items"].clone())?)
    }

    pub async fn start_upload(
        &self,
        parent: &stratus_core::NodeId,
        name: &str,
        size: u64,
        blocks: &[String],
        policy: &str,
    ) -> anyhow::Result<Session> {
        let body =
            json!({"parent_id": parent, "name": name, "size": size, "blocks": blocks, "on_conflict": policy});
        self.send(self.req(Method::POST, "/uploads").json(&body)).await
    }

    /// A session still open on the server, or `None`.
    pub async fn upload_state(&self, id: &str) -> anyhow::Result<Option<Session>> {
        match self.send(self.req(Method::GET, &format!("/uploads/{id}"))).await {
            Ok(s) => Ok(Some(s)),
            Err(err) if err.downcast_ref::<ApiError>().is_some_and(|e| e.status == 404) => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub async fn put_block(&self, id: &str, index: u64, data: Bytes) -> anyhow::Result<()> {
        self.checked(self.req(Method::PUT, &format!("/uploads/{id}/blocks/{index}")).body(data))
            .await
            .map(drop)
    }

    pub async fn commit(&self, id: &str) -> anyhow::Result<Node> {
        self.send(self.req(Method::POST, &format!("/uploads/{id}/commit"))).await
    }

    /// Uploads many files into `parent` in one request (`(relative path, bytes)` each), which
    /// the server commits together: all of them, or none.
    pub async fn upload_files(
        &self,
        parent: &stratus_core::NodeId,
        policy: &str,
        files: Vec<(String, Vec<u8>)>,
    ) -> anyhow::Result<Vec<Node>> {
        let count = files.len();
        let form = files.into_iter().fold(reqwest::multipart::Form::new(), |form, (path, bytes)| {
            form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(path))
        });
        let req =
            self.req(Method::POST, &format!("/nodes/{parent}/files?on_conflict={policy}")).multipart(form);
        if count == 1 {
            return Ok(vec![self.send(req).await?]);
        }
        Ok(self.send::<Page>(req).await?.items)
    }

    /// The file's bytes from `from` on.
    pub async fn download(&self, id: &stratus_core::NodeId, from: u64) -> anyhow::Result<reqwest::Response> {
        let mut req = self.req(Method::GET, &format!("/nodes/{id}/content"));
        if from > 0 {
            req = req.header("range", format!("bytes={from}-"));
        }
        self.checked(req).await
    }
}
