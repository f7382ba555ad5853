//! The events' JSON data as the log stores it, read into the checker's own
//! small shapes: only the fields the checks need (serde skips the rest), text
//! borrowed from the log where it can be.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;

type Text<'a> = Cow<'a, str>;

/// `{"office","date","lane","start"}`: one capacity unit.
#[derive(Deserialize)]
pub(crate) struct UnitJson<'a> {
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub date: Text<'a>,
    pub lane: u16,
    #[serde(borrow)]
    pub start: Text<'a>,
}

#[derive(Deserialize)]
pub(crate) struct OfficeJson<'a> {
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub timezone: Text<'a>,
}

#[derive(Deserialize)]
pub(crate) struct ServiceJson<'a> {
    #[serde(borrow)]
    pub service: Text<'a>,
    pub duration_minutes: u32,
}

#[derive(Deserialize)]
pub(crate) struct CapacityPublishedJson<'a> {
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub date: Text<'a>,
    #[serde(borrow)]
    pub from: Text<'a>,
    #[serde(borrow)]
    pub to: Text<'a>,
    pub unit_minutes: u32,
    pub lanes: u16,
    pub first_lane: u16,
}

#[derive(Deserialize)]
pub(crate) struct CapacityWithdrawnJson<'a> {
    #[serde(borrow)]
    pub units: Vec<UnitJson<'a>>,
}

/// `booking.requested` and `booking.ticket_issued` (the ticket also has date and number).
#[derive(Deserialize)]
pub(crate) struct BookingHoldJson<'a> {
    #[serde(borrow)]
    pub booking: Text<'a>,
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub units: Vec<UnitJson<'a>>,
    #[serde(borrow, default)]
    pub date: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub number: Option<Text<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct BookingConfirmedJson<'a> {
    #[serde(borrow)]
    pub booking: Text<'a>,
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub date: Text<'a>,
    #[serde(borrow)]
    pub number: Text<'a>,
}

/// `booking.cancelled`, `booking.lapsed`, `booking.released`.
#[derive(Deserialize)]
pub(crate) struct BookingFreeJson<'a> {
    #[serde(borrow)]
    pub booking: Text<'a>,
    #[serde(borrow)]
    pub units: Vec<UnitJson<'a>>,
    #[serde(borrow, default)]
    pub reason: Option<Text<'a>>,
}

/// `{"mon":[8,9],"fri":[12]}`.
#[derive(Deserialize, Default)]
pub(crate) struct WeekJson {
    #[serde(default)]
    pub mon: Vec<u32>,
    #[serde(default)]
    pub tue: Vec<u32>,
    #[serde(default)]
    pub wed: Vec<u32>,
    #[serde(default)]
    pub thu: Vec<u32>,
    #[serde(default)]
    pub fri: Vec<u32>,
    #[serde(default)]
    pub sat: Vec<u32>,
    #[serde(default)]
    pub sun: Vec<u32>,
}

impl WeekJson {
    /// Per weekday (Monday first) a bit per wanted start hour.
    pub fn hour_masks(&self) -> [u32; 7] {
        let mask = |hours: &[u32]| {
            hours
                .iter()
                .filter(|hour| **hour < 24)
                .fold(0, |mask, hour| mask | 1 << hour)
        };
        [
            mask(&self.mon),
            mask(&self.tue),
            mask(&self.wed),
            mask(&self.thu),
            mask(&self.fri),
            mask(&self.sat),
            mask(&self.sun),
        ]
    }
}

#[derive(Deserialize)]
pub(crate) struct WishRegisteredJson<'a> {
    #[serde(borrow)]
    pub wish: Text<'a>,
    #[serde(borrow)]
    pub offices: Vec<Text<'a>>,
    #[serde(borrow)]
    pub services: Vec<Text<'a>>,
    pub windows: WeekJson,
    #[serde(borrow, default)]
    pub until: Option<Text<'a>>,
    /// Present since double opt-in (schema version 2): the wish joins the
    /// queue only at its `wish.confirmed`. Absent: it waited at once.
    #[serde(borrow, default)]
    pub confirm_by: Option<Text<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct WishConfirmedJson<'a> {
    #[serde(borrow)]
    pub wish: Text<'a>,
}

#[derive(Deserialize)]
pub(crate) struct ProposalMadeJson<'a> {
    #[serde(borrow)]
    pub proposal: Text<'a>,
    #[serde(borrow)]
    pub wish: Text<'a>,
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub units: Vec<UnitJson<'a>>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Deserialize)]
pub(crate) struct ProposalAcceptedJson<'a> {
    #[serde(borrow)]
    pub proposal: Text<'a>,
    #[serde(borrow)]
    pub wish: Text<'a>,
    #[serde(borrow)]
    pub booking: Text<'a>,
    #[serde(borrow)]
    pub units: Vec<UnitJson<'a>>,
    #[serde(borrow)]
    pub number: Text<'a>,
}

/// `proposal.declined`, `proposal.expired`, `proposal.withdrawn`.
#[derive(Deserialize)]
pub(crate) struct ProposalClosedJson<'a> {
    #[serde(borrow)]
    pub proposal: Text<'a>,
    #[serde(borrow)]
    pub wish: Text<'a>,
    #[serde(borrow)]
    pub units: Vec<UnitJson<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct WishEndedJson<'a> {
    #[serde(borrow)]
    pub wish: Text<'a>,
    #[serde(borrow)]
    pub reason: Text<'a>,
    #[serde(borrow, default)]
    pub proposal: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub units: Vec<UnitJson<'a>>,
}

/// Any event of an office's floor (`visit.*`, `counter.*`): only whose office.
#[derive(Deserialize)]
pub(crate) struct FloorJson<'a> {
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow, default)]
    pub reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct RoleJson<'a> {
    #[serde(borrow)]
    pub role: Text<'a>,
    #[serde(borrow, default)]
    pub office: Option<Text<'a>>,
}

/// `staff.registered`, `staff.changed`.
#[derive(Deserialize)]
pub(crate) struct StaffJson<'a> {
    #[serde(borrow)]
    pub staff: Text<'a>,
    #[serde(borrow)]
    pub roles: Vec<RoleJson<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct DeviceJson<'a> {
    #[serde(borrow)]
    pub device: Text<'a>,
    #[serde(borrow)]
    pub office: Text<'a>,
    #[serde(borrow)]
    pub kind: Text<'a>,
}
