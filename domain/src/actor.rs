//! Who caused an event (DESIGN.md invariant 10). Every event the log records
//! names its actor beside the event's data, so the audit shows who could and
//! did what, when.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{CorrelationId, DeviceId, StaffId};

/// The background process that acted on its own (no person pressed anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemProcess {
    /// The waitlist's matcher proposing freed units.
    Matcher,
    /// A timer: lapses, expiries, no-shows.
    Timer,
    /// Seeding the demo catalogue.
    Demo,
}

impl SystemProcess {
    pub fn as_str(self) -> &'static str {
        match self {
            SystemProcess::Matcher => "matcher",
            SystemProcess::Timer => "timer",
            SystemProcess::Demo => "demo",
        }
    }
}

/// The cause of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A staff member, by account.
    Staff(StaffId),
    /// A kiosk or call display of an office.
    Device(DeviceId),
    /// Whoever holds the operator's `--admin-token`.
    Operator,
    /// A citizen: a booking form, a wish form, a mail link.
    Citizen,
    /// The system itself; `None` for events recorded before actors were
    /// (they read as plain `system`).
    System(Option<SystemProcess>),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not an actor: {0:?}")]
pub struct InvalidActor(pub String);

impl Actor {
    pub const TIMER: Actor = Actor::System(Some(SystemProcess::Timer));
    pub const MATCHER: Actor = Actor::System(Some(SystemProcess::Matcher));

    /// The compact form the log stores: `staff:{id}`, `device:{id}`,
    /// `operator`, `citizen`, `system`, `system:{process}`.
    pub fn to_log(self) -> String {
        self.to_string()
    }

    /// Reads the stored form; a missing one (events older than actors) is
    /// `system`.
    pub fn from_log(stored: Option<&str>) -> Result<Actor, InvalidActor> {
        let Some(stored) = stored else {
            return Ok(Actor::System(None));
        };
        let invalid = || InvalidActor(stored.to_owned());
        Ok(match stored.split_once(':') {
            None => match stored {
                "operator" => Actor::Operator,
                "citizen" => Actor::Citizen,
                "system" => Actor::System(None),
                _ => return Err(invalid()),
            },
            Some(("staff", id)) => Actor::Staff(StaffId::parse(id).map_err(|_| invalid())?),
            Some(("device", id)) => Actor::Device(DeviceId::parse(id).map_err(|_| invalid())?),
            Some(("system", process)) => Actor::System(Some(match process {
                "matcher" => SystemProcess::Matcher,
                "timer" => SystemProcess::Timer,
                "demo" => SystemProcess::Demo,
                _ => return Err(invalid()),
            })),
            Some(_) => return Err(invalid()),
        })
    }

    /// `staff`, `device`, `operator`, `citizen` or `system` (API.md's `kind`).
    pub fn kind(self) -> &'static str {
        match self {
            Actor::Staff(_) => "staff",
            Actor::Device(_) => "device",
            Actor::Operator => "operator",
            Actor::Citizen => "citizen",
            Actor::System(_) => "system",
        }
    }

    /// The id beside the kind: the account, the device or the process.
    pub fn id(self) -> Option<String> {
        match self {
            Actor::Staff(id) => Some(id.to_string()),
            Actor::Device(id) => Some(id.to_string()),
            Actor::System(Some(process)) => Some(process.as_str().to_owned()),
            Actor::Operator | Actor::Citizen | Actor::System(None) => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            Some(id) => write!(f, "{}:{id}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

/// The audit's JSON form: `{"kind":"staff","id":"…"}` (API.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorView {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl From<Actor> for ActorView {
    fn from(actor: Actor) -> Self {
        ActorView {
            kind: actor.kind().to_owned(),
            id: actor.id(),
        }
    }
}

/// Why events are being appended: the request they stem from and who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub correlation_id: CorrelationId,
    pub actor: Actor,
}

impl Cause {
    pub fn new(correlation_id: CorrelationId, actor: Actor) -> Self {
        Cause { correlation_id, actor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    #[test]
    fn every_actor_round_trips_through_the_log_form() {
        let staff = StaffId::from_ulid(Ulid::from_parts(1, 2));
        let device = DeviceId::from_ulid(Ulid::from_parts(3, 4));
        for actor in [
            Actor::Staff(staff),
            Actor::Device(device),
            Actor::Operator,
            Actor::Citizen,
            Actor::System(None),
            Actor::MATCHER,
            Actor::TIMER,
            Actor::System(Some(SystemProcess::Demo)),
        ] {
            assert_eq!(Actor::from_log(Some(&actor.to_log())), Ok(actor), "{actor}");
        }
        assert_eq!(Actor::Staff(staff).to_log(), format!("staff:{staff}"));
    }

    #[test]
    fn an_event_without_actor_reads_as_system() {
        assert_eq!(Actor::from_log(None), Ok(Actor::System(None)));
        assert_eq!(
            serde_json::to_value(ActorView::from(Actor::System(None))).unwrap(),
            serde_json::json!({"kind": "system"})
        );
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "root", "staff:", "staff:xyz", "device", "system:cron", "admin:1"] {
            assert!(Actor::from_log(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_audit_view_names_kind_and_id() {
        let staff = StaffId::from_ulid(Ulid::from_parts(9, 9));
        assert_eq!(
            serde_json::to_value(ActorView::from(Actor::Staff(staff))).unwrap(),
            serde_json::json!({"kind": "staff", "id": staff.to_string()})
        );
        assert_eq!(
            serde_json::to_value(ActorView::from(Actor::TIMER)).unwrap(),
            serde_json::json!({"kind": "system", "id": "timer"})
        );
    }
}
