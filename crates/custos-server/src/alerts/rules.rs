//! The rules: bursts of failed authentication per client address, bursts of denials per
//! principal, any use of the root key, bulk reads of personal data per principal. Each
//! burst rule fires once when its count reaches the threshold inside the window, then
//! stays quiet for that key until the window has passed.

use custos_core::audit::{ChainedEntry, Outcome};
use std::collections::{HashMap, VecDeque};

/// Thresholds and windows.
#[derive(Debug, Clone)]
pub struct AlertRules {
    /// Window of every burst rule, milliseconds.
    pub window_ms: i64,
    /// Failed authentications from one address within the window.
    pub failed_logins: u32,
    /// Denials of one principal within the window.
    pub denials: u32,
    /// Records read by one principal within the window.
    pub bulk_read_records: u32,
    /// Exporter lag (entries) that raises an alert; 0 disables.
    pub exporter_lag: i64,
    /// Re-identifications by one principal within the window; 0 disables.
    pub reidentifications: u32,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            window_ms: 60_000,
            failed_logins: 10,
            denials: 20,
            bulk_read_records: 1_000,
            exporter_lag: 10_000,
            reidentifications: 1,
        }
    }
}

/// A fired alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fired {
    /// Rule name: `failed-logins`, `denials`, `root-key-use`, `bulk-read`.
    pub(crate) rule: &'static str,
    /// What crossed the threshold (an address, a principal id, an action).
    pub(crate) key: String,
    /// The count that crossed it.
    pub(crate) count: u32,
}

#[derive(Default)]
struct Window {
    events: VecDeque<(i64, u32)>,
    total: u32,
    quiet_until: i64,
}

impl Window {
    /// Add `n` at `t`; true when the sum within the window reaches `threshold` and the
    /// window is not in its quiet period.
    fn add(&mut self, t: i64, n: u32, window: i64, threshold: u32) -> bool {
        self.events.push_back((t, n));
        self.total = self.total.saturating_add(n);
        while let Some(&(t0, n0)) = self.events.front() {
            if t0 > t - window {
                break;
            }
            self.events.pop_front();
            self.total = self.total.saturating_sub(n0);
        }
        if self.total >= threshold && t >= self.quiet_until {
            self.quiet_until = t + window;
            return true;
        }
        false
    }
}

/// Sliding windows per rule and key.
#[derive(Default)]
pub(super) struct State {
    windows: HashMap<(&'static str, String), Window>,
}

impl State {
    fn burst(&mut self, rule: &'static str, key: String, t: i64, n: u32, window: i64, threshold: u32) -> Option<Fired> {
        if threshold == 0 {
            return None;
        }
        let w = self.windows.entry((rule, key.clone())).or_default();
        let fired = w.add(t, n, window, threshold);
        fired.then_some(Fired { rule, key, count: w.total })
    }

    /// The alerts `entry` fires.
    pub(super) fn observe(&mut self, r: &AlertRules, entry: &ChainedEntry) -> Vec<Fired> {
        let e = &entry.entry;
        let t = e.time.0;
        let mut out = Vec::new();
        if e.action.starts_with("alert.") {
            return out;
        }
        if matches!(e.action.as_str(), "auth.token" | "auth.login") && e.outcome == Outcome::Denied {
            let key = e.client.clone().unwrap_or_else(|| "unknown".into());
            out.extend(self.burst("failed-logins", key, t, 1, r.window_ms, r.failed_logins));
        } else if e.outcome == Outcome::Denied {
            out.extend(self.burst("denials", e.principal_id.clone(), t, 1, r.window_ms, r.denials));
        }
        if e.outcome == Outcome::Ok && matches!(e.action.as_str(), "sys.unseal" | "tenant.create" | "tenant.key-rotate")
        {
            out.push(Fired { rule: "root-key-use", key: e.action.clone(), count: 1 });
        }
        if e.action == "auth.login" && e.reason.as_deref() == Some("locked") {
            let key = e.tenant.as_ref().map(|t| t.to_string()).unwrap_or_default();
            out.extend(self.burst("account-lockout", key, t, 1, r.window_ms, 1));
        }
        match e.action.as_str() {
            "apikey.expiry_reminder" => {
                out.push(Fired { rule: "api-key-expiring", key: e.reason.clone().unwrap_or_default(), count: 1 })
            }
            "access_review.overdue" => out.push(Fired {
                rule: "access-review-overdue",
                key: e.tenant.as_ref().map(|t| t.to_string()).unwrap_or_default(),
                count: 1,
            }),
            "dsr.overdue" => {
                out.push(Fired { rule: "dsr-overdue", key: e.reason.clone().unwrap_or_default(), count: 1 })
            }
            "subject.reidentify" if e.outcome == Outcome::Ok => {
                let (w, n) = (r.window_ms, r.reidentifications);
                out.extend(self.burst("reidentification", e.principal_id.clone(), t, 1, w, n));
            }
            _ => {}
        }
        if e.outcome == Outcome::Ok && matches!(e.action.as_str(), "record.read" | "record.list" | "record.search") {
            out.extend(self.burst("bulk-read", e.principal_id.clone(), t, e.count, r.window_ms, r.bulk_read_records));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_fires_once_per_window() {
        let mut w = Window::default();
        let fired: Vec<bool> = (0..12).map(|i| w.add(i * 100, 1, 10_000, 5)).collect();
        assert_eq!(fired.iter().filter(|f| **f).count(), 1);
        assert!(fired[4]);
        // after the window, a new burst fires again
        let later: Vec<bool> = (0..5).map(|i| w.add(20_000 + i, 1, 10_000, 5)).collect();
        assert_eq!(later, vec![false, false, false, false, true]);
    }

    fn entry(action: &str, principal: &str, reason: Option<&str>) -> ChainedEntry {
        use custos_core::audit::{AuditEntry, PrincipalKind};
        use custos_core::clock::Timestamp;
        use custos_core::ids::ZoneName;
        let mut e = AuditEntry::new(
            Timestamp(1_000),
            ZoneName::parse("z").unwrap(),
            PrincipalKind::User,
            principal.into(),
            action,
        );
        e.reason = reason.map(str::to_owned);
        ChainedEntry { seq: 1, entry: e, prev_hash: [0; 32], hash: [0; 32] }
    }

    #[test]
    fn reidentification_and_overdue_requests_raise_their_rules() {
        let mut st = State::default();
        let rules = AlertRules::default();
        let fired = st.observe(&rules, &entry("subject.reidentify", "usr_1", None));
        assert_eq!(fired.iter().map(|f| f.rule).collect::<Vec<_>>(), vec!["reidentification"]);
        let fired = st.observe(&rules, &entry("dsr.overdue", "custos", Some("dsr_0000000000000001")));
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].rule, fired[0].key.as_str()), ("dsr-overdue", "dsr_0000000000000001"));
        let off = AlertRules { reidentifications: 0, ..AlertRules::default() };
        assert!(State::default().observe(&off, &entry("subject.reidentify", "usr_2", None)).is_empty());
    }

    #[test]
    fn slow_events_never_fire() {
        let mut w = Window::default();
        assert!((0..50).all(|i| !w.add(i * 3_000, 1, 10_000, 5)));
    }
}
