//! The office's own people and devices: staff accounts with roles, their API
//! tokens, and an office's kiosks and call displays (API.md "Staff, roles and
//! devices"). Accounts, role changes, tokens and disabling are events, so the
//! audit shows who could do what, when (invariant 10). Passwords never enter
//! the log; tokens enter it only as hashes (like mail links).
//!
//! Every staff and device event is in one stream, `staff-directory`: the
//! directory is small and changed rarely, and one stream makes an e-mail
//! address name one account however many admins act at once.
//!
//! Who may do what is [`Principal::may`]: one table of rules, the only place
//! the HTTP layer asks.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::catalogue::CatalogueName;
use crate::citizen::EmailAddress;
use crate::decider::Decider;
use crate::event::{DomainEvent, StreamName};
use crate::ids::{DeviceId, OfficeId, StaffId};

/// The one stream of every staff and device event.
pub const STAFF_DIRECTORY_STREAM: &str = "staff-directory";

/// Most roles one account may hold (a lead of several offices, say).
pub const MAX_ROLES: usize = 20;

impl StreamName {
    /// `staff-directory`: every account, token and device.
    pub fn staff_directory() -> Self {
        STAFF_DIRECTORY_STREAM.parse().expect("a valid stream name")
    }
}

/// What a staff member is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, every office: offices, services, staff.
    Admin,
    /// One office: capacity, opening hours, closures, devices, statistics, and all a clerk may.
    Lead,
    /// One office: its day list and its floor.
    Clerk,
    /// Read-only, every office: events, audit, statistics.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Lead => "lead",
            Role::Clerk => "clerk",
            Role::Auditor => "auditor",
        }
    }

    /// German, for the staff pages.
    pub fn german(self) -> &'static str {
        match self {
            Role::Admin => "Administration",
            Role::Lead => "Leitung",
            Role::Clerk => "Sachbearbeitung",
            Role::Auditor => "Prüfung",
        }
    }

    fn bound_to_office(self) -> bool {
        matches!(self, Role::Lead | Role::Clerk)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = StaffError;

    fn from_str(input: &str) -> Result<Self, StaffError> {
        Ok(match input {
            "admin" => Role::Admin,
            "lead" => Role::Lead,
            "clerk" => Role::Clerk,
            "auditor" => Role::Auditor,
            other => return Err(StaffError::UnknownRole(other.to_owned())),
        })
    }
}

/// One role, with its office where the role is bound to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleGrant {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<OfficeId>,
}

impl RoleGrant {
    /// A grant as API.md allows it: lead and clerk name their office, admin
    /// and auditor name none (they reach every office).
    pub fn new(role: Role, office: Option<OfficeId>) -> Result<Self, StaffError> {
        match (role.bound_to_office(), office) {
            (true, None) => Err(StaffError::OfficeRequired(role)),
            (false, Some(office)) => Err(StaffError::OfficeNotAllowed { role, office }),
            (_, office) => Ok(RoleGrant { role, office }),
        }
    }
}

/// A device's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Issues walk-in tickets and checks visitors in.
    Kiosk,
    /// Shows the calls in the waiting room.
    Display,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Kiosk => "kiosk",
            DeviceKind::Display => "display",
        }
    }
}

/// The SHA-256 of a bearer token, as 64 lowercase hex digits: all the log
/// keeps of a token, so a copy of the log opens nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash(String);

impl TokenHash {
    pub fn parse(input: &str) -> Result<Self, StaffError> {
        if input.len() == 64 && input.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(TokenHash(input.to_owned()))
        } else {
            Err(StaffError::InvalidTokenHash)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenHash {
    type Error = StaffError;
    fn try_from(value: String) -> Result<Self, StaffError> {
        TokenHash::parse(&value)
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> String {
        hash.0
    }
}

/// What a request is allowed to touch: one permission, at one office where
/// it is an office's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create offices and services, change their details.
    ManageCatalogue,
    /// Create, change and disable accounts; issue their tokens.
    ManageStaff,
    /// Change an existing office's opening hours and closed days.
    EditOpeningHours,
    /// Publish capacity.
    PublishCapacity,
    /// Close a day or part of it.
    CloseOffice,
    /// Register and revoke kiosks and displays.
    ManageDevices,
    /// Read the day list with names.
    ReadDayList,
    /// Cancel a booking on a citizen's behalf.
    CancelBooking,
    /// Issue walk-in tickets.
    IssueTicket,
    /// Check visitors in.
    CheckIn,
    /// Call visitors to counters and move their visit on.
    RunFloor,
    /// Read the call display.
    ReadDisplay,
    /// Read statistics.
    ReadStatistics,
    /// Read the log, traces and replay checks.
    Audit,
    /// Erase a citizen's personal data.
    ErasePersonalData,
}

impl Permission {
    /// Every permission, for tables of rules and tests over them.
    pub const ALL: [Permission; 15] = [
        Permission::ManageCatalogue,
        Permission::ManageStaff,
        Permission::EditOpeningHours,
        Permission::PublishCapacity,
        Permission::CloseOffice,
        Permission::ManageDevices,
        Permission::ReadDayList,
        Permission::CancelBooking,
        Permission::IssueTicket,
        Permission::CheckIn,
        Permission::RunFloor,
        Permission::ReadDisplay,
        Permission::ReadStatistics,
        Permission::Audit,
        Permission::ErasePersonalData,
    ];

    /// Whether `role`, held at `held_at` (its office, if bound to one), may
    /// do this at `office`.
    fn granted_by(self, role: Role, held_at: Option<&OfficeId>, office: Option<&OfficeId>) -> bool {
        use Permission as P;
        let at_own_office = || matches!((held_at, office), (Some(held), Some(asked)) if held == asked);
        match role {
            Role::Admin => true,
            Role::Auditor => matches!(self, P::ReadStatistics | P::Audit),
            Role::Lead => {
                matches!(
                    self,
                    P::EditOpeningHours
                        | P::PublishCapacity
                        | P::CloseOffice
                        | P::ManageDevices
                        | P::ReadDayList
                        | P::CancelBooking
                        | P::IssueTicket
                        | P::CheckIn
                        | P::RunFloor
                        | P::ReadDisplay
                        | P::ReadStatistics
                ) && at_own_office()
            }
            Role::Clerk => {
                matches!(
                    self,
                    P::ReadDayList | P::CancelBooking | P::IssueTicket | P::CheckIn | P::RunFloor | P::ReadDisplay
                ) && at_own_office()
            }
        }
    }
}

/// Who is asking, once their token or session was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator's `--admin-token`: everything.
    Operator,
    Staff {
        staff: StaffId,
        roles: Vec<RoleGrant>,
    },
    Device {
        device: DeviceId,
        office: OfficeId,
        kind: DeviceKind,
    },
}

impl Principal {
    /// The one rule of who may do what where (`office`: the office the request
    /// touches; `None` for what is nobody's office, such as the staff list).
    pub fn may(&self, permission: Permission, office: Option<&OfficeId>) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Staff { roles, .. } => roles
                .iter()
                .any(|grant| permission.granted_by(grant.role, grant.office.as_ref(), office)),
            Principal::Device { office: own, kind, .. } => {
                let allowed = match kind {
                    DeviceKind::Kiosk => matches!(permission, Permission::IssueTicket | Permission::CheckIn),
                    DeviceKind::Display => permission == Permission::ReadDisplay,
                };
                allowed && office == Some(own)
            }
        }
    }

    /// The actor its events are recorded under.
    pub fn actor(&self) -> crate::actor::Actor {
        use crate::actor::Actor;
        match self {
            Principal::Operator => Actor::Operator,
            Principal::Staff { staff, .. } => Actor::Staff(*staff),
            Principal::Device { device, .. } => Actor::Device(*device),
        }
    }

    /// The offices this principal works at (`None`: every office).
    pub fn offices(&self) -> Option<Vec<OfficeId>> {
        match self {
            Principal::Operator => None,
            Principal::Staff { roles, .. } => {
                if roles.iter().any(|g| !g.role.bound_to_office()) {
                    return None;
                }
                let mut offices: Vec<OfficeId> = roles.iter().filter_map(|g| g.office.clone()).collect();
                offices.sort();
                offices.dedup();
                Some(offices)
            }
            Principal::Device { office, .. } => Some(vec![office.clone()]),
        }
    }
}

/// An account as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffAccount {
    pub staff: StaffId,
    pub email: EmailAddress,
    pub name: CatalogueName,
    pub roles: Vec<RoleGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffDisabled {
    pub staff: StaffId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffTokenIssued {
    pub staff: StaffId,
    pub token_hash: TokenHash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistered {
    pub device: DeviceId,
    pub office: OfficeId,
    pub kind: DeviceKind,
    pub name: CatalogueName,
    pub token_hash: TokenHash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRevoked {
    pub device: DeviceId,
    pub office: OfficeId,
}

/// Everything that happens to the staff directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum StaffEvent {
    #[serde(rename = "staff.registered")]
    Registered(StaffAccount),
    /// Name or roles changed; a disabled account named again is enabled
    /// (its old tokens stay void).
    #[serde(rename = "staff.changed")]
    Changed(StaffAccount),
    #[serde(rename = "staff.disabled")]
    Disabled(StaffDisabled),
    #[serde(rename = "staff.token_issued")]
    TokenIssued(StaffTokenIssued),
    #[serde(rename = "device.registered")]
    DeviceRegistered(DeviceRegistered),
    #[serde(rename = "device.revoked")]
    DeviceRevoked(DeviceRevoked),
}

impl DomainEvent for StaffEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
        "staff.registered",
        "staff.changed",
        "staff.disabled",
        "staff.token_issued",
        "device.registered",
        "device.revoked",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            StaffEvent::Registered(_) => "staff.registered",
            StaffEvent::Changed(_) => "staff.changed",
            StaffEvent::Disabled(_) => "staff.disabled",
            StaffEvent::TokenIssued(_) => "staff.token_issued",
            StaffEvent::DeviceRegistered(_) => "device.registered",
            StaffEvent::DeviceRevoked(_) => "device.revoked",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        vec![StreamName::staff_directory()]
    }
}

/// One account in the directory's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub account: StaffAccount,
    pub enabled: bool,
}

/// One device in the directory's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    pub registered: DeviceRegistered,
    pub revoked: bool,
}

/// The directory folded from `staff-directory`: what decisions and the
/// token lookup both read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffDirectory {
    accounts: BTreeMap<StaffId, AccountState>,
    by_email: BTreeMap<EmailAddress, StaffId>,
    devices: BTreeMap<DeviceId, DeviceState>,
    /// Live token hashes: whose each is.
    tokens: BTreeMap<TokenHash, TokenOwner>,
}

/// Whom a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    Staff(StaffId),
    Device(DeviceId),
}

impl StaffDirectory {
    pub fn apply(&mut self, event: &StaffEvent) {
        match event {
            StaffEvent::Registered(account) | StaffEvent::Changed(account) => {
                self.by_email.insert(account.email.clone(), account.staff);
                self.accounts.insert(
                    account.staff,
                    AccountState {
                        account: account.clone(),
                        enabled: true,
                    },
                );
            }
            StaffEvent::Disabled(disabled) => {
                if let Some(state) = self.accounts.get_mut(&disabled.staff) {
                    state.enabled = false;
                }
                self.tokens
                    .retain(|_, owner| *owner != TokenOwner::Staff(disabled.staff));
            }
            StaffEvent::TokenIssued(issued) => {
                self.tokens
                    .insert(issued.token_hash.clone(), TokenOwner::Staff(issued.staff));
            }
            StaffEvent::DeviceRegistered(registered) => {
                self.tokens
                    .insert(registered.token_hash.clone(), TokenOwner::Device(registered.device));
                self.devices.insert(
                    registered.device,
                    DeviceState {
                        registered: registered.clone(),
                        revoked: false,
                    },
                );
            }
            StaffEvent::DeviceRevoked(revoked) => {
                if let Some(state) = self.devices.get_mut(&revoked.device) {
                    state.revoked = true;
                }
                self.tokens
                    .retain(|_, owner| *owner != TokenOwner::Device(revoked.device));
            }
        }
    }

    pub fn account_by_email(&self, email: &EmailAddress) -> Option<&AccountState> {
        self.by_email.get(email).and_then(|id| self.accounts.get(id))
    }

    pub fn account(&self, staff: &StaffId) -> Option<&AccountState> {
        self.accounts.get(staff)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &AccountState> {
        self.accounts.values()
    }

    pub fn device(&self, device: &DeviceId) -> Option<&DeviceState> {
        self.devices.get(device)
    }

    /// An office's devices, revoked ones included (the page shows them struck).
    pub fn devices_of<'a>(&'a self, office: &'a OfficeId) -> impl Iterator<Item = &'a DeviceState> + 'a {
        self.devices.values().filter(move |d| &d.registered.office == office)
    }

    /// Who a live token lets in: an enabled account or a device not revoked.
    pub fn principal_for(&self, token: &TokenHash) -> Option<Principal> {
        match self.tokens.get(token)? {
            TokenOwner::Staff(staff) => self.principal_of(staff),
            TokenOwner::Device(device) => {
                let state = self.devices.get(device).filter(|d| !d.revoked)?;
                Some(Principal::Device {
                    device: *device,
                    office: state.registered.office.clone(),
                    kind: state.registered.kind,
                })
            }
        }
    }

    /// An enabled account as a principal (a staff session's holder).
    pub fn principal_of(&self, staff: &StaffId) -> Option<Principal> {
        let state = self.accounts.get(staff).filter(|a| a.enabled)?;
        Some(Principal::Staff {
            staff: *staff,
            roles: state.account.roles.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StaffError {
    #[error("unknown role {0:?}: one of admin, lead, clerk, auditor")]
    UnknownRole(String),
    #[error("the role {0} needs an office")]
    OfficeRequired(Role),
    #[error("the role {role} covers every office; do not name one (got {office})")]
    OfficeNotAllowed { role: Role, office: OfficeId },
    #[error("an account holds 1 to {MAX_ROLES} roles, not {0}")]
    RoleCount(usize),
    #[error("no account for {0}")]
    UnknownAccount(EmailAddress),
    #[error("the account of {0} is disabled")]
    AccountDisabled(EmailAddress),
    #[error("office {0} is not registered")]
    UnknownOffice(OfficeId),
    #[error("no device {0} at this office")]
    UnknownDevice(DeviceId),
    #[error("a token hash is 64 lowercase hex digits")]
    InvalidTokenHash,
    #[error("this token is already in use")]
    TokenInUse,
}

/// What may be asked of the directory. Ids and token hashes come in as
/// arguments (the domain draws no randomness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffCommand {
    /// Create or change an account (idempotent PUT).
    Put {
        new_id: StaffId,
        email: EmailAddress,
        name: CatalogueName,
        roles: Vec<RoleGrant>,
    },
    Disable {
        email: EmailAddress,
    },
    IssueToken {
        email: EmailAddress,
        token_hash: TokenHash,
    },
    RegisterDevice {
        device: DeviceId,
        office: OfficeId,
        /// The office is registered (checked by the caller on the catalogue).
        office_known: bool,
        kind: DeviceKind,
        name: CatalogueName,
        token_hash: TokenHash,
    },
    RevokeDevice {
        office: OfficeId,
        device: DeviceId,
    },
}

/// Decides on `staff-directory`.
pub struct StaffDecider;

impl Decider for StaffDecider {
    type Command = StaffCommand;
    type Event = StaffEvent;
    type State = StaffDirectory;
    type Error = StaffError;

    fn decide(command: &StaffCommand, state: &StaffDirectory) -> Result<Vec<StaffEvent>, StaffError> {
        match command {
            StaffCommand::Put {
                new_id,
                email,
                name,
                roles,
            } => {
                if roles.is_empty() || roles.len() > MAX_ROLES {
                    return Err(StaffError::RoleCount(roles.len()));
                }
                let mut roles = roles.clone();
                roles.sort();
                roles.dedup();
                Ok(match state.account_by_email(email) {
                    None => vec![StaffEvent::Registered(StaffAccount {
                        staff: *new_id,
                        email: email.clone(),
                        name: name.clone(),
                        roles,
                    })],
                    Some(current) => {
                        let account = StaffAccount {
                            staff: current.account.staff,
                            email: email.clone(),
                            name: name.clone(),
                            roles,
                        };
                        if current.enabled && current.account == account {
                            vec![]
                        } else {
                            vec![StaffEvent::Changed(account)]
                        }
                    }
                })
            }
            StaffCommand::Disable { email } => {
                let current = state
                    .account_by_email(email)
                    .ok_or_else(|| StaffError::UnknownAccount(email.clone()))?;
                Ok(if current.enabled {
                    vec![StaffEvent::Disabled(StaffDisabled {
                        staff: current.account.staff,
                    })]
                } else {
                    vec![]
                })
            }
            StaffCommand::IssueToken { email, token_hash } => {
                let current = state
                    .account_by_email(email)
                    .ok_or_else(|| StaffError::UnknownAccount(email.clone()))?;
                if !current.enabled {
                    return Err(StaffError::AccountDisabled(email.clone()));
                }
                if state.tokens.contains_key(token_hash) {
                    return Err(StaffError::TokenInUse);
                }
                Ok(vec![StaffEvent::TokenIssued(StaffTokenIssued {
                    staff: current.account.staff,
                    token_hash: token_hash.clone(),
                })])
            }
            StaffCommand::RegisterDevice {
                device,
                office,
                office_known,
                kind,
                name,
                token_hash,
            } => {
                if !office_known {
                    return Err(StaffError::UnknownOffice(office.clone()));
                }
                if state.tokens.contains_key(token_hash) {
                    return Err(StaffError::TokenInUse);
                }
                Ok(vec![StaffEvent::DeviceRegistered(DeviceRegistered {
                    device: *device,
                    office: office.clone(),
                    kind: *kind,
                    name: name.clone(),
                    token_hash: token_hash.clone(),
                })])
            }
            StaffCommand::RevokeDevice { office, device } => {
                let current = state
                    .devices
                    .get(device)
                    .filter(|d| &d.registered.office == office)
                    .ok_or(StaffError::UnknownDevice(*device))?;
                Ok(if current.revoked {
                    vec![]
                } else {
                    vec![StaffEvent::DeviceRevoked(DeviceRevoked {
                        device: *device,
                        office: office.clone(),
                    })]
                })
            }
        }
    }

    fn evolve(mut state: StaffDirectory, event: &StaffEvent) -> StaffDirectory {
        state.apply(event);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, given_no_events};
    use ulid::Ulid;

    fn email(text: &str) -> EmailAddress {
        text.parse().unwrap()
    }

    fn office(text: &str) -> OfficeId {
        text.parse().unwrap()
    }

    fn staff_id(n: u64) -> StaffId {
        StaffId::from_ulid(Ulid::from_parts(n, 0))
    }

    fn device_id(n: u64) -> DeviceId {
        DeviceId::from_ulid(Ulid::from_parts(n, 1))
    }

    fn hash(digit: char) -> TokenHash {
        TokenHash::parse(&digit.to_string().repeat(64)).unwrap()
    }

    fn clerk_at(at: &str) -> RoleGrant {
        RoleGrant::new(Role::Clerk, Some(office(at))).unwrap()
    }

    fn account(n: u64, address: &str, roles: Vec<RoleGrant>) -> StaffAccount {
        StaffAccount {
            staff: staff_id(n),
            email: email(address),
            name: "Eva Muster".parse().unwrap(),
            roles,
        }
    }

    fn put(n: u64, address: &str, roles: Vec<RoleGrant>) -> StaffCommand {
        StaffCommand::Put {
            new_id: staff_id(n),
            email: email(address),
            name: "Eva Muster".parse().unwrap(),
            roles,
        }
    }

    #[test]
    fn a_new_address_registers_an_account() {
        given_no_events::<StaffDecider>()
            .when(put(1, "eva@stadt.example", vec![clerk_at("mitte")]))
            .then([StaffEvent::Registered(account(
                1,
                "eva@stadt.example",
                vec![clerk_at("mitte")],
            ))]);
    }

    #[test]
    fn a_known_address_keeps_its_account_and_changes_its_roles() {
        let lead = RoleGrant::new(Role::Lead, Some(office("mitte"))).unwrap();
        given::<StaffDecider>([StaffEvent::Registered(account(
            1,
            "eva@stadt.example",
            vec![clerk_at("mitte")],
        ))])
        .when(put(2, "eva@stadt.example", vec![lead.clone()]))
        .then([StaffEvent::Changed(account(1, "eva@stadt.example", vec![lead]))]);
    }

    #[test]
    fn the_same_put_twice_changes_nothing() {
        given::<StaffDecider>([StaffEvent::Registered(account(
            1,
            "eva@stadt.example",
            vec![clerk_at("mitte")],
        ))])
        .when(put(2, "eva@stadt.example", vec![clerk_at("mitte"), clerk_at("mitte")]))
        .then([]);
    }

    #[test]
    fn a_put_of_a_disabled_account_enables_it() {
        given::<StaffDecider>([
            StaffEvent::Registered(account(1, "eva@stadt.example", vec![clerk_at("mitte")])),
            StaffEvent::Disabled(StaffDisabled { staff: staff_id(1) }),
        ])
        .when(put(2, "eva@stadt.example", vec![clerk_at("mitte")]))
        .then([StaffEvent::Changed(account(
            1,
            "eva@stadt.example",
            vec![clerk_at("mitte")],
        ))]);
    }

    #[test]
    fn an_account_needs_one_to_twenty_roles() {
        given_no_events::<StaffDecider>()
            .when(put(1, "eva@stadt.example", vec![]))
            .then_error(StaffError::RoleCount(0));
    }

    #[test]
    fn lead_and_clerk_need_an_office_admin_and_auditor_have_none() {
        assert_eq!(
            RoleGrant::new(Role::Clerk, None),
            Err(StaffError::OfficeRequired(Role::Clerk))
        );
        assert_eq!(
            RoleGrant::new(Role::Lead, None),
            Err(StaffError::OfficeRequired(Role::Lead))
        );
        assert!(matches!(
            RoleGrant::new(Role::Auditor, Some(office("mitte"))),
            Err(StaffError::OfficeNotAllowed { .. })
        ));
        assert!(RoleGrant::new(Role::Admin, None).is_ok());
        assert_eq!("boss".parse::<Role>(), Err(StaffError::UnknownRole("boss".into())));
    }

    #[test]
    fn disabling_voids_every_token_of_the_account() {
        let history = [
            StaffEvent::Registered(account(1, "eva@stadt.example", vec![clerk_at("mitte")])),
            StaffEvent::TokenIssued(StaffTokenIssued {
                staff: staff_id(1),
                token_hash: hash('a'),
            }),
            StaffEvent::TokenIssued(StaffTokenIssued {
                staff: staff_id(1),
                token_hash: hash('b'),
            }),
        ];
        let before = StaffDecider::fold(&history);
        assert!(before.principal_for(&hash('a')).is_some());
        given::<StaffDecider>(history.clone())
            .when(StaffCommand::Disable {
                email: email("eva@stadt.example"),
            })
            .then([StaffEvent::Disabled(StaffDisabled { staff: staff_id(1) })]);
        let mut after = before;
        after.apply(&StaffEvent::Disabled(StaffDisabled { staff: staff_id(1) }));
        assert_eq!(after.principal_for(&hash('a')), None);
        assert_eq!(after.principal_for(&hash('b')), None);
        // Enabled again: old tokens stay void.
        after.apply(&StaffEvent::Changed(account(
            1,
            "eva@stadt.example",
            vec![clerk_at("mitte")],
        )));
        assert_eq!(after.principal_for(&hash('a')), None);
        assert!(after.principal_of(&staff_id(1)).is_some());
    }

    #[test]
    fn a_disabled_account_gets_no_token_and_an_unknown_one_neither() {
        given::<StaffDecider>([
            StaffEvent::Registered(account(1, "eva@stadt.example", vec![clerk_at("mitte")])),
            StaffEvent::Disabled(StaffDisabled { staff: staff_id(1) }),
        ])
        .when(StaffCommand::IssueToken {
            email: email("eva@stadt.example"),
            token_hash: hash('c'),
        })
        .then_error(StaffError::AccountDisabled(email("eva@stadt.example")));
        given_no_events::<StaffDecider>()
            .when(StaffCommand::Disable {
                email: email("nobody@stadt.example"),
            })
            .then_error(StaffError::UnknownAccount(email("nobody@stadt.example")));
    }

    #[test]
    fn a_device_is_bound_to_its_office_and_revoking_voids_its_token() {
        let registered = DeviceRegistered {
            device: device_id(7),
            office: office("mitte"),
            kind: DeviceKind::Kiosk,
            name: "Eingang".parse().unwrap(),
            token_hash: hash('d'),
        };
        given_no_events::<StaffDecider>()
            .when(StaffCommand::RegisterDevice {
                device: device_id(7),
                office: office("mitte"),
                office_known: true,
                kind: DeviceKind::Kiosk,
                name: "Eingang".parse().unwrap(),
                token_hash: hash('d'),
            })
            .then([StaffEvent::DeviceRegistered(registered.clone())]);
        given_no_events::<StaffDecider>()
            .when(StaffCommand::RegisterDevice {
                device: device_id(7),
                office: office("nirgendwo"),
                office_known: false,
                kind: DeviceKind::Kiosk,
                name: "Eingang".parse().unwrap(),
                token_hash: hash('d'),
            })
            .then_error(StaffError::UnknownOffice(office("nirgendwo")));
        // Another office's lead cannot revoke it by naming their own office.
        given::<StaffDecider>([StaffEvent::DeviceRegistered(registered.clone())])
            .when(StaffCommand::RevokeDevice {
                office: office("nord"),
                device: device_id(7),
            })
            .then_error(StaffError::UnknownDevice(device_id(7)));
        given::<StaffDecider>([StaffEvent::DeviceRegistered(registered.clone())])
            .when(StaffCommand::RevokeDevice {
                office: office("mitte"),
                device: device_id(7),
            })
            .then([StaffEvent::DeviceRevoked(DeviceRevoked {
                device: device_id(7),
                office: office("mitte"),
            })]);
        let mut directory = StaffDecider::fold(&[StaffEvent::DeviceRegistered(registered)]);
        assert_eq!(
            directory.principal_for(&hash('d')),
            Some(Principal::Device {
                device: device_id(7),
                office: office("mitte"),
                kind: DeviceKind::Kiosk
            })
        );
        directory.apply(&StaffEvent::DeviceRevoked(DeviceRevoked {
            device: device_id(7),
            office: office("mitte"),
        }));
        assert_eq!(directory.principal_for(&hash('d')), None);
    }

    #[test]
    fn a_token_hash_is_used_once() {
        given::<StaffDecider>([
            StaffEvent::Registered(account(1, "eva@stadt.example", vec![clerk_at("mitte")])),
            StaffEvent::TokenIssued(StaffTokenIssued {
                staff: staff_id(1),
                token_hash: hash('e'),
            }),
        ])
        .when(StaffCommand::IssueToken {
            email: email("eva@stadt.example"),
            token_hash: hash('e'),
        })
        .then_error(StaffError::TokenInUse);
        assert_eq!(TokenHash::parse("ABC"), Err(StaffError::InvalidTokenHash));
        assert_eq!(TokenHash::parse(&"A".repeat(64)), Err(StaffError::InvalidTokenHash));
    }

    /// The rule table, written out: for each role, the permissions it has at
    /// its own office, at another office, and where no office is concerned.
    #[test]
    fn who_may_do_what_where() {
        use Permission as P;
        let mitte = office("mitte");
        let nord = office("nord");
        let staff = |role, at: Option<&str>| Principal::Staff {
            staff: staff_id(1),
            roles: vec![RoleGrant::new(role, at.map(office)).unwrap()],
        };
        let lead_own = [
            P::EditOpeningHours,
            P::PublishCapacity,
            P::CloseOffice,
            P::ManageDevices,
            P::ReadDayList,
            P::CancelBooking,
            P::IssueTicket,
            P::CheckIn,
            P::RunFloor,
            P::ReadDisplay,
            P::ReadStatistics,
        ];
        let clerk_own = [
            P::ReadDayList,
            P::CancelBooking,
            P::IssueTicket,
            P::CheckIn,
            P::RunFloor,
            P::ReadDisplay,
        ];
        let cases: Vec<(&str, Principal, Vec<P>, Vec<P>)> = vec![
            ("operator", Principal::Operator, P::ALL.to_vec(), P::ALL.to_vec()),
            ("admin", staff(Role::Admin, None), P::ALL.to_vec(), P::ALL.to_vec()),
            (
                "auditor",
                staff(Role::Auditor, None),
                vec![P::ReadStatistics, P::Audit],
                vec![P::ReadStatistics, P::Audit],
            ),
            ("lead", staff(Role::Lead, Some("mitte")), lead_own.to_vec(), vec![]),
            ("clerk", staff(Role::Clerk, Some("mitte")), clerk_own.to_vec(), vec![]),
            (
                "kiosk",
                Principal::Device {
                    device: device_id(1),
                    office: mitte.clone(),
                    kind: DeviceKind::Kiosk,
                },
                vec![P::IssueTicket, P::CheckIn],
                vec![],
            ),
            (
                "display",
                Principal::Device {
                    device: device_id(2),
                    office: mitte.clone(),
                    kind: DeviceKind::Display,
                },
                vec![P::ReadDisplay],
                vec![],
            ),
        ];
        for (label, principal, at_own, nowhere) in cases {
            for permission in P::ALL {
                assert_eq!(
                    principal.may(permission, Some(&mitte)),
                    at_own.contains(&permission),
                    "{label} {permission:?} at its own office"
                );
                let everywhere = matches!(label, "operator" | "admin" | "auditor");
                assert_eq!(
                    principal.may(permission, Some(&nord)),
                    everywhere && at_own.contains(&permission),
                    "{label} {permission:?} at another office"
                );
                assert_eq!(
                    principal.may(permission, None),
                    nowhere.contains(&permission),
                    "{label} {permission:?} where no office is concerned"
                );
            }
        }
    }

    #[test]
    fn a_lead_of_one_office_and_clerk_of_another_has_each_where_it_holds() {
        let principal = Principal::Staff {
            staff: staff_id(1),
            roles: vec![
                RoleGrant::new(Role::Lead, Some(office("mitte"))).unwrap(),
                clerk_at("nord"),
            ],
        };
        assert!(principal.may(Permission::PublishCapacity, Some(&office("mitte"))));
        assert!(!principal.may(Permission::PublishCapacity, Some(&office("nord"))));
        assert!(principal.may(Permission::ReadDayList, Some(&office("nord"))));
        assert_eq!(principal.offices(), Some(vec![office("mitte"), office("nord")]));
    }

    #[test]
    fn events_keep_their_stored_shape() {
        let event = StaffEvent::TokenIssued(StaffTokenIssued {
            staff: staff_id(1),
            token_hash: hash('f'),
        });
        assert_eq!(event.event_type(), "staff.token_issued");
        assert_eq!(event.streams(), vec![StreamName::staff_directory()]);
        let back = StaffEvent::from_stored("staff.token_issued", event.to_data()).unwrap();
        assert_eq!(back, event);
        let roles = serde_json::to_value(vec![clerk_at("mitte"), RoleGrant::new(Role::Admin, None).unwrap()]).unwrap();
        assert_eq!(
            roles,
            serde_json::json!([{"role": "clerk", "office": "mitte"}, {"role": "admin"}])
        );
    }
}
