//! OpenID Connect login (Google or any issuer): discovery, the authorization-code flow with
//! PKCE, state and nonce, and the ID token's signature checked against the issuer's JWKS.
//!
//! A login's state, nonce and PKCE verifier wait in the database (any node may receive the
//! callback); the state is also bound to the browser by a cookie the adapter sets, so a
//! callback started elsewhere (login CSRF) fails. The first login creates an account, or
//! links to the account with the same email when both sides have verified it.

use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stratus_core::UserId;
use stratus_meta::OidcState;
use tokio::sync::RwLock;

use crate::{
    Registration, Result, ServiceError, Session, Stratus,
    accounts::{digest, new_secret},
    security::Who,
};

#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer URL (`https://accounts.google.com`); its discovery document is at
    /// `/.well-known/openid-configuration` below it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// What the login button says ("Google").
    pub name: String,
}

/// Where to send the browser, and the state to bind to it (a cookie).
#[derive(Debug, Clone)]
pub struct OidcLogin {
    pub authorization_url: String,
    pub state: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The provider's discovery document and keys, fetched on first use and refreshed hourly
/// (keys also when a token names one not seen yet: providers rotate them).
#[derive(Default)]
pub(crate) struct Provider(RwLock<Option<(Discovery, JwkSet, std::time::Instant)>>);

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    email_verified: bool,
    name: Option<String>,
    preferred_username: Option<String>,
}

const LOGIN_TTL: Duration = Duration::minutes(10);

impl Stratus {
    /// The identity provider's name, if OIDC login is configured.
    pub fn oidc_name(&self) -> Option<&str> {
        self.0.settings.oidc.as_ref().map(|o| o.name.as_str())
    }

    fn oidc_settings(&self) -> Result<&OidcSettings> {
        self.0.settings.oidc.as_ref().ok_or(ServiceError::NotFound)
    }

    fn oidc_redirect_uri(&self) -> String {
        format!("{}/api/v1/auth/oidc/callback", self.public_url())
    }

    /// Starts a login: the provider's authorization URL, with a fresh state, nonce and PKCE
    /// challenge. `return_to` (a path on this site) is where the browser ends up.
    pub async fn oidc_login(&self, return_to: Option<&str>) -> Result<OidcLogin> {
        let settings = self.oidc_settings()?;
        let (discovery, _) = self.oidc_provider(false).await?;
        let (state, nonce, verifier) = (random(), random(), random());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let return_to = return_to.filter(|p| is_local_path(p));
        let pending =
            OidcState { nonce: nonce.clone(), verifier, return_to: return_to.unwrap_or("/").into() };
        self.db().insert_oidc_state(&digest(&state), &pending, self.now() + LOGIN_TTL).await?;
        let mut url = reqwest::Url::parse(&discovery.authorization_endpoint).map_err(|e| {
            ServiceError::upstream("oidc_unavailable", format!("bad authorization endpoint: {e}"))
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", &self.oidc_redirect_uri())
            .append_pair("scope", "openid email profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(OidcLogin { authorization_url: url.into(), state })
    }

    /// Finishes a login: checks the state against the browser's, redeems the code, verifies
    /// the ID token, and opens a session for the account (created or linked on first login).
    /// Returns the session and where to send the browser.
    pub async fn oidc_callback(
        &self,
        code: &str,
        state: &str,
        browser_state: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<(Session, String)> {
        let result = self.oidc_finish(code, state, browser_state, ip).await;
        if let Err(err) = &result {
            self.audit(&Who::anonymous(ip), "oidc_login_failed", None, false, Some(err.code().into())).await;
        }
        result
    }

    async fn oidc_finish(
        &self,
        code: &str,
        state: &str,
        browser_state: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<(Session, String)> {
        let settings = self.oidc_settings()?;
        let bad_state = || {
            ServiceError::bad_request(
                "invalid_state",
                "this login is not the one this browser started; start again",
            )
        };
        if state.is_empty() || browser_state != Some(state) {
            return Err(bad_state());
        }
        let pending = self.db().take_oidc_state(&digest(state), self.now()).await?.ok_or_else(bad_state)?;
        let (discovery, _) = self.oidc_provider(false).await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.oidc_redirect_uri()),
            ("client_id", &settings.client_id),
            ("client_secret", &settings.client_secret),
            ("code_verifier", &pending.verifier),
        ];
        let upstream =
            |e: String| ServiceError::upstream("oidc_unavailable", format!("identity provider: {e}"));
        let response = self
            .http()
            .post(&discovery.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| upstream(e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(ServiceError::bad_request(
                "oidc_code_rejected",
                format!("the identity provider refused the code ({status}): {body}"),
            ));
        }
        let tokens: TokenResponse = response.json().await.map_err(|e| upstream(e.to_string()))?;
        let claims = self.verify_id_token(&tokens.id_token, &discovery.issuer, &settings.client_id).await?;
        if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
            return Err(ServiceError::bad_request(
                "invalid_nonce",
                "the ID token was not issued for this login",
            ));
        }
        let user = self.oidc_account(&discovery.issuer, &claims).await?;
        let session = self.open_session(user).await?;
        let who = Who { id: Some(user), name: Some(session.user.username.clone()), ip };
        self.audit(&who, "oidc_login", Some(discovery.issuer.clone()), true, None).await;
        Ok((session, pending.return_to))
    }

    async fn verify_id_token(&self, token: &str, issuer: &str, client_id: &str) -> Result<Claims> {
        let invalid = |m: String| {
            ServiceError::bad_request("invalid_id_token", format!("the ID token is not valid: {m}"))
        };
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(invalid("symmetric signatures are not accepted".into()));
        }
        let (_, mut keys) = self.oidc_provider(false).await?;
        let find = |keys: &JwkSet| match &header.kid {
            Some(kid) => keys.find(kid).cloned(),
            None => keys.keys.first().cloned(),
        };
        if find(&keys).is_none() {
            keys = self.oidc_provider(true).await?.1;
        }
        let jwk =
            find(&keys).ok_or_else(|| invalid("signed with a key the issuer does not publish".into()))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[client_id]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| invalid(e.to_string()))?;
        Ok(data.claims)
    }

    /// The account of this identity: linked before, or linked now to the account with the
    /// same (verified) email, or created.
    async fn oidc_account(&self, issuer: &str, claims: &Claims) -> Result<UserId> {
        if let Some(user) = self.db().oidc_user(issuer, &claims.sub).await? {
            return self.enabled(user).await;
        }
        let email = claims.email.as_deref().map(|e| e.trim().to_lowercase()).ok_or_else(|| {
            ServiceError::invalid("oidc_no_email", "the identity provider did not share an email address")
        })?;
        if let Some(existing) = self.db().user_by_email(&email).await? {
            if !(claims.email_verified && existing.email_verified) {
                return Err(ServiceError::conflict(
                    "email_unverified",
                    "an account with this email exists; log in with its password (and verify its email) to link it",
                ));
            }
            self.db().link_oidc(issuer, &claims.sub, existing.id, true, self.now()).await?;
            return self.enabled(existing.id).await;
        }
        let base =
            claims.preferred_username.as_deref().unwrap_or_else(|| email.split('@').next().unwrap_or("user"));
        let username = self.free_username(base).await?;
        let registration = Registration { username, email, password: new_secret() };
        let user = self.insert_user(registration, false, claims.email_verified).await?;
        if let Some(name) = claims.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
            self.db().set_display_name(user.id, Some(&name)).await?;
        }
        self.db().link_oidc(issuer, &claims.sub, user.id, claims.email_verified, self.now()).await?;
        Ok(user.id)
    }

    async fn enabled(&self, user: UserId) -> Result<UserId> {
        if self.db().user(user).await?.disabled {
            return Err(ServiceError::Forbidden("this account is disabled"));
        }
        Ok(user)
    }

    /// A username like `base` that nobody has.
    async fn free_username(&self, base: &str) -> Result<String> {
        let mut stem: String = base
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
            .skip_while(|c| !c.is_ascii_alphanumeric())
            .take(24)
            .collect();
        while stem.len() < 3 {
            stem.push('0');
        }
        for n in 1..100u32 {
            let candidate = if n == 1 { stem.clone() } else { format!("{stem}-{n}") };
            if !self.db().username_exists(&candidate).await? {
                return Ok(candidate);
            }
        }
        Ok(format!("{stem}-{}", &random()[..6].to_lowercase().replace(['_', '-'], "x")))
    }

    /// The discovery document and keys (`refresh_keys`: fetch the keys again now).
    async fn oidc_provider(&self, refresh_keys: bool) -> Result<(Discovery, JwkSet)> {
        let fresh = |at: &std::time::Instant| at.elapsed() < std::time::Duration::from_secs(3600);
        if !refresh_keys
            && let Some((d, k, at)) = &*self.0.oidc.0.read().await
            && fresh(at)
        {
            return Ok((d.clone(), k.clone()));
        }
        let issuer = self.oidc_settings()?.issuer.trim_end_matches('/').to_string();
        let upstream =
            |e: String| ServiceError::upstream("oidc_unavailable", format!("identity provider: {e}"));
        let get = |url: String| async move {
            let response = self.http().get(&url).send().await.map_err(|e| e.to_string())?;
            response.error_for_status().map_err(|e| e.to_string())
        };
        let discovery: Discovery = get(format!("{issuer}/.well-known/openid-configuration"))
            .await
            .map_err(upstream)?
            .json()
            .await
            .map_err(|e| upstream(e.to_string()))?;
        if discovery.issuer.trim_end_matches('/') != issuer {
            return Err(upstream(format!("the discovery document names issuer {}", discovery.issuer)));
        }
        let keys: JwkSet = get(discovery.jwks_uri.clone())
            .await
            .map_err(upstream)?
            .json()
            .await
            .map_err(|e| upstream(e.to_string()))?;
        *self.0.oidc.0.write().await = Some((discovery.clone(), keys.clone(), std::time::Instant::now()));
        Ok((discovery, keys))
    }
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `email_verified` is a boolean, but some providers send the string `"true"`.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s == "true",
        _ => false,
    })
}

/// Whether `path` stays on this site wherever a browser sends it: an absolute path, with no
/// scheme-relative start (`//host`, `/\\host`), no backslash and no control character —
/// checked after percent-decoding too, since browsers drop a tab or newline and a decoded
/// `/%09/evil.com` is `//evil.com`.
pub(crate) fn is_local_path(path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    [path, decoded.as_ref()].iter().all(|p| {
        let squeezed: String = p.chars().filter(|c| !c.is_control()).collect();
        p.starts_with('/')
            && !p.contains('\\')
            && !p.chars().any(char::is_control)
            && !squeezed.starts_with("//")
    })
}

#[cfg(test)]
mod local_path_tests {
    use super::is_local_path;

    #[test]
    fn only_paths_on_this_site_pass() {
        for ok in ["/", "/files/123", "/s/abc?x=1", "/a%20b"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.com",
            "/%09/evil.com",
            "/%2F/evil.com",
            "/\\evil.com",
            "https://evil.com",
            "/%5Cevil",
            "/\tx",
            "evil",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}
