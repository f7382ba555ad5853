//! The reminder timer (API.md "The office floor"): every API process, every
//! few seconds, asks for each office whether today's reminder time has come
//! and, if so, decides the reminder of each of today's confirmed bookings
//! not yet reminded ([`ReminderDecider`] on the booking's stream, so however
//! many processes ask, the log gets one `booking.reminder_due`; the mailer's
//! ledger sends its mail once).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use terminagent_domain::{
    Actor, BookingId, LocalTime, OfficeId, OfficeTimeZone, RemindBooking, ReminderDecider, StreamName, reminder_instant,
};

use super::{ExecuteError, Executor};
use crate::projections::{CatalogueView, LiveProjection, RemindersView};

/// How often the timer looks for reminders due.
pub const REMINDER_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Bookings the decision said no to (confirmed after the reminder time,
/// already started): not asked again. Forgotten when it grows past this.
const MAX_REFUSED: usize = 100_000;

/// Decides every reminder due now; returns how many it recorded.
/// `refused` remembers bookings the decision turned down, across calls.
pub async fn remind_due_bookings(
    executor: &Executor,
    remind_at: LocalTime,
    catalogue: &LiveProjection<CatalogueView>,
    reminders: &LiveProjection<RemindersView>,
    refused: &mut HashSet<BookingId>,
) -> usize {
    let now = executor.now();
    let offices: Vec<(OfficeId, OfficeTimeZone)> = catalogue
        .read()
        .offices()
        .filter_map(|office| {
            let id = office.id.parse().ok()?;
            let zone = OfficeTimeZone::parse(&office.timezone).ok()?;
            Some((id, zone))
        })
        .collect();
    if refused.len() > MAX_REFUSED {
        refused.clear();
    }
    let mut reminded = 0;
    for (office, zone) in offices {
        let today = zone.today(now);
        let time = reminder_instant(zone, today, remind_at);
        if now < time {
            continue;
        }
        let due = reminders.read().unreminded(&office, today);
        for (booking, confirmed_at) in due {
            if confirmed_at >= time || refused.contains(&booking) {
                continue;
            }
            let cause = executor.new_cause(Actor::TIMER);
            let remind = |now| RemindBooking {
                booking,
                zone,
                remind_at,
                confirmed_at,
                now,
            };
            match executor
                .execute::<ReminderDecider>(&[StreamName::booking(&booking)], cause, remind)
                .await
            {
                Ok(events) if !events.is_empty() => reminded += 1,
                Ok(_) => {}
                Err(ExecuteError::Rejected(reason)) => {
                    tracing::debug!(%booking, %reason, "no reminder due");
                    refused.insert(booking);
                }
                Err(error) => tracing::warn!(%booking, %error, "deciding a reminder failed; trying again later"),
            }
        }
    }
    reminded
}

/// Runs the reminder timer until the process ends.
pub fn spawn_reminder_timer(
    executor: Executor,
    remind_at: LocalTime,
    catalogue: Arc<LiveProjection<CatalogueView>>,
    reminders: Arc<LiveProjection<RemindersView>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(REMINDER_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refused = HashSet::new();
        loop {
            ticks.tick().await;
            let reminded = remind_due_bookings(&executor, remind_at, &catalogue, &reminders, &mut refused).await;
            if reminded > 0 {
                tracing::info!(reminded, "reminders due recorded");
            }
        }
    })
}
