//! Time, injected: the only place that reads the system clock. Timestamps are Unix
//! milliseconds inside Custos and RFC 3339 at the API edge.

use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// RFC 3339 with millisecond precision, `Z` offset.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }

    /// Parse an RFC 3339 time.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok().map(Timestamp)
    }

    /// The same time of day one calendar month later (the 31st of January becomes the
    /// last day of February): the GDPR's "one month of receipt".
    pub fn plus_one_month(self) -> Self {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000) else {
            return self.plus_days(30);
        };
        let (y, m) = if t.month() == time::Month::December {
            (t.year() + 1, time::Month::January)
        } else {
            (t.year(), t.month().next())
        };
        let day = t.day().min(m.length(y));
        match time::Date::from_calendar_date(y, m, day) {
            Ok(d) => {
                let next = t.replace_date(d);
                i64::try_from(next.unix_timestamp_nanos() / 1_000_000).map(Timestamp).unwrap_or(self)
            }
            Err(_) => self.plus_days(30),
        }
    }

    /// This time plus a number of days.
    pub fn plus_days(self, days: i64) -> Self {
        Self(self.0.saturating_add(days.saturating_mul(86_400_000)))
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Start at `t`.
    pub fn new(t: Timestamp) -> Self {
        Self(AtomicI64::new(t.0))
    }

    /// Move forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Set the time (tests stepping to an exact instant).
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_700_000_000_123).to_rfc3339(), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn one_month_later() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        assert_eq!(at("2026-01-31T10:00:00Z").plus_one_month(), at("2026-02-28T10:00:00Z"));
        assert_eq!(at("2028-01-31T10:00:00Z").plus_one_month(), at("2028-02-29T10:00:00Z"));
        assert_eq!(at("2026-12-15T23:59:59.500Z").plus_one_month(), at("2027-01-15T23:59:59.500Z"));
    }
}
