//! An admin's pages: staff accounts (`/staff/admin/personal`), offices
//! (`/staff/admin/standorte`) and services (`/staff/admin/dienstleistungen`),
//! through the same decisions as `PUT /api/v1/staff/{email}`,
//! `PUT /api/v1/offices/{office}` and `PUT /api/v1/services/{service}`.
//! One-time passwords are shown once, on the answer page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use terminagent_domain::{
    CatalogueName, EmailAddress, OfficeAddress, OfficeDecider, OfficeDetails, OfficeId, OfficeTimeZone, Permission,
    RegisterOffice, RegisterService, RegistrationOutcome, Role, RoleGrant, ServiceDecider, ServiceError, ServiceId,
    StaffError, StreamName,
};

use super::super::PageLink;
use super::render;
use super::session::{Member, Posted, Signed};
use super::{
    FieldErrors, Frame, Pairs, execute_failure_page, field, internal_page, message_page, no_permission_page,
    not_found_page, text_error,
};
use crate::application::FirstRead;
use crate::application::staff::{self as directory, AccountOutcome, one_time_password, set_password};
use crate::http::AppState;

const ROLES: [Role; 4] = [Role::Clerk, Role::Lead, Role::Admin, Role::Auditor];

// ------------------------------------------------------------------ staff

struct AccountRow {
    name: String,
    email: String,
    roles: String,
    enabled: bool,
    edit_href: String,
    /// The member's own account: not disabled from here.
    own: bool,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// A password just issued, shown this once.
struct IssuedPassword {
    email: String,
    password: String,
}

#[derive(Template)]
#[template(path = "staff/accounts.html")]
struct AccountsPage {
    frame: Frame,
    accounts: Vec<AccountRow>,
    email: String,
    name: String,
    roles: Vec<Choice>,
    offices: Vec<Choice>,
    no_office: bool,
    issued: Option<IssuedPassword>,
    notice: Option<String>,
    errors: FieldErrors,
}

/// The form's values: e-mail, name, role, office.
#[derive(Default)]
struct AccountValues {
    email: String,
    name: String,
    role: String,
    office: String,
}

fn grants_label(state: &AppState, roles: &[RoleGrant]) -> String {
    let catalogue = state.catalogue.read();
    let labels: Vec<String> = roles
        .iter()
        .map(|grant| match &grant.office {
            Some(office) => {
                let name = catalogue
                    .office(office)
                    .map_or_else(|| office.to_string(), |entry| entry.name.clone());
                format!("{} – {name}", grant.role.german())
            }
            None => grant.role.german().to_owned(),
        })
        .collect();
    labels.join("; ")
}

fn accounts_page_of(state: &AppState, member: &Member, values: AccountValues, errors: FieldErrors) -> AccountsPage {
    let mut accounts: Vec<AccountRow> = state
        .staff
        .read()
        .accounts()
        .map(|account| AccountRow {
            name: account.account.name.to_string(),
            email: account.account.email.to_string(),
            roles: grants_label(state, &account.account.roles),
            enabled: account.enabled,
            edit_href: format!(
                "/staff/admin/personal?konto={}#konto",
                super::session::percent_encode(account.account.email.as_str())
            ),
            own: account.account.staff == member.staff,
        })
        .collect();
    accounts.sort_by_key(|account| account.email.to_lowercase());
    let offices = state
        .catalogue
        .read()
        .offices()
        .map(|office| Choice {
            selected: office.id == values.office,
            value: office.id.clone(),
            label: office.name.clone(),
        })
        .collect();
    AccountsPage {
        frame: Frame::of(Some(member)),
        accounts,
        roles: ROLES
            .iter()
            .map(|role| Choice {
                value: role.as_str().to_owned(),
                label: role.german().to_owned(),
                selected: role.as_str() == values.role,
            })
            .collect(),
        offices,
        no_office: values.office.is_empty(),
        email: values.email,
        name: values.name,
        issued: None,
        notice: None,
        errors,
    }
}

/// `GET /staff/admin/personal[?konto=EMAIL]`: accounts, and the form (filled
/// with that account's details).
pub(super) async fn accounts_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    Query(query): Query<Pairs>,
) -> Response {
    if !member.may(Permission::ManageStaff, None) {
        return no_permission_page(&member);
    }
    let mut values = AccountValues::default();
    if let Ok(email) = EmailAddress::parse(field(&query, "konto"))
        && let Some(account) = state.staff.read().account_by_email(&email)
    {
        let grant = account.account.roles.first();
        values = AccountValues {
            email: account.account.email.to_string(),
            name: account.account.name.to_string(),
            role: grant.map(|grant| grant.role.as_str().to_owned()).unwrap_or_default(),
            office: grant
                .and_then(|grant| grant.office.as_ref())
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
    }
    render(
        StatusCode::OK,
        &accounts_page_of(&state, &member, values, FieldErrors::default()),
    )
}

fn staff_refusal(member: &Member, error: StaffError) -> Response {
    match error {
        StaffError::UnknownAccount(_) => not_found_page(Some(member), "Dieses Konto gibt es nicht"),
        StaffError::AccountDisabled(email) => message_page(
            Some(member),
            StatusCode::CONFLICT,
            "Dieses Konto ist deaktiviert",
            &[&format!(
                "Das Konto von {email} ist deaktiviert. Speichern Sie es im Formular erneut, um es wieder zu aktivieren."
            )],
            Some(PageLink::new("/staff/admin/personal", "Zurück zum Personal")),
        ),
        other => message_page(
            Some(member),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Das Konto wurde nicht gespeichert",
            &[&other.to_string()],
            Some(PageLink::new("/staff/admin/personal", "Zurück zum Personal")),
        ),
    }
}

/// A one-time password for `staff`, set beside the log; every session of
/// the account ends (whoever had it signs in anew).
async fn issue_password(state: &AppState, staff: terminagent_domain::StaffId) -> Result<String, Response> {
    let password = one_time_password();
    set_password(&state.executor, staff, &password, true)
        .await
        .map_err(|error| internal_page(None, &error))?;
    state
        .executor
        .store()
        .staff_credentials()
        .close_sessions_of(&staff.to_string())
        .await
        .map_err(|error| internal_page(None, &error))?;
    Ok(password)
}

/// `POST /staff/admin/personal`: creates an account (with a one-time
/// password, shown once) or changes its name and role.
pub(super) async fn put_account(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { member, fields } = posted;
    if !member.may(Permission::ManageStaff, None) {
        return no_permission_page(&member);
    }
    let values = AccountValues {
        email: field(&fields, "email").to_owned(),
        name: field(&fields, "name").to_owned(),
        role: field(&fields, "rolle").to_owned(),
        office: field(&fields, "buero").to_owned(),
    };
    let mut errors = FieldErrors::default();
    let email = EmailAddress::parse(&values.email).ok();
    if email.is_none() {
        errors.add(
            "email",
            "Bitte geben Sie eine gültige E-Mail-Adresse an, zum Beispiel eva.muster@stadt.de.",
        );
    }
    let name = CatalogueName::parse(&values.name)
        .map_err(|error| errors.add("name", text_error(error, "Bitte geben Sie den Namen an.")))
        .ok();
    let role: Option<Role> = values.role.parse().ok();
    if role.is_none() {
        errors.add("rolle", "Bitte wählen Sie eine Rolle.");
    }
    let mut office = None;
    if matches!(role, Some(Role::Lead | Role::Clerk)) {
        office = OfficeId::parse(&values.office)
            .ok()
            .filter(|office| state.catalogue.read().office(office).is_some());
        if office.is_none() {
            errors.add(
                "buero",
                "Leitung und Sachbearbeitung gehören zu einem Bürgerbüro: bitte wählen Sie es.",
            );
        }
    }
    let grant = role.and_then(|role| RoleGrant::new(role, office).ok());
    let (Some(email), Some(name), Some(grant)) = (email, name, grant) else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &accounts_page_of(&state, &member, values, errors),
        );
    };
    if !errors.is_empty() {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &accounts_page_of(&state, &member, values, errors),
        );
    }
    let cause = state.new_cause(member.principal.actor());
    let outcome = match directory::put_account(&state.executor, cause, email.clone(), name, vec![grant]).await {
        Ok(outcome) => outcome,
        Err(error) => return execute_failure_page(&member, error, |refused| staff_refusal(&member, refused)),
    };
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let mut page = accounts_page_of(&state, &member, AccountValues::default(), FieldErrors::default());
    match outcome {
        AccountOutcome::Created(staff) => {
            let password = match issue_password(&state, staff).await {
                Ok(password) => password,
                Err(response) => return response,
            };
            page.issued = Some(IssuedPassword {
                email: email.to_string(),
                password,
            });
            render(StatusCode::CREATED, &page)
        }
        AccountOutcome::Updated(_) | AccountOutcome::Unchanged(_) => {
            page.notice = Some(format!("Das Konto von {email} ist gespeichert."));
            render(StatusCode::OK, &page)
        }
    }
}

/// The account a button of the list names, enabled or not.
fn named_account(state: &AppState, fields: &Pairs) -> Option<(terminagent_domain::StaffId, EmailAddress, bool)> {
    let email = EmailAddress::parse(field(fields, "email")).ok()?;
    let directory = state.staff.read();
    let account = directory.account_by_email(&email)?;
    Some((account.account.staff, email, account.enabled))
}

/// `POST /staff/admin/personal/einmalpasswort`: a new one-time password, shown once.
pub(super) async fn issue_one_time_password(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { member, fields } = posted;
    if !member.may(Permission::ManageStaff, None) {
        return no_permission_page(&member);
    }
    let Some((staff, email, enabled)) = named_account(&state, &fields) else {
        return not_found_page(Some(&member), "Dieses Konto gibt es nicht");
    };
    if !enabled {
        return staff_refusal(&member, StaffError::AccountDisabled(email));
    }
    let password = match issue_password(&state, staff).await {
        Ok(password) => password,
        Err(response) => return response,
    };
    let mut page = accounts_page_of(&state, &member, AccountValues::default(), FieldErrors::default());
    page.issued = Some(IssuedPassword {
        email: email.to_string(),
        password,
    });
    render(StatusCode::OK, &page)
}

/// `POST /staff/admin/personal/deaktivieren`: disables the account; its
/// tokens and sessions stop at once.
pub(super) async fn disable_account(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { member, fields } = posted;
    if !member.may(Permission::ManageStaff, None) {
        return no_permission_page(&member);
    }
    let Some((staff, email, _)) = named_account(&state, &fields) else {
        return not_found_page(Some(&member), "Dieses Konto gibt es nicht");
    };
    if staff == member.staff {
        return message_page(
            Some(&member),
            StatusCode::CONFLICT,
            "Das eigene Konto bleibt aktiv",
            &["Sie können Ihr eigenes Konto nicht deaktivieren; das muss eine andere Person der Administration tun."],
            Some(PageLink::new("/staff/admin/personal", "Zurück zum Personal")),
        );
    }
    let cause = state.new_cause(member.principal.actor());
    if let Err(error) = directory::disable_account(&state.executor, cause, email.clone()).await {
        return execute_failure_page(&member, error, |refused| staff_refusal(&member, refused));
    }
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let credentials = state.executor.store().staff_credentials();
    if let Err(error) = credentials.close_sessions_of(&staff.to_string()).await {
        return internal_page(Some(&member), &error);
    }
    let mut page = accounts_page_of(&state, &member, AccountValues::default(), FieldErrors::default());
    page.notice = Some(format!(
        "Das Konto von {email} ist deaktiviert; seine Sitzungen und Zugangstoken gelten nicht mehr."
    ));
    render(StatusCode::OK, &page)
}

// ---------------------------------------------------------------- offices

struct OfficeRow {
    id: String,
    name: String,
    address: String,
    timezone: String,
    edit_href: String,
}

#[derive(Template)]
#[template(path = "staff/offices.html")]
struct OfficesPage {
    frame: Frame,
    offices: Vec<OfficeRow>,
    id: String,
    name: String,
    address: String,
    timezone: String,
    notice: Option<String>,
    /// After registering a new office: on to its hours.
    hours_href: Option<String>,
    errors: FieldErrors,
}

#[derive(Default)]
struct OfficeValues {
    id: String,
    name: String,
    address: String,
    timezone: String,
}

fn offices_page_of(state: &AppState, member: &Member, values: OfficeValues, errors: FieldErrors) -> OfficesPage {
    let offices = state
        .catalogue
        .read()
        .offices()
        .map(|office| OfficeRow {
            id: office.id.clone(),
            name: office.name.clone(),
            address: office.address.clone(),
            timezone: office.timezone.clone(),
            edit_href: format!("/staff/admin/standorte?standort={}#standort", office.id),
        })
        .collect();
    OfficesPage {
        frame: Frame::of(Some(member)),
        offices,
        id: values.id,
        name: values.name,
        address: values.address,
        timezone: if values.timezone.is_empty() {
            "Europe/Berlin".to_owned()
        } else {
            values.timezone
        },
        notice: None,
        hours_href: None,
        errors,
    }
}

/// `GET /staff/admin/standorte[?standort=ID]`.
pub(super) async fn offices_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    Query(query): Query<Pairs>,
) -> Response {
    if !member.may(Permission::ManageCatalogue, None) {
        return no_permission_page(&member);
    }
    let mut values = OfficeValues::default();
    if let Ok(id) = OfficeId::parse(field(&query, "standort"))
        && let Some(office) = state.catalogue.read().office(&id)
    {
        values = OfficeValues {
            id: office.id.clone(),
            name: office.name.clone(),
            address: office.address.clone(),
            timezone: office.timezone.clone(),
        };
    }
    render(
        StatusCode::OK,
        &offices_page_of(&state, &member, values, FieldErrors::default()),
    )
}

/// `POST /staff/admin/standorte`: registers an office or changes its name,
/// address and zone; its hours, holidays and closed days stay.
pub(super) async fn put_office(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { member, fields } = posted;
    if !member.may(Permission::ManageCatalogue, None) {
        return no_permission_page(&member);
    }
    let values = OfficeValues {
        id: field(&fields, "kennung").to_owned(),
        name: field(&fields, "name").to_owned(),
        // Browsers send a textarea's line breaks as CRLF; addresses keep LF.
        address: fields
            .iter()
            .rev()
            .find(|(key, _)| key == "anschrift")
            .map_or_else(String::new, |(_, value)| value.trim().replace("\r\n", "\n")),
        timezone: field(&fields, "zeitzone").to_owned(),
    };
    let mut errors = FieldErrors::default();
    let id = OfficeId::parse(&values.id)
        .map_err(|_| {
            errors.add(
                "kennung",
                "Die Kennung besteht aus 1 bis 64 Kleinbuchstaben, Ziffern und Bindestrichen, zum Beispiel „stadtmitte“.",
            )
        })
        .ok();
    let name = CatalogueName::parse(&values.name)
        .map_err(|error| {
            errors.add(
                "name",
                text_error(error, "Bitte geben Sie den Namen des Bürgerbüros an."),
            )
        })
        .ok();
    let address = OfficeAddress::parse(&values.address)
        .map_err(|error| errors.add("anschrift", text_error(error, "")))
        .ok();
    let timezone = OfficeTimeZone::parse(&values.timezone)
        .map_err(|_| {
            errors.add(
                "zeitzone",
                "Diese Zeitzone ist unbekannt. Für Deutschland lautet sie „Europe/Berlin“.",
            )
        })
        .ok();
    let (Some(id), Some(name), Some(address), Some(timezone)) = (id, name, address, timezone) else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &offices_page_of(&state, &member, values, errors),
        );
    };
    // Hours, holidays and closed days as the log has them when deciding.
    let command = |_, current: &Option<OfficeDetails>| RegisterOffice {
        office: id.clone(),
        name: name.clone(),
        address: address.clone(),
        timezone,
        opening_hours: current.as_ref().and_then(|details| details.opening_hours.clone()),
        holidays: current.as_ref().and_then(|details| details.holidays),
        closed_days: current
            .as_ref()
            .map(|details| details.closed_days.clone())
            .unwrap_or_default(),
    };
    let cause = state.new_cause(member.principal.actor());
    let events = state
        .executor
        .execute_on_state::<OfficeDecider>(&[StreamName::office(&id)], FirstRead::Log, cause, command)
        .await;
    let events = match events {
        Ok(events) => events,
        Err(error) => return execute_failure_page(&member, error, |never| match never {}),
    };
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let mut page = offices_page_of(&state, &member, OfficeValues::default(), FieldErrors::default());
    let status = match RegistrationOutcome::of(&events) {
        RegistrationOutcome::Created => {
            page.notice = Some(format!(
                "Das Bürgerbüro „{name}“ ist angelegt. Legen Sie nun seine Öffnungszeiten fest."
            ));
            page.hours_href = Some(format!("/staff/{id}/oeffnungszeiten"));
            StatusCode::CREATED
        }
        RegistrationOutcome::Updated | RegistrationOutcome::Unchanged => {
            page.notice = Some(format!("Das Bürgerbüro „{name}“ ist gespeichert."));
            StatusCode::OK
        }
    };
    render(status, &page)
}

// --------------------------------------------------------------- services

struct ServiceRow {
    id: String,
    name: String,
    minutes: u32,
    walk_in: bool,
    edit_href: String,
}

#[derive(Template)]
#[template(path = "staff/services.html")]
struct ServicesPage {
    frame: Frame,
    services: Vec<ServiceRow>,
    id: String,
    name: String,
    minutes: String,
    max_minutes: u32,
    walk_in: bool,
    notice: Option<String>,
    errors: FieldErrors,
}

#[derive(Default)]
struct ServiceValues {
    id: String,
    name: String,
    minutes: String,
    walk_in: bool,
}

fn services_page_of(state: &AppState, member: &Member, values: ServiceValues, errors: FieldErrors) -> ServicesPage {
    let services = state
        .catalogue
        .read()
        .services()
        .map(|service| ServiceRow {
            id: service.id.clone(),
            name: service.name.clone(),
            minutes: service.duration_minutes,
            walk_in: service.walk_in,
            edit_href: format!(
                "/staff/admin/dienstleistungen?dienstleistung={}#dienstleistung",
                service.id
            ),
        })
        .collect();
    ServicesPage {
        frame: Frame::of(Some(member)),
        services,
        id: values.id,
        name: values.name,
        minutes: if values.minutes.is_empty() {
            "12".to_owned()
        } else {
            values.minutes
        },
        max_minutes: terminagent_domain::catalogue::MAX_SERVICE_MINUTES,
        walk_in: values.walk_in,
        notice: None,
        errors,
    }
}

/// `GET /staff/admin/dienstleistungen[?dienstleistung=ID]`.
pub(super) async fn services_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    Query(query): Query<Pairs>,
) -> Response {
    if !member.may(Permission::ManageCatalogue, None) {
        return no_permission_page(&member);
    }
    let mut values = ServiceValues::default();
    if let Ok(id) = ServiceId::parse(field(&query, "dienstleistung"))
        && let Some(service) = state.catalogue.read().service(&id)
    {
        values = ServiceValues {
            id: service.id.clone(),
            name: service.name.clone(),
            minutes: service.duration_minutes.to_string(),
            walk_in: service.walk_in,
        };
    }
    render(
        StatusCode::OK,
        &services_page_of(&state, &member, values, FieldErrors::default()),
    )
}

/// `POST /staff/admin/dienstleistungen`: registers a service or changes it.
pub(super) async fn put_service(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { member, fields } = posted;
    if !member.may(Permission::ManageCatalogue, None) {
        return no_permission_page(&member);
    }
    let values = ServiceValues {
        id: field(&fields, "kennung").to_owned(),
        name: field(&fields, "name").to_owned(),
        minutes: field(&fields, "minuten").to_owned(),
        walk_in: field(&fields, "ohne_termin") == "ja",
    };
    let max = terminagent_domain::catalogue::MAX_SERVICE_MINUTES;
    let mut errors = FieldErrors::default();
    let id = ServiceId::parse(&values.id)
        .map_err(|_| {
            errors.add(
                "kennung",
                "Die Kennung besteht aus 1 bis 64 Kleinbuchstaben, Ziffern und Bindestrichen, zum Beispiel „reisepass“.",
            )
        })
        .ok();
    let name = CatalogueName::parse(&values.name)
        .map_err(|error| {
            errors.add(
                "name",
                text_error(error, "Bitte geben Sie den Namen der Dienstleistung an."),
            )
        })
        .ok();
    let minutes = values
        .minutes
        .parse::<u32>()
        .ok()
        .filter(|minutes| (1..=max).contains(minutes));
    if minutes.is_none() {
        errors.add("minuten", format!("Eine Dienstleistung dauert 1 bis {max} Minuten."));
    }
    let (Some(id), Some(name), Some(minutes)) = (id, name, minutes) else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &services_page_of(&state, &member, values, errors),
        );
    };
    let command = RegisterService {
        service: id.clone(),
        name: name.clone(),
        duration_minutes: minutes,
        walk_in: values.walk_in,
        // The form has no field for it (the API sets it): a save keeps it.
        description: state
            .catalogue
            .read()
            .service(&id)
            .and_then(|service| service.description.as_deref())
            .and_then(|text| terminagent_domain::ServiceDescription::parse(text).ok()),
    };
    let cause = state.new_cause(member.principal.actor());
    let events = state
        .executor
        .execute::<ServiceDecider>(&[StreamName::service(&id)], cause, |_| command.clone())
        .await;
    let events = match events {
        Ok(events) => events,
        Err(error) => {
            return execute_failure_page(&member, error, |refused| match refused {
                ServiceError::DurationOutOfRange(_) => {
                    let mut errors = FieldErrors::default();
                    errors.add("minuten", format!("Eine Dienstleistung dauert 1 bis {max} Minuten."));
                    render(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &services_page_of(&state, &member, values, errors),
                    )
                }
            });
        }
    };
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let mut page = services_page_of(&state, &member, ServiceValues::default(), FieldErrors::default());
    let status = match RegistrationOutcome::of(&events) {
        RegistrationOutcome::Created => {
            page.notice = Some(format!("Die Dienstleistung „{name}“ ist angelegt."));
            StatusCode::CREATED
        }
        RegistrationOutcome::Updated | RegistrationOutcome::Unchanged => {
            page.notice = Some(format!("Die Dienstleistung „{name}“ ist gespeichert."));
            StatusCode::OK
        }
    };
    render(status, &page)
}
