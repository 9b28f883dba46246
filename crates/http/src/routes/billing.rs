//! `/api/v1/plans` and `/api/v1/billing/*`: plans, checkout through Paystack, its webhook.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect},
};
use serde::{Deserialize, Serialize};
use stratus_core::Payment;
use stratus_service::{BillingOverview, Checkout, Plans, Stratus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, ClientIp, Json, Path, Query},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(plans))
        .routes(routes!(billing))
        .routes(routes!(checkout))
        .routes(routes!(verify))
        .routes(routes!(callback))
        .routes(routes!(webhook))
}

/// The plans: free 1 GB, and 10 to 100 GB in 1 GB steps at a price per GB per month.
#[utoipa::path(get, path = "/plans", tag = "billing", responses((status = 200, body = Plans)))]
async fn plans(State(s): State<Stratus>) -> Json<Plans> {
    Json(s.plans())
}

/// The caller's plan, quota and payment history.
#[utoipa::path(get, path = "/billing", tag = "billing",
    responses((status = 200, body = BillingOverview)), security(("bearer" = [])))]
async fn billing(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<BillingOverview>> {
    Ok(Json(s.billing(&c).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CheckoutRequest {
    /// The plan's size: 1 (free) or a whole number from 10 to 100.
    gb: f64,
}

/// Change plan. A smaller plan applies at once (409 `quota_below_usage` if more is stored);
/// a larger one answers `pending` with Paystack's `authorization_url` to pay at.
#[utoipa::path(post, path = "/billing/checkout", tag = "billing", request_body = CheckoutRequest,
    responses((status = 200, body = Checkout), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem)), security(("bearer" = [])))]
async fn checkout(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Json(r): Json<CheckoutRequest>,
) -> ApiResult<Json<Checkout>> {
    Ok(Json(s.checkout(&c, r.gb).await?))
}

/// Ask Paystack about a payment of the caller's and apply it if it was paid.
#[utoipa::path(get, path = "/billing/verify/{reference}", tag = "billing", params(("reference" = String, Path)),
    responses((status = 200, body = Payment), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn verify(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(reference): Path<String>,
) -> ApiResult<Json<Payment>> {
    Ok(Json(s.verify_payment_for(&c, &reference).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    reference: String,
}

/// Where Paystack sends the payer back: verifies the payment, then redirects to the plan page.
#[utoipa::path(get, path = "/billing/paystack/callback", tag = "billing", params(CallbackQuery),
    responses((status = 303), (status = 404, body = Problem)))]
async fn callback(State(s): State<Stratus>, Query(q): Query<CallbackQuery>) -> ApiResult<impl IntoResponse> {
    let payment = s.verify_payment(&q.reference).await?;
    const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');
    let reference = percent_encoding::utf8_percent_encode(&payment.reference, QUERY);
    Ok(Redirect::to(&format!("/plan?reference={reference}&status={}", payment.status)))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// Whether the event changed something (a `charge.success` for a pending payment).
    applied: bool,
}

/// Paystack's webhook: `x-paystack-signature` is the hex HMAC-SHA512 of the raw body keyed
/// with the secret key. Forged (400 `invalid_signature`), replayed (409
/// `payment_already_settled`) or mismatched (422 `amount_mismatch`) events change nothing.
#[utoipa::path(post, path = "/billing/paystack/webhook", tag = "billing", request_body = String,
    responses((status = 200, body = WebhookAnswer), (status = 400, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn webhook(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<WebhookAnswer>)> {
    let signature = headers.get("x-paystack-signature").and_then(|v| v.to_str().ok());
    let applied = s.paystack_webhook(&body, signature, ip).await?;
    Ok((StatusCode::OK, Json(WebhookAnswer { applied })))
}
