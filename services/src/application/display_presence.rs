//! Whether each call display is showing the calls (issue "the office
//! floor": staff see when a display has been silent for more than a
//! minute). A display's open stream refreshes its `last_seen` beside the log
//! every [`PRESENCE_REFRESH`]; a stream that ends says so; a display unseen
//! for over [`SILENT_AFTER`] is silent, whether its stream ended, its
//! network went, or the process serving it died without a word.

use std::time::Duration;

use chrono::{DateTime, Utc};
use terminagent_domain::{DeviceId, DeviceKind, OfficeId};
use terminagent_eventstore::{DevicePresences, StorageError};

use super::Executor;
use crate::projections::{LiveProjection, StaffView};

/// How often an open display stream says it is still open.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(15);

/// A display unseen for longer is silent.
pub const SILENT_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// One display of an office, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayHealth {
    pub device: DeviceId,
    pub name: String,
    /// When its stream was last known open; `None`: never connected.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its stream is open now (as far as the last word goes).
    pub connected: bool,
    /// Unseen for more than [`SILENT_AFTER`].
    pub silent: bool,
}

/// Whether a display last seen at `last_seen` is silent at `now`.
pub fn is_silent(last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_seen.is_none_or(|seen| now - seen > SILENT_AFTER)
}

/// The office's displays (revoked ones left out), by name.
pub async fn displays_of(
    executor: &Executor,
    staff: &LiveProjection<StaffView>,
    office: &OfficeId,
) -> Result<Vec<DisplayHealth>, StorageError> {
    let presences = executor.store().device_presences().of_office(office.as_str()).await?;
    let now = executor.now();
    let mut displays: Vec<DisplayHealth> = staff
        .read()
        .devices_of(office)
        .filter(|device| device.registered.kind == DeviceKind::Display && !device.revoked)
        .map(|device| {
            let id = device.registered.device;
            let presence = presences.iter().find(|p| p.device_id == id.to_string());
            let last_seen = presence.map(|p| p.last_seen);
            DisplayHealth {
                device: id,
                name: device.registered.name.to_string(),
                last_seen,
                connected: presence.is_some_and(|p| p.connected),
                silent: is_silent(last_seen, now),
            }
        })
        .collect();
    displays.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(displays)
}

/// Held by a display's open stream: says the stream is open now and every
/// [`PRESENCE_REFRESH`], and that it closed when dropped (the client went
/// away, or the server shuts down).
pub struct DisplayWatch {
    refresh: tokio::task::JoinHandle<()>,
    presences: DevicePresences,
    executor: Executor,
    device: DeviceId,
    office: OfficeId,
}

impl DisplayWatch {
    pub fn start(executor: &Executor, device: DeviceId, office: OfficeId) -> Self {
        let presences = executor.store().device_presences();
        let refresh = {
            let (executor, presences, office) = (executor.clone(), presences.clone(), office.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(PRESENCE_REFRESH);
                loop {
                    ticks.tick().await;
                    let seen = presences
                        .seen(&device.to_string(), office.as_str(), executor.now())
                        .await;
                    if let Err(error) = seen {
                        tracing::warn!(%device, %error, "recording a display's presence failed");
                    }
                }
            })
        };
        DisplayWatch {
            refresh,
            presences,
            executor: executor.clone(),
            device,
            office,
        }
    }
}

impl Drop for DisplayWatch {
    fn drop(&mut self) {
        self.refresh.abort();
        let (presences, device, office) = (self.presences.clone(), self.device, self.office.clone());
        let now = self.executor.now();
        // Drop cannot wait; the runtime may be ending, in which case the
        // display goes silent by its age instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = presences.gone(&device.to_string(), office.as_str(), now).await {
                    tracing::warn!(%device, %error, "recording a display's end of stream failed");
                }
            });
        }
    }
}
