//! Erasure notices owed to recipients: which are due, what each says, and the record
//! of every delivery attempt (retried with back-off until delivered or the request is
//! closed). Sending is the server's job; signing uses each recipient's own secret.

use super::super::Vault;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{DsrId, RecipientId, TenantCode};
use crate::store::{DsrEvent, DsrState, PrivacyOp, WriteOp};
use custos_crypto::Secret;
use std::time::Duration;

/// Longest retry delay.
const RETRY_MAX_MS: i64 = 6 * 3_600_000;

/// A notice ready to send.
#[derive(Debug)]
pub struct OutgoingNotice {
    /// The erasure request.
    pub request: DsrId,
    /// Tenant.
    pub tenant: TenantCode,
    /// The recipient.
    pub recipient: RecipientId,
    /// Its webhook.
    pub url: String,
    /// Its signing secret.
    pub secret: Secret<String>,
    /// The JSON body.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// The webhook answered 2xx.
    Delivered,
    /// It did not: a status code or a transport error kind (never a response body).
    Failed(String),
}

/// Delay before the next attempt after `attempts` failures, from a first delay of
/// `base_ms`, doubling, at most six hours.
pub(crate) fn retry_delay_ms(base_ms: i64, attempts: u32) -> i64 {
    let shift = attempts.min(20);
    base_ms.max(1).saturating_mul(1 << shift).min(RETRY_MAX_MS)
}

impl Vault {
    /// Wait until an erasure owes notices, or `timeout`.
    pub async fn privacy_wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.privacy_wake.notified()).await;
    }

    /// Notices whose next attempt is due (none while sealed).
    pub async fn due_notices(&self, limit: u32) -> Result<Vec<OutgoingNotice>, CoreError> {
        if self.keys().is_err() {
            return Ok(Vec::new());
        }
        let base = self.public_url();
        let mut out = Vec::new();
        for n in self.store.notices_due(self.clock.now(), limit).await? {
            let Some(dsr) = self.store.dsr(&n.request).await? else { continue };
            let Some(rcp) = self.store.recipient(&n.recipient).await? else { continue };
            if dsr.state != DsrState::Locked {
                continue;
            }
            let ik = self.identity_keys(Some(&n.tenant))?;
            let secret = self.open_webhook_secret(&ik, &rcp)?;
            let code = &n.tenant;
            let body = serde_json::json!({
                "type": "erasure.notice",
                "request": dsr.id.as_str(),
                "tenant": code.as_str(),
                "subject": dsr.subject.as_ref().map(|s| s.as_str()),
                "received_at": dsr.received_at.to_rfc3339(),
                "purge_after": dsr.purge_after.map(|t| t.to_rfc3339()),
                "fetch_url": format!("{base}/v1/tenants/{code}/recipient/erasures/{}", dsr.id),
                "acknowledge_url": format!("{base}/v1/tenants/{code}/recipient/erasures/{}/acknowledge", dsr.id),
            })
            .to_string();
            out.push(OutgoingNotice {
                request: n.request,
                tenant: n.tenant,
                recipient: n.recipient,
                url: rcp.webhook_url,
                secret,
                body,
                attempts: n.attempts,
            });
        }
        Ok(out)
    }

    /// Record one delivery attempt: in the notice, the request's history and the audit
    /// trail. A failure schedules the next attempt with back-off.
    pub async fn notice_result(&self, n: &OutgoingNotice, outcome: NoticeOutcome) -> Result<(), CoreError> {
        let now: Timestamp = self.clock.now();
        let mut a = self.audit_system("erasure.notice").tenant(&n.tenant);
        a.set_client(Some(n.recipient.to_string()));
        let (delivered, error, next) = match &outcome {
            NoticeOutcome::Delivered => (true, None, None),
            NoticeOutcome::Failed(why) => {
                a.set_reason(why.clone());
                (
                    false,
                    Some(why.clone()),
                    Some(Timestamp(now.0 + retry_delay_ms(self.privacy_config().notice_retry_ms, n.attempts))),
                )
            }
        };
        let what =
            if delivered { format!("notified:{}", n.recipient) } else { format!("notice-failed:{}", n.recipient) };
        let ops = vec![
            WriteOp::Privacy(PrivacyOp::NoticeAttempt {
                request: n.request.clone(),
                recipient: n.recipient.clone(),
                at: now,
                delivered,
                error: error.clone(),
                next_attempt_at: next,
            }),
            WriteOp::Privacy(PrivacyOp::DsrEvent {
                id: n.request.clone(),
                event: DsrEvent { at: now.0, event: what, by: "custos".into() },
            }),
            if delivered { a.ok() } else { a.failed_entry(error.as_deref().unwrap_or("failed")) },
        ];
        self.store.apply(ops).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_caps() {
        assert_eq!(retry_delay_ms(30_000, 0), 30_000);
        assert_eq!(retry_delay_ms(30_000, 1), 60_000);
        assert_eq!(retry_delay_ms(30_000, 30), RETRY_MAX_MS);
    }
}
