//! Login Flow v2, how Nextcloud's desktop and mobile apps sign in: the app starts a flow and
//! opens its login URL in a browser; the user, signed in there, grants access; the app's poll
//! then receives an app password of its own (revocable like any app token). Both tokens are
//! random and stored hashed; a flow lives 20 minutes and is taken once.

use crate::{
    Caller, Result, ServiceError, Stratus,
    accounts::{digest, new_secret},
};

/// How long an app may wait for its user to grant access.
const FLOW_MINUTES: i64 = 20;

/// A flow started: the app polls with `poll` and sends its user to the login URL with `login`.
#[derive(Debug, Clone)]
pub struct LoginFlow {
    pub poll: String,
    pub login: String,
}

/// What the app receives once access is granted.
#[derive(Debug, Clone)]
pub struct GrantedLogin {
    pub username: String,
    pub app_password: String,
}

impl Stratus {
    /// Starts a flow for the app `client` (its User-Agent, shown to the user who grants it).
    pub async fn start_login_flow(&self, client: &str) -> Result<LoginFlow> {
        let client: String = client.chars().filter(|c| !c.is_control()).take(200).collect();
        let client = if client.trim().is_empty() { "an app".to_string() } else { client };
        let flow = LoginFlow { poll: new_secret(), login: new_secret() };
        let now = self.now();
        let until = now + chrono::Duration::minutes(FLOW_MINUTES);
        self.db().insert_login_flow(&digest(&flow.poll), &digest(&flow.login), &client, now, until).await?;
        Ok(flow)
    }

    /// The app asking for access through this login URL, for a signed-in caller to decide.
    pub async fn login_flow_client(&self, _caller: &Caller, login: &str) -> Result<String> {
        self.db().login_flow_client(&digest(login), self.now()).await?.ok_or(ServiceError::NotFound)
    }

    /// The caller grants the flow access to their drive.
    pub async fn grant_login_flow(&self, caller: &Caller, login: &str) -> Result<()> {
        match self.db().grant_login_flow(&digest(login), caller.user(), self.now()).await? {
            true => Ok(()),
            false => Err(ServiceError::NotFound),
        }
    }

    /// The app's poll: `None` until the flow is granted; then, once, an app password.
    pub async fn poll_login_flow(&self, poll: &str) -> Result<Option<GrantedLogin>> {
        let Some((user, client)) = self.db().take_login_flow(&digest(poll), self.now()).await? else {
            return Ok(None);
        };
        let caller = self.caller_for(user).await?;
        let token = self.create_app_token(&caller, &token_name(&client)).await?;
        Ok(Some(GrantedLogin { username: caller.username().to_string(), app_password: token.secret }))
    }
}

/// The app token's name: the app, as its User-Agent says, within the names' 100 bytes.
fn token_name(client: &str) -> String {
    let mut name = String::from("Login flow: ");
    for c in client.chars() {
        if name.len() + c.len_utf8() > 100 {
            break;
        }
        name.push(c);
    }
    name
}
