//! The alert webhook: a JSON body, signed with HMAC-SHA256 over `"<unix time>.<body>"`,
//! sent as `Custos-Signature: t=<unix time>,v1=<hex>`; retried with back-off.

use super::rules::Fired;
use custos_core::audit::ChainedEntry;
use custos_crypto::Secret;
use std::time::Duration;

/// Where and how alerts are sent.
#[derive(Clone)]
pub struct Webhook {
    /// Target URL.
    pub url: String,
    /// Shared HMAC secret.
    pub secret: Secret<String>,
    /// HTTP client.
    pub client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The signature header value for `body` at `t` (Unix seconds).
pub fn signature(secret: &[u8], t: i64, body: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(tag.as_ref()))
}

impl Webhook {
    pub(super) async fn send(&self, fired: &Fired, trigger: &ChainedEntry) {
        let e = &trigger.entry;
        let body = serde_json::json!({
            "rule": fired.rule,
            "key": fired.key,
            "count": fired.count,
            "time": e.time.to_rfc3339(),
            "zone": e.zone.as_str(),
            "tenant": e.tenant.as_ref().map(|t| t.as_str()),
            "trigger_seq": trigger.seq,
            "trigger_action": e.action,
            "principal_kind": e.principal_kind.as_str(),
            "principal_id": e.principal_id,
            "client": e.client,
        })
        .to_string();
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=5 {
            let t = e.time.0 / 1000;
            let resp = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("custos-signature", signature(self.secret.expose().as_bytes(), t, &body))
                .body(body.clone())
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::warn!(attempt, status = %r.status(), rule = fired.rule, "alert webhook refused"),
                Err(err) => tracing::warn!(attempt, error = %err, rule = fired.rule, "alert webhook failed"),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        tracing::error!(rule = fired.rule, "alert webhook gave up after 5 attempts; the alert is in the audit trail");
    }
}
