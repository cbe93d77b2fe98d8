//! Refusals yield to admitted work. A client far over its limit that keeps sending at once
//! (a closed-loop flood) is refused as fast as the server can answer, and on a small machine
//! that CPU is taken from the other tenants' admitted requests. So while any admitted
//! request is in flight on this node, a `429` is sent after a short pause (`pace`); when
//! nothing else runs, refusals go out at full speed. The answer itself does not change: the
//! refused client was already told to wait `Retry-After` seconds. See docs/RATE_LIMITS.md.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RefusalPacing {
    admitted: Arc<AtomicUsize>,
    pace: Duration,
}

/// Counts one admitted request as in flight until dropped.
#[derive(Debug)]
pub struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RefusalPacing {
    /// `pace` zero turns pacing off.
    pub fn new(pace: Duration) -> Self {
        Self {
            admitted: Arc::new(AtomicUsize::new(0)),
            pace,
        }
    }

    pub fn admit(&self) -> Admitted {
        self.admitted.fetch_add(1, Ordering::Relaxed);
        Admitted(self.admitted.clone())
    }

    /// How long a refusal waits now: `pace` while admitted work is in flight, else nothing.
    pub fn pause(&self) -> Duration {
        if self.admitted.load(Ordering::Relaxed) > 0 {
            self.pace
        } else {
            Duration::ZERO
        }
    }

    /// Waits before a refusal is sent (see the module docs).
    pub async fn before_refusal(&self) {
        let pause = self.pause();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_pause_only_while_admitted_work_runs() {
        let pacing = RefusalPacing::new(Duration::from_millis(10));
        assert_eq!(pacing.pause(), Duration::ZERO, "idle: full speed");
        let first = pacing.admit();
        let second = pacing.admit();
        assert_eq!(pacing.pause(), Duration::from_millis(10));
        drop(first);
        assert_eq!(pacing.pause(), Duration::from_millis(10));
        drop(second);
        assert_eq!(pacing.pause(), Duration::ZERO, "all admitted work finished");
    }

    #[test]
    fn zero_pace_turns_pacing_off() {
        let pacing = RefusalPacing::new(Duration::ZERO);
        let _busy = pacing.admit();
        assert_eq!(pacing.pause(), Duration::ZERO);
    }
}
