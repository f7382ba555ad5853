//! The independent audit of a run: the brute-force checker of the
//! `terminagent-audit-checker` crate (invariants 1, 3, 5 and 10, written
//! without the matching engine's code) is fed every event of the log in
//! order and asked for quiescence at quiet points (end of each simulated
//! day, after the matcher caught up).

use chrono::{DateTime, Utc};
use terminagent_audit_checker::{Checker, LoggedEvent, Violation, ViolationKind};
use terminagent_eventstore::LogEvent;

/// What the audit found so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFindings {
    pub first_come: Option<u64>,
    pub quiescence: Option<u64>,
    pub other: Option<u64>,
    pub first: Option<String>,
    pub checker: String,
}

pub struct Audit {
    checker: Checker,
    /// Violations of quiescence found at quiet points (the checker reports
    /// them per call, it does not keep them).
    quiescence: u64,
    first_quiescence: Option<Violation>,
}

impl Default for Audit {
    fn default() -> Self {
        Audit::new()
    }
}

impl Audit {
    pub fn new() -> Self {
        Audit {
            checker: Checker::new(),
            quiescence: 0,
            first_quiescence: None,
        }
    }

    pub fn observe(&mut self, event: &LogEvent) {
        let stored = &event.event;
        self.checker.observe(&LoggedEvent {
            position: event.position,
            event_type: &stored.event_type,
            streams: &stored.streams,
            recorded_at: stored.recorded_at,
            actor: stored.actor.as_deref(),
            data: stored.data.as_str(),
        });
    }

    /// The matcher has caught up at `now`: no free unit and idle wish may match.
    pub fn quiet_point(&mut self, now: DateTime<Utc>) {
        let found = self.checker.quiescence_violations(now);
        self.quiescence += found.len() as u64;
        if self.first_quiescence.is_none() {
            self.first_quiescence = found.into_iter().next();
        }
    }

    pub fn findings(&self) -> AuditFindings {
        let violations = self.checker.violations();
        let of = |kind: ViolationKind| violations.iter().filter(|v| v.kind == kind).count() as u64;
        let first_come = of(ViolationKind::NotFirstCome);
        let quiescence = of(ViolationKind::FreeUnitWhileWishWaits) + self.quiescence;
        let other = violations.len() as u64 - first_come - of(ViolationKind::FreeUnitWhileWishWaits);
        let first = self
            .checker
            .first_violation()
            .or(self.first_quiescence.as_ref())
            .map(|violation| format!("{:?} {violation}", violation.kind));
        AuditFindings {
            first_come: Some(first_come),
            quiescence: Some(quiescence),
            other: Some(other),
            first,
            checker: format!("terminagent-audit-checker: {}", self.checker.summary()),
        }
    }
}
