//! Unconfirmed bookings lapse after `--confirm-ttl` and free their units.
//! Every API process runs the timer; the decision is idempotent, so two
//! processes lapsing the same booking append it once.

use std::sync::Arc;
use std::time::Duration;

use terminagent_domain::{Actor, BookingCommand, BookingDecider, LapseBooking, StreamName};

use super::Executor;
use crate::projections::{LinksView, LiveProjection};

/// How often the timer looks for bookings to lapse.
pub const LAPSE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Lapses every booking that is due now; returns how many lapsed.
pub async fn lapse_due_bookings(executor: &Executor, bookings: &LiveProjection<LinksView>) -> usize {
    let due = bookings.read().lapse_due(executor.now());
    let mut lapsed = 0;
    for booking in due {
        let cause = executor.new_cause(Actor::TIMER);
        let lapse = |now| BookingCommand::Lapse(LapseBooking { booking, now });
        match executor
            .execute::<BookingDecider>(&[StreamName::booking(&booking)], cause, lapse)
            .await
        {
            Ok(events) if !events.is_empty() => lapsed += 1,
            Ok(_) => {}
            Err(error) => tracing::warn!(%booking, %error, "lapsing a booking failed; trying again later"),
        }
    }
    lapsed
}

/// Runs the lapse timer until the process ends.
pub fn spawn_lapse_timer(executor: Executor, bookings: Arc<LiveProjection<LinksView>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(LAPSE_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let lapsed = lapse_due_bookings(&executor, &bookings).await;
            if lapsed > 0 {
                tracing::info!(lapsed, "unconfirmed bookings lapsed");
            }
        }
    })
}
