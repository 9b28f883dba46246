//! Plans and Paystack payments through HTTP, against a local fake of Paystack's API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    fakes::{Paystack, sign},
    helpers::{BLOCKED, TestApp, TestUser, assert_problem, data, dual_test, ok_json},
    lifecycle::audit_actions,
    storage::block_files,
};
use stratus_server::config::VolumeConfig;

const PRICE: u64 = 5_000;

/// The user's plan size and quota.
async fn plan_of(app: &TestApp, user: &TestUser) -> (u64, u64) {
    let me = app.me(user).await;
    (me["plan_gb"].as_u64().unwrap(), me["quota"]["limit"].as_u64().unwrap())
}

dual_test! {
    async fn plans_are_paid_through_paystack(backend) {
        let paystack = Paystack::start().await;
        let (url, secret) = (paystack.url.clone(), paystack.secret.clone());
        let disks = tempfile::tempdir().unwrap();
        let (pool_a, pool_b) = (disks.path().join("a"), disks.path().join("b"));
        let pools = [("A", pool_a.clone()), ("B", pool_b.clone())]
            .map(|(pool, dir)| VolumeConfig { pool: pool.into(), location: dir.display().to_string() });
        let app = TestApp::spawn_with(backend, |c| {
            c.storage.volumes = pools.to_vec();
            c.billing.paystack_base_url = url;
            c.billing.paystack_secret_key = Some(secret);
            c.billing.price_per_gb_month = PRICE;
            c.billing.currency = "NGN".into();
        })
        .await;
        let admin = app.admin("root").await;
        let olu = app.register("olu").await;
        let plans = ok_json(app.anon(Method::GET, "/api/v1/plans").send().await.unwrap()).await;
        assert_eq!(plans, json!({"free_gb": 1, "min_gb": 10, "max_gb": 100, "step_gb": 1, "currency": "NGN",
            "price_per_gb_month": PRICE, "payments_enabled": true}));
        let checkout = |gb: Value| app.req(Method::POST, "/api/v1/billing/checkout", &olu).json(&json!({"gb": gb})).send();
        for bad in [json!(10.5), json!(101), json!(5), json!(0), json!(-10)] {
            assert_problem(checkout(bad).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan").await;
        }
        assert_problem(checkout(json!(1)).await.unwrap(), StatusCode::CONFLICT, "plan_unchanged").await;

        // Upgrade: a pending payment at Paystack for 20 GB × the price.
        let pending = ok_json(checkout(json!(20)).await.unwrap()).await;
        assert_eq!(pending["status"], "pending");
        let reference = pending["payment"]["reference"].as_str().unwrap().to_string();
        assert_eq!(pending["payment"]["amount"], 20 * PRICE);
        assert!(pending["authorization_url"].as_str().unwrap().starts_with(&format!("{}/checkout/", paystack.url)));
        let tx = paystack.transaction(&reference);
        assert_eq!((tx["amount"].as_u64(), tx["customer"]["email"].as_str()), (Some(20 * PRICE), Some("olu@example.com")));
        assert_eq!(tx["callback_url"], format!("{}/api/v1/billing/paystack/callback", app.base));
        assert_eq!(plan_of(&app, &olu).await, (1, 1 << 30));
        // Not paid yet: verifying changes nothing.
        let r = ok_json(app.req(Method::GET, &format!("/api/v1/billing/verify/{reference}"), &olu).send().await.unwrap()).await;
        assert_eq!(r["status"], "pending");

        let webhook = |body: String, signature: Option<String>| {
            let mut r = app.anon(Method::POST, "/api/v1/billing/paystack/webhook").header("content-type", "application/json").body(body);
            if let Some(s) = signature {
                r = r.header("x-paystack-signature", s);
            }
            r.send()
        };
        paystack.settle(&reference, "success");
        let (body, signature) = paystack.event(&reference, None);
        // Forged: no signature, a wrong one, one made with another key, a body changed after signing.
        assert_problem(webhook(body.clone(), None).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_signature").await;
        assert_problem(webhook(body.clone(), Some("00".repeat(64))).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_signature").await;
        assert_problem(webhook(body.clone(), Some(sign("sk_test_other", &body))).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_signature").await;
        let tampered = body.replace(&format!("\"amount\":{}", 20 * PRICE), "\"amount\":1");
        assert_ne!(tampered, body);
        assert_problem(webhook(tampered, Some(signature.clone())).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_signature").await;
        // Signed, but for an amount other than the one asked.
        let (short, short_sig) = paystack.event(&reference, Some(PRICE));
        assert_problem(webhook(short, Some(short_sig)).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "amount_mismatch").await;
        assert_eq!(plan_of(&app, &olu).await, (1, 1 << 30), "nothing changed");

        let r = ok_json(webhook(body.clone(), Some(signature.clone())).await.unwrap()).await;
        assert_eq!(r["applied"], true);
        assert_eq!(plan_of(&app, &olu).await, (20, 20 << 30));
        assert_problem(webhook(body, Some(signature)).await.unwrap(), StatusCode::CONFLICT, "payment_already_settled").await;
        // The paid plan's tier (10–24 GB) stores new blocks in pool B; the free tier used A.
        let before = (block_files(&pool_a).len(), block_files(&pool_b).len());
        app.upload(&olu, &olu.root, "on-b.bin", data(BLOCKED, 77)).await;
        assert_eq!((block_files(&pool_a).len(), block_files(&pool_b).len()), (before.0, before.1 + 1));
        assert_eq!(plan_of(&app, &olu).await, (20, 20 << 30));
        let billing = ok_json(app.req(Method::GET, "/api/v1/billing", &olu).send().await.unwrap()).await;
        assert_eq!(billing["payments"][0]["status"], "success");
        assert!(billing["payments"][0]["paid_at"].is_string());

        // Upgrade again, paid, applied when the payer comes back (no webhook).
        let next = ok_json(checkout(json!(30)).await.unwrap()).await;
        let second = next["payment"]["reference"].as_str().unwrap().to_string();
        paystack.settle(&second, "success");
        let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = no_redirect.get(app.url(&format!("/api/v1/billing/paystack/callback?reference={second}&trxref={second}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], format!("/plan?reference={second}&status=success"));
        assert_eq!(plan_of(&app, &olu).await, (30, 30 << 30));
        // A failed card leaves the plan alone.
        let third = ok_json(checkout(json!(40)).await.unwrap()).await["payment"]["reference"].as_str().unwrap().to_string();
        paystack.settle(&third, "failed");
        let r = ok_json(app.req(Method::GET, &format!("/api/v1/billing/verify/{third}"), &olu).send().await.unwrap()).await;
        assert_eq!(r["status"], "failed");
        assert_eq!(plan_of(&app, &olu).await, (30, 30 << 30));
        // Someone else's payment is not found.
        let pat = app.register("pat").await;
        assert_eq!(app.req(Method::GET, &format!("/api/v1/billing/verify/{third}"), &pat).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        // Downgrades apply at once, unless more is stored than the new size.
        let applied = ok_json(checkout(json!(10)).await.unwrap()).await;
        assert_eq!((applied["status"].as_str(), applied["quota"]["limit"].as_u64()), (Some("applied"), Some(10 << 30)));
        let zeros = vec![0u8; 1_200 << 20];
        let file = app.upload(&olu, &olu.root, "big.bin", zeros).await;
        assert_problem(checkout(json!(1)).await.unwrap(), StatusCode::CONFLICT, "quota_below_usage").await;
        assert_eq!(plan_of(&app, &olu).await, (10, 10 << 30));
        let id = file["id"].as_str().unwrap();
        assert_eq!(app.req(Method::DELETE, &format!("/api/v1/nodes/{id}"), &olu).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(app.req(Method::DELETE, "/api/v1/trash", &olu).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(ok_json(checkout(json!(1)).await.unwrap()).await["status"], "applied");
        assert_eq!(plan_of(&app, &olu).await, (1, 1 << 30));

        let audit = audit_actions(&app, &admin).await;
        let count = |action: &str, ok: bool| audit.iter().filter(|(a, s, _)| a == action && *s == ok).count();
        assert_eq!(count("payment_webhook_rejected", false), 6, "{audit:?}");
        assert_eq!(count("payment_settled", true), 2);
        assert_eq!(count("payment_failed", false), 1);
        assert!(count("plan_checkout", false) >= 7);

        // A server without a Paystack key sells nothing, and refuses webhooks.
        let free = TestApp::spawn(backend).await;
        let quinn = free.register("quinn").await;
        let r = free.req(Method::POST, "/api/v1/billing/checkout", &quinn).json(&json!({"gb": 10})).send().await.unwrap();
        assert_problem(r, StatusCode::CONFLICT, "payments_disabled").await;
        let r = free.anon(Method::POST, "/api/v1/billing/paystack/webhook").body("{}").send().await.unwrap();
        assert_problem(r, StatusCode::CONFLICT, "payments_disabled").await;
    }
}

dual_test! {
    async fn a_paid_plan_ends_after_its_month(backend) {
        let paystack = Paystack::start().await;
        let (url, secret) = (paystack.url.clone(), paystack.secret.clone());
        let app = TestApp::spawn_with(backend, |c| {
            c.billing.paystack_base_url = url;
            c.billing.paystack_secret_key = Some(secret);
            c.billing.price_per_gb_month = PRICE;
            c.billing.currency = "NGN".into();
            c.session_days = 365;
        })
        .await;
        let admin = app.admin("root").await;
        let ada = app.register("ada").await;
        let pending = ok_json(app.req(Method::POST, "/api/v1/billing/checkout", &ada).json(&json!({"gb": 12})).send().await.unwrap()).await;
        let reference = pending["payment"]["reference"].as_str().unwrap().to_string();
        paystack.settle(&reference, "success");
        let (body, signature) = paystack.event(&reference, None);
        let r = app.anon(Method::POST, "/api/v1/billing/paystack/webhook").header("content-type", "application/json")
            .header("x-paystack-signature", signature).body(body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        assert_eq!(plan_of(&app, &ada).await, (12, 12 << 30));
        let run = || app.req(Method::POST, "/api/v1/admin/jobs/expire-plans/run", &admin).send();
        // Within its month the plan holds…
        app.clock.advance(chrono::Duration::days(29));
        assert_eq!(ok_json(run().await.unwrap()).await["items"], 0);
        assert_eq!(plan_of(&app, &ada).await, (12, 12 << 30));
        // …after it, the account is back on the free plan, its files untouched.
        app.clock.advance(chrono::Duration::days(2));
        assert_eq!(ok_json(run().await.unwrap()).await["items"], 1);
        assert_eq!(plan_of(&app, &ada).await, (1, 1 << 30));
        assert!(audit_actions(&app, &admin).await.iter().any(|(a, ok, _)| a == "plan_expired" && *ok));
    }
}
