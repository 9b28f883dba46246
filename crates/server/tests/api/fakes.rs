//! Real peers on loopback for the account tests: an SMTP sink (`aiosmtpd` from PyPI), a small
//! OpenID Connect issuer (discovery, JWKS, authorize, token with PKCE) and a fake of Paystack's
//! documented transaction API. Each listens on a port of its own for one test.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

use crate::helpers::eventually;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// Waits for a mail to `to` about `subject` among the files of `dir`, and returns it decoded.
pub async fn wait_for_mail(dir: &Path, to: &str, subject: &str) -> String {
    let mut found = None;
    eventually(&format!("a mail to {to} about {subject:?} in {}", dir.display()), || {
        found = take_mail(dir, to, subject);
        std::future::ready(found.is_some())
    })
    .await;
    found.unwrap_or_default()
}

/// The first mail to `to` about `subject` in `dir`, removed from it.
fn take_mail(dir: &Path, to: &str, subject: &str) -> Option<String> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let text = decode_quoted_printable(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        if text.contains(&format!("To: {to}")) && text.contains(subject) {
            let _ = std::fs::remove_file(entry.path());
            return Some(text);
        }
    }
    None
}

/// Every mail file in `dir` (to check what was not sent).
pub fn mails_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| decode_quoted_printable(&std::fs::read_to_string(e.path()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token of the `…?token=` link in a mail.
pub fn link_token(mail: &str, path: &str) -> String {
    let start = mail.find(&format!("{path}?token=")).unwrap_or_else(|| panic!("no {path} link in {mail}"));
    let rest = &mail[start + path.len() + 7..];
    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// `python3 -m aiosmtpd` on a free loopback port, delivering into a Maildir.
pub struct SmtpSink {
    pub url: String,
    pub maildir: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = dir.path().join("mail");
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .spawn()
            .expect("aiosmtpd is needed (pip install aiosmtpd; the test command installs it)");
        // Dropping the sink stops aiosmtpd, also when it never answers.
        let sink =
            Self { url: format!("smtp://127.0.0.1:{port}"), maildir: maildir.join("new"), child, _dir: dir };
        eventually("aiosmtpd answers", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        sink
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who the issuer says logs in next, and how it misbehaves.
#[derive(Clone, Debug)]
pub struct Identity {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub preferred_username: String,
    /// Sign with a key the issuer does not publish.
    pub forge: bool,
    /// Put another nonce in the ID token.
    pub wrong_nonce: bool,
}

impl Identity {
    pub fn new(sub: &str, email: &str) -> Self {
        Self {
            sub: sub.into(),
            email: email.into(),
            email_verified: true,
            name: format!("User {sub}"),
            preferred_username: email.split('@').next().unwrap().into(),
            forge: false,
            wrong_nonce: false,
        }
    }
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    identity: Identity,
}

#[derive(Clone)]
struct IssuerState {
    url: Arc<Mutex<String>>,
    next: Arc<Mutex<Option<Identity>>>,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

pub const CLIENT_ID: &str = "stratus-test-client";
pub const CLIENT_SECRET: &str = "stratus-test-secret";
const KEY: &[u8] = include_bytes!("fixtures/oidc-test-key.pem");
const FORGER_KEY: &[u8] = include_bytes!("fixtures/oidc-forger-key.pem");
const KEY_N: &str = "joFLOk5Orl8NxrdRKaBXLM2s92MSPXVNV-1LcaccjN_Kzx3qfzN0CDGjyvzX5uEb5MW-X-bJUgpC0DEMRB_41TmgPXNJoTKv1fyJ0s7R2UZPPd770RAVBImAXqFvoyfX9TU4W1ZbzByxQR01SLeGjAV2hRKDGSRRWFsWKQaJf4tThRtUZNFikdrhVE9M2tDVjz8204exT0ko41ZVFAxNfUYArkSE4XyMQM9-fQszIb7YRmGt7yn-9oqYI9Em-Q-2LAhL-NMJVIn7IVYBchdKDJDPLAGma5loFoqe-VX-sK0csVlKpdfO1fIxR-V2HpP7IUoGwEG0wA_6ywsWoNnF1w";

pub struct Issuer {
    pub url: String,
    state: IssuerState,
}

impl Issuer {
    pub async fn start() -> Self {
        let state = IssuerState { url: Arc::default(), next: Arc::default(), grants: Arc::default() };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        let url = serve(router).await;
        *state.url.lock().unwrap() = url.clone();
        Self { url, state }
    }

    /// The identity the next authorization logs in.
    pub fn log_in_as(&self, identity: Identity) {
        *self.state.next.lock().unwrap() = Some(identity);
    }
}

async fn discovery(State(s): State<IssuerState>) -> Json<Value> {
    let url = s.url.lock().unwrap().clone();
    Json(json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "jwks_uri": format!("{url}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    Json(
        json!({"keys": [{"kty": "RSA", "kid": "test-key", "alg": "RS256", "use": "sig", "n": KEY_N, "e": "AQAB"}]}),
    )
}

/// Consents at once: redirects back with a code bound to the nonce, PKCE challenge and
/// redirect URI it was asked with.
async fn authorize(
    State(s): State<IssuerState>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    if !ok {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let identity = s.next.lock().unwrap().clone().expect("the test names who logs in");
    let code = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let redirect_uri = q["redirect_uri"].clone();
    s.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: q["nonce"].clone(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: redirect_uri.clone(),
            identity,
        },
    );
    let state = percent_encoding::utf8_percent_encode(&q["state"], percent_encoding::NON_ALPHANUMERIC);
    Redirect::to(&format!("{redirect_uri}?code={code}&state={state}")).into_response()
}

/// Redeems a code once: client credentials, redirect URI and PKCE verifier must match.
async fn token(State(s): State<IssuerState>, Form(f): Form<HashMap<String, String>>) -> impl IntoResponse {
    let Some(grant) = f.get("code").and_then(|c| s.grants.lock().unwrap().remove(c)) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let pkce_ok = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == grant.challenge;
    let client_ok = f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !pkce_ok || !client_ok || f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let id = &grant.identity;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": s.url.lock().unwrap().clone(), "aud": CLIENT_ID, "sub": id.sub, "iat": now, "exp": now + 300,
        "nonce": if id.wrong_nonce { "another-nonce".to_string() } else { grant.nonce.clone() },
        "email": id.email, "email_verified": id.email_verified, "name": id.name,
        "preferred_username": id.preferred_username,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(if id.forge { FORGER_KEY } else { KEY }).unwrap();
    let id_token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    Json(json!({"access_token": "unused", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}

/// A fake of Paystack's transaction API (initialize, verify), and a payer.
pub struct Paystack {
    pub url: String,
    pub secret: String,
    state: PaystackState,
}

#[derive(Clone)]
struct PaystackState {
    secret: String,
    url: Arc<Mutex<String>>,
    transactions: Arc<Mutex<HashMap<String, Value>>>,
}

impl Paystack {
    pub async fn start() -> Self {
        let secret = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
        let state =
            PaystackState { secret: secret.clone(), url: Arc::default(), transactions: Arc::default() };
        let router = Router::new()
            .route("/transaction/initialize", post(initialize))
            .route("/transaction/verify/{reference}", get(verify))
            .with_state(state.clone());
        let url = serve(router).await;
        *state.url.lock().unwrap() = url.clone();
        Self { url, secret, state }
    }

    /// The transaction as the API describes it.
    pub fn transaction(&self, reference: &str) -> Value {
        self.state.transactions.lock().unwrap()[reference].clone()
    }

    /// The payer pays (or the card fails).
    pub fn settle(&self, reference: &str, status: &str) {
        let mut all = self.state.transactions.lock().unwrap();
        let tx = all.get_mut(reference).unwrap();
        tx["status"] = json!(status);
        tx["paid_at"] = json!(chrono::Utc::now().to_rfc3339());
    }

    /// A `charge.success` event for the transaction, with `amount` overridden if given,
    /// and its signature: the hex HMAC-SHA512 of the body keyed with the secret key.
    pub fn event(&self, reference: &str, amount: Option<u64>) -> (String, String) {
        let mut data = self.transaction(reference);
        if let Some(amount) = amount {
            data["amount"] = json!(amount);
        }
        let body = json!({"event": "charge.success", "data": data}).to_string();
        (body.clone(), sign(&self.secret, &body))
    }
}

pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn authorized(s: &PaystackState, headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", s.secret))
}

async fn initialize(
    State(s): State<PaystackState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    if !authorized(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"status": false, "message": "Invalid key"})));
    }
    // Paystack takes the amount in the smallest unit, as a string or a number.
    let amount = match &body["amount"] {
        Value::String(s) => s.parse::<u64>().ok(),
        other => other.as_u64(),
    };
    let (Some(amount), Some(email), Some(reference)) =
        (amount, body["email"].as_str(), body["reference"].as_str())
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": false, "message": "amount, email and reference are required"})),
        );
    };
    let access_code = uuid::Uuid::new_v4().simple().to_string();
    let url = s.url.lock().unwrap().clone();
    let mut transactions = s.transactions.lock().unwrap();
    let id = 1000 + transactions.len();
    transactions.insert(
        reference.to_string(),
        json!({
            "id": id, "status": "abandoned", "reference": reference,
            "amount": amount, "currency": body["currency"].as_str().unwrap_or("NGN"), "paid_at": null,
            "customer": {"email": email}, "metadata": body["metadata"].clone(),
            "callback_url": body["callback_url"].clone(),
        }),
    );
    drop(transactions);
    (
        StatusCode::OK,
        Json(json!({"status": true, "message": "Authorization URL created", "data": {
            "authorization_url": format!("{url}/checkout/{access_code}"), "access_code": access_code, "reference": reference,
        }})),
    )
}

async fn verify(
    State(s): State<PaystackState>,
    headers: HeaderMap,
    axum::extract::Path(reference): axum::extract::Path<String>,
) -> impl IntoResponse {
    if !authorized(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"status": false, "message": "Invalid key"})));
    }
    match s.transactions.lock().unwrap().get(&reference) {
        Some(tx) => {
            (StatusCode::OK, Json(json!({"status": true, "message": "Verification successful", "data": tx})))
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": false, "message": "Transaction reference not found"})),
        ),
    }
}
