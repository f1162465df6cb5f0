//! The daily digest: once a day, at `digest_hour` (UTC), every channel with events waiting
//! for it gets one delivery summarising them (the events routed to it through digest routes
//! since its previous digest). A process that was down at that hour sends them at the next
//! day's run; a second process running the schedule finds the day's digest queued already.

use crate::settings::NotifySettings;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use postern_store::notify::Delivery;
use postern_store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;
use tracing::{info, warn};

/// Queues the digests due at `now`: one delivery per channel with waiting events (created
/// before `now`). One channel's failure does not stop the others.
pub async fn queue_digests(store: &Store, now: DateTime<Utc>) -> Result<Vec<Delivery>, StoreError> {
    let system = store.system();
    let day = now.date_naive();
    let mut queued = Vec::new();
    for channel in system.notify_digest_channels(now).await? {
        match system.queue_notify_digest(channel, day, now).await {
            Ok(Some(delivery)) => queued.push(delivery),
            Ok(None) => {}
            Err(error) => warn!(%error, %channel, "queueing a digest failed"),
        }
    }
    Ok(queued)
}

/// The next time the digests are due after `now`.
pub fn next_digest_at(now: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
    let today = now.date_naive().and_time(at).and_utc();
    if today > now {
        today
    } else {
        today + Duration::days(1)
    }
}

/// Queues the digests every day at `settings.digest_hour` until `shutdown` fires, waking
/// the delivery loop after.
pub async fn run_digests(
    store: Store,
    settings: NotifySettings,
    wake: Arc<Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = Utc::now();
        let next = next_digest_at(now, settings.digest_hour);
        let pause = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match queue_digests(&store, Utc::now()).await {
            Ok(queued) => {
                info!(digests = queued.len(), "daily digests queued");
                if !queued.is_empty() {
                    wake.notify_one();
                }
            }
            Err(error) => warn!(%error, "queueing the daily digests failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_digest_is_today_before_the_hour_and_tomorrow_after() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 29, h, m, 0).unwrap();
        assert_eq!(next_digest_at(at(7, 59), 8), at(8, 0));
        assert_eq!(
            next_digest_at(at(8, 0), 8),
            Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
        );
        assert_eq!(
            next_digest_at(at(23, 0), 0),
            Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
        );
    }
}
