//! Shutdown signalling for the long-running loops: a `watch` channel whose value turns `true`
//! (or whose every sender is dropped) when the process is stopping.

use std::time::Duration;

use tokio::sync::watch;

/// Resolves once shutdown is requested.
pub(crate) async fn requested(shutdown: &mut watch::Receiver<bool>) {
    // An error means every sender is gone, which also means stop.
    let _stopped = shutdown.wait_for(|stop| *stop).await;
}

/// Whether shutdown has been requested, without waiting.
pub(crate) fn is_requested(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Sleeps for `pause`; returns `true` if shutdown was requested meanwhile.
pub(crate) async fn sleep_or_stop(shutdown: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        () = requested(shutdown) => true,
        () = tokio::time::sleep(pause) => false,
    }
}

/// Exponential backoff between `min` and `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            current: min,
        }
    }

    /// The pause to take now; the next one is twice as long, up to `max`.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.current;
        self.current = (self.current * 2).min(self.max);
        pause
    }

    /// Back to `min` after a success.
    pub(crate) fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let pauses: Vec<u128> = (0..4).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_pause(), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn dropping_every_sender_counts_as_shutdown() {
        let (tx, mut rx) = watch::channel(false);
        assert!(!is_requested(&rx));
        drop(tx);
        assert!(is_requested(&rx));
        assert!(sleep_or_stop(&mut rx, Duration::from_secs(30)).await);
    }

    #[tokio::test]
    async fn sending_true_ends_the_sleep() {
        let (tx, mut rx) = watch::channel(false);
        tx.send_replace(true);
        assert!(is_requested(&rx));
        assert!(sleep_or_stop(&mut rx, Duration::from_secs(30)).await);
    }
}
