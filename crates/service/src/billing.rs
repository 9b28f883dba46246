//! Plans and payments through Paystack.
//!
//! Every account starts on the free 1 GB plan. Paid plans are any whole number of GB from 10
//! to 100, priced per GB per month. A downgrade applies at once (unless more is stored than the
//! new size); an upgrade initialises a Paystack transaction and applies when Paystack confirms
//! it — by the signed webhook, or by verifying the reference when the payer comes back.
//! Settling is idempotent on the reference, and the amount paid must be the amount asked.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use stratus_core::{Payment, Quota, User};
use stratus_meta::Settled;
use utoipa::ToSchema;

use crate::{Caller, Result, ServiceError, Stratus, security::Who};

pub const FREE_GB: u64 = 1;
pub const MIN_PAID_GB: u64 = 10;
pub const MAX_PAID_GB: u64 = 100;

#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// Paystack's secret key; payments are off without one.
    pub paystack_secret_key: Option<String>,
    /// Paystack's API (`https://api.paystack.co`), configurable for tests and proxies.
    pub paystack_base_url: String,
    pub currency: String,
    /// Price of 1 GB for a month, in the currency's smallest unit (kobo, cents).
    pub price_per_gb_month: u64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            paystack_secret_key: None,
            paystack_base_url: "https://api.paystack.co".into(),
            currency: "NGN".into(),
            price_per_gb_month: 10_000,
        }
    }
}

/// What can be bought.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plans {
    pub free_gb: u64,
    pub min_gb: u64,
    pub max_gb: u64,
    pub step_gb: u64,
    pub currency: String,
    /// In the currency's smallest unit.
    pub price_per_gb_month: u64,
    /// Whether this server takes payments (a Paystack key is configured).
    pub payments_enabled: bool,
}

/// The outcome of asking for a plan: applied now (downgrades), or waiting for payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Checkout {
    /// `applied` or `pending` (pay at `authorization_url`).
    pub status: String,
    pub gb: u64,
    pub payment: Option<Payment>,
    /// Where to send the payer (Paystack's checkout page).
    pub authorization_url: Option<String>,
    pub quota: Quota,
}

/// The caller's plan and payment history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingOverview {
    pub plan_gb: u64,
    pub quota: Quota,
    pub payments: Vec<Payment>,
}

/// The plan sizes one may ask for: the free plan, or a whole number of GB from 10 to 100.
pub(crate) fn valid_plan(gb: u64) -> Result<()> {
    if gb == FREE_GB || (MIN_PAID_GB..=MAX_PAID_GB).contains(&gb) {
        return Ok(());
    }
    Err(invalid_plan())
}

fn invalid_plan() -> ServiceError {
    ServiceError::invalid(
        "invalid_plan",
        format!("a plan is {FREE_GB} GB (free) or a whole number of GB from {MIN_PAID_GB} to {MAX_PAID_GB}"),
    )
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: bool,
    #[serde(default)]
    message: String,
    data: Option<T>,
}

#[derive(Deserialize)]
struct Initialized {
    authorization_url: String,
}

/// A transaction as Paystack describes it (verify responses and webhook events).
#[derive(Deserialize)]
struct Transaction {
    reference: String,
    status: String,
    amount: u64,
    currency: String,
}

#[derive(Deserialize)]
struct Event {
    event: String,
    data: Transaction,
}

impl Stratus {
    pub fn plans(&self) -> Plans {
        let b = &self.0.settings.billing;
        Plans {
            free_gb: FREE_GB,
            min_gb: MIN_PAID_GB,
            max_gb: MAX_PAID_GB,
            step_gb: 1,
            currency: b.currency.clone(),
            price_per_gb_month: b.price_per_gb_month,
            payments_enabled: b.paystack_secret_key.is_some(),
        }
    }

    pub async fn billing(&self, caller: &Caller) -> Result<BillingOverview> {
        let user = self.me(caller).await?;
        let payments = self.db().payments(caller.user()).await?;
        Ok(BillingOverview { plan_gb: user.plan_gb, quota: user.quota, payments })
    }

    /// Moves the caller to a plan of `gb` GB: at once for a smaller plan, after payment for a
    /// larger one.
    pub async fn checkout(&self, caller: &Caller, gb: f64) -> Result<Checkout> {
        let whole = (gb.fract() == 0.0 && (0.0..=1e6).contains(&gb)).then_some(gb as u64);
        let result = match whole {
            Some(gb) => self.change_plan(caller, gb).await,
            None => Err(invalid_plan()),
        };
        let (success, detail) = match &result {
            Ok(c) => (true, format!("{gb} GB: {}", c.status)),
            Err(e) => (false, format!("{gb} GB: {}", e.code())),
        };
        self.audit(&caller.into(), "plan_checkout", None, success, Some(detail)).await;
        result
    }

    async fn change_plan(&self, caller: &Caller, gb: u64) -> Result<Checkout> {
        valid_plan(gb)?;
        let user = self.me(caller).await?;
        if gb == user.plan_gb {
            return Err(ServiceError::conflict(
                "plan_unchanged",
                format!("you are on the {gb} GB plan already"),
            ));
        }
        if gb < user.plan_gb {
            self.db().set_plan(caller.user(), (gb > FREE_GB).then_some(gb), gb << 30).await?;
            let quota = self.me(caller).await?.quota;
            return Ok(Checkout {
                status: "applied".into(),
                gb,
                payment: None,
                authorization_url: None,
                quota,
            });
        }
        let payment = self.initialize_payment(&user, gb).await?;
        Ok(Checkout {
            status: "pending".into(),
            gb,
            authorization_url: payment.authorization_url.clone(),
            payment: Some(payment),
            quota: user.quota,
        })
    }

    async fn initialize_payment(&self, user: &User, gb: u64) -> Result<Payment> {
        let b = &self.0.settings.billing;
        let secret = b.paystack_secret_key.as_deref().ok_or_else(|| {
            ServiceError::conflict(
                "payments_disabled",
                "this server does not take payments; ask its administrator",
            )
        })?;
        let amount = gb * b.price_per_gb_month;
        let reference = format!("stratus_{}", uuid::Uuid::now_v7().simple());
        let body = serde_json::json!({
            "email": user.email,
            "amount": amount.to_string(),
            "currency": b.currency,
            "reference": reference,
            "callback_url": format!("{}/api/v1/billing/paystack/callback", self.public_url()),
            "metadata": { "user_id": user.id, "plan_gb": gb },
        });
        let url = format!("{}/transaction/initialize", b.paystack_base_url.trim_end_matches('/'));
        let response = self.http().post(url).bearer_auth(secret).json(&body).send().await;
        let init: Initialized = paystack_data(response).await?;
        let payment = Payment {
            reference,
            user_id: user.id,
            gb,
            amount,
            currency: b.currency.clone(),
            status: "pending".into(),
            authorization_url: Some(init.authorization_url),
            created_at: self.now(),
            paid_at: None,
        };
        self.db().insert_payment(&payment).await?;
        Ok(payment)
    }

    /// [`verify_payment`](Self::verify_payment) for the payment's owner or an administrator.
    pub async fn verify_payment_for(&self, caller: &Caller, reference: &str) -> Result<Payment> {
        let payment = self.db().payment(reference).await?.ok_or(ServiceError::NotFound)?;
        if payment.user_id != caller.user() {
            self.require_admin(caller).await.map_err(|_| ServiceError::NotFound)?;
        }
        self.verify_payment(reference).await
    }

    /// Asks Paystack about a payment and settles it if it was paid (the payer came back, or
    /// a client checks). Anyone may ask: only what Paystack confirms is applied.
    pub async fn verify_payment(&self, reference: &str) -> Result<Payment> {
        let b = &self.0.settings.billing;
        let secret = b.paystack_secret_key.as_deref().ok_or(ServiceError::NotFound)?;
        let payment = self.db().payment(reference).await?.ok_or(ServiceError::NotFound)?;
        if payment.status != "pending" {
            return Ok(payment);
        }
        let url = format!(
            "{}/transaction/verify/{}",
            b.paystack_base_url.trim_end_matches('/'),
            percent_encoding::utf8_percent_encode(reference, percent_encoding::NON_ALPHANUMERIC)
        );
        let response = self.http().get(url).bearer_auth(secret).send().await;
        let tx: Transaction = paystack_data(response).await?;
        let who = Who { id: Some(payment.user_id), name: None, ip: None };
        match tx.status.as_str() {
            "success" => self.settle(&who, &payment, &tx).await,
            // `abandoned` is Paystack's word for "not paid yet": the payer may still pay.
            "failed" | "reversed" => {
                self.db().fail_payment(reference).await?;
                self.audit(&who, "payment_failed", Some(reference.into()), false, Some(tx.status)).await;
                Ok(self.db().payment(reference).await?.ok_or(ServiceError::NotFound)?)
            }
            _ => Ok(payment),
        }
    }

    /// Paystack's webhook: `signature` must be the hex HMAC-SHA512 of the raw `body` keyed
    /// with the secret key. A `charge.success` for a pending payment of the right amount
    /// applies its plan; anything forged, replayed or mismatched changes nothing.
    pub async fn paystack_webhook(
        &self,
        body: &[u8],
        signature: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<bool> {
        let who = Who::named("paystack", ip);
        let result = self.webhook(&who, body, signature).await;
        if let Err(err) = &result {
            self.audit(&who, "payment_webhook_rejected", None, false, Some(err.code().into())).await;
        }
        result
    }

    async fn webhook(&self, who: &Who, body: &[u8], signature: Option<&str>) -> Result<bool> {
        let secret = self.0.settings.billing.paystack_secret_key.as_deref().ok_or_else(|| {
            ServiceError::conflict("payments_disabled", "this server does not take payments")
        })?;
        let given = signature.and_then(|s| hex::decode(s.trim()).ok());
        let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).map_err(ServiceError::internal)?;
        mac.update(body);
        // `verify_slice` compares in constant time.
        if given.is_none_or(|g| mac.verify_slice(&g).is_err()) {
            return Err(ServiceError::bad_request(
                "invalid_signature",
                "the webhook signature does not match",
            ));
        }
        let event: Event = serde_json::from_slice(body)
            .map_err(|e| ServiceError::bad_request("invalid_event", format!("not a Paystack event: {e}")))?;
        if event.event != "charge.success" || event.data.status != "success" {
            return Ok(false);
        }
        let payment = self
            .db()
            .payment(&event.data.reference)
            .await?
            .ok_or_else(|| ServiceError::invalid("unknown_payment", "no payment has this reference"))?;
        self.settle(who, &payment, &event.data).await?;
        Ok(true)
    }

    /// Applies a payment Paystack reports successful, if it is pending and the amounts agree.
    async fn settle(&self, who: &Who, payment: &Payment, tx: &Transaction) -> Result<Payment> {
        if tx.amount != payment.amount || !tx.currency.eq_ignore_ascii_case(&payment.currency) {
            return Err(ServiceError::invalid(
                "amount_mismatch",
                format!(
                    "paid {} {} where {} {} was asked",
                    tx.amount, tx.currency, payment.amount, payment.currency
                ),
            ));
        }
        match self.db().settle_payment(&payment.reference, self.now()).await? {
            Settled::Applied(paid) => {
                let detail = format!("{} GB, {} {}", paid.gb, paid.amount, paid.currency);
                let who = Who { id: Some(paid.user_id), ..who.clone() };
                self.audit(&who, "payment_settled", Some(paid.reference.clone()), true, Some(detail)).await;
                Ok(paid)
            }
            Settled::AlreadySettled(_) => Err(ServiceError::conflict(
                "payment_already_settled",
                "this payment was settled before; nothing changed",
            )),
            Settled::Unknown => {
                Err(ServiceError::invalid("unknown_payment", "no payment has this reference"))
            }
        }
    }

    /// One HTTP client for calls to Paystack and the identity provider.
    pub(crate) fn http(&self) -> &reqwest::Client {
        self.0.http.get_or_init(|| {
            reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().unwrap_or_default()
        })
    }
}

/// The `data` of a successful Paystack answer, or the reason it failed.
async fn paystack_data<T: serde::de::DeserializeOwned>(
    response: reqwest::Result<reqwest::Response>,
) -> Result<T> {
    let failed = |m: String| ServiceError::upstream("payment_provider_error", format!("Paystack: {m}"));
    let response = response.map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let envelope: Envelope<T> = response.json().await.map_err(|e| failed(format!("{status}: {e}")))?;
    match envelope.data {
        Some(data) if envelope.status => Ok(data),
        _ => Err(failed(format!("{status}: {}", envelope.message))),
    }
}
