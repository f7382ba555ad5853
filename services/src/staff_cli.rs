//! `terminagent staff add`: the first admin (and any account) made on the
//! database itself, through the same decision as `PUT /api/v1/staff/{email}`,
//! recorded as the operator's act.

use std::sync::Arc;

use terminagent_domain::{
    Actor, CatalogueName, EmailAddress, OfficeDecider, OfficeId, Role, RoleGrant, StaffError, StreamName,
};

use crate::application::staff::{AccountOutcome, PasswordError, one_time_password, put_account, set_password};
use crate::application::{ExecuteError, Executor, SystemClock};
use crate::config::StaffAddArgs;

#[derive(Debug, thiserror::Error)]
pub enum StaffCliError {
    #[error("--email: {0}")]
    Email(String),
    #[error("--name: {0}")]
    Name(String),
    #[error("{0}")]
    Role(StaffError),
    #[error("--office: {0}")]
    Office(String),
    #[error("the account was refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] crate::app::StartError),
    #[error("reading the log: {0}")]
    Storage(#[from] terminagent_eventstore::StorageError),
}

/// What `staff add` made: the account and its one-time password.
pub struct AddedAccount {
    pub outcome: AccountOutcome,
    pub email: EmailAddress,
    pub one_time_password: String,
}

pub async fn add(args: &StaffAddArgs) -> Result<AddedAccount, StaffCliError> {
    let email = EmailAddress::parse(&args.email).map_err(|e| StaffCliError::Email(e.to_string()))?;
    let name = CatalogueName::parse(&args.name).map_err(|e| StaffCliError::Name(e.to_string()))?;
    let role: Role = args.role.parse().map_err(StaffCliError::Role)?;
    let office = args
        .office
        .as_deref()
        .map(|office| OfficeId::parse(office).map_err(|e| StaffCliError::Office(format!("{office:?}: {e}"))))
        .transpose()?;
    let grant = RoleGrant::new(role, office.clone()).map_err(StaffCliError::Role)?;
    let store = crate::app::open_store(&args.database.database_url).await?;
    let executor = Executor::new(store, Arc::new(SystemClock));
    if let Some(office) = &office
        && executor
            .state_of::<OfficeDecider>(&[StreamName::office(office)])
            .await?
            .is_none()
    {
        return Err(StaffCliError::Office(format!("{office} is not registered")));
    }
    let outcome = put_account(
        &executor,
        executor.new_cause(Actor::Operator),
        email.clone(),
        name,
        vec![grant],
    )
    .await
    .map_err(|error| match error {
        ExecuteError::Storage(error) => StaffCliError::Storage(error),
        other => StaffCliError::Refused(other.to_string()),
    })?;
    let password = one_time_password();
    set_password(&executor, outcome.staff(), &password, true).await?;
    Ok(AddedAccount {
        outcome,
        email,
        one_time_password: password,
    })
}
