//! Signing in and out, and replacing a password.
//!
//! An unknown address, a disabled account and a wrong password get the same
//! answer (and take about as long), so the form tells nobody which addresses
//! have accounts. Failures count per client address and per account
//! (`FailedAttempts`, the bearer checks' counter); past the limit the form
//! answers 429 with `Retry-After` before any password is looked at, so not
//! even the right one gets in until the wait is over.

use std::sync::OnceLock;
use std::time::Duration;

use askama::Template;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use terminagent_domain::{EmailAddress, StaffId};

use super::super::PageForm;
use super::render;
use super::session::{
    Member, Posted, Signed, cleared_cookie, client_address, foreign_origin_page, member_of, open_session, return_path,
    same_origin, see_other,
};
use super::{FieldErrors, Frame, Pairs, field, internal_page, message_page};
use crate::application::staff::{PasswordCheck, check_password, set_password};
use crate::http::AppState;

/// Shortest password a member may choose.
const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (Argon2 takes any length; a form needs a bound).
const MAX_PASSWORD_CHARS: usize = 200;

#[derive(Template)]
#[template(path = "staff/login.html")]
struct SignInPage {
    frame: Frame,
    email: String,
    /// Where to go after signing in (a staff page), carried along.
    next: String,
    signed_out: bool,
    /// Set when the password or address was wrong (one message for both).
    refused: bool,
    errors: FieldErrors,
}

impl SignInPage {
    fn new(email: &str, next: &str) -> Self {
        SignInPage {
            frame: Frame::of(None),
            email: email.to_owned(),
            next: return_path(next).unwrap_or_default().to_owned(),
            signed_out: false,
            refused: false,
            errors: FieldErrors::default(),
        }
    }
}

/// `GET /staff/login`: the sign-in form (a member already signed in goes on).
pub(super) async fn sign_in_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(query): Query<Pairs>,
) -> Response {
    let next = field(&query, "weiter");
    match member_of(&headers, &state).await {
        Ok(Some(_)) => return see_other(return_path(next).unwrap_or("/staff")),
        Ok(None) => {}
        Err(error) => return internal_page(None, &error),
    }
    let mut page = SignInPage::new("", next);
    page.signed_out = !field(&query, "abgemeldet").is_empty();
    render(StatusCode::OK, &page)
}

/// `POST /staff/login`: checks e-mail and password; opens a session.
pub(super) async fn sign_in(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if !same_origin(&parts.headers, &parts.uri, &state) {
        return foreign_origin_page();
    }
    let client = client_address(&parts.extensions);
    let form = PageForm::<Pairs>::from_request(Request::from_parts(parts, body), &state).await;
    let PageForm(form) = match form {
        Ok(form) => form,
        Err(response) => return response,
    };
    let email = field(&form, "email");
    // A password is taken as typed: spaces may belong to it.
    let password = form
        .iter()
        .rev()
        .find(|(key, _)| key == "password")
        .map_or("", |(_, value)| value.as_str());
    let mut page = SignInPage::new(email, field(&form, "weiter"));
    if email.is_empty() {
        page.errors.add("email", "Bitte geben Sie Ihre E-Mail-Adresse an.");
    }
    if password.is_empty() {
        page.errors.add("password", "Bitte geben Sie Ihr Passwort an.");
    }
    if !page.errors.is_empty() {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }

    let address = EmailAddress::parse(email).ok();
    let account_key = format!(
        "account:{}",
        address
            .as_ref()
            .map_or_else(|| email.to_lowercase(), |address| address.normalized())
    );
    let address_key = client.map(|client| format!("address:{client}"));
    if let Err(wait) = state.failed_auth.check(&account_key) {
        return locked_page(
            "Anmeldung vorübergehend gesperrt",
            "Für dieses Konto gab es zu viele fehlgeschlagene Anmeldungen. Zum Schutz ist die Anmeldung",
            wait,
        );
    }
    if let Some(key) = &address_key
        && let Err(wait) = state.failed_auth.check(key)
    {
        return locked_page(
            "Zu viele Fehlversuche",
            "Von Ihrem Anschluss kamen zu viele fehlgeschlagene Anmeldungen. Die Anmeldung ist von hier aus",
            wait,
        );
    }

    let staff = match account_to_check(&state, address.as_ref()).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let check = match staff {
        Some(staff) => check_password(&state.executor, staff, password).await,
        None => {
            spend_like_a_check(password).await;
            Ok(PasswordCheck::Wrong)
        }
    };
    let signed_in = match (check, staff) {
        (Err(error), _) => return internal_page(None, &error),
        (Ok(PasswordCheck::Wrong), _) | (_, None) => {
            state.failed_auth.record_failure(&account_key);
            if let Some(key) = &address_key {
                state.failed_auth.record_failure(key);
            }
            page.refused = true;
            page.errors
                .add("email", "Die E-Mail-Adresse oder das Passwort stimmt nicht.");
            let mut response = render(StatusCode::UNAUTHORIZED, &page);
            // 401 names a scheme (RFC 9110); ours is this form.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Form realm=\"terminagent-staff\""),
            );
            return response;
        }
        (Ok(check), Some(staff)) => (check, staff),
    };
    let (check, staff) = signed_in;
    let cookie = match open_session(&state, staff).await {
        Ok(cookie) => cookie,
        Err(error) => return internal_page(None, &error),
    };
    let next = match check {
        PasswordCheck::RightButOneTime => "/staff/passwort".to_owned(),
        _ => return_path(&page.next).unwrap_or("/staff").to_owned(),
    };
    let mut response = see_other(&next);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// The enabled account of `address`, looking once more with every committed
/// event in view when the staff view does not know it yet (made a moment ago
/// by another process, or by `terminagent staff add`).
async fn account_to_check(state: &AppState, address: Option<&EmailAddress>) -> Result<Option<StaffId>, Response> {
    let Some(address) = address else {
        return Ok(None);
    };
    // People type their address in any case: the exact one first, else the
    // one account that matches it case-insensitively.
    let enabled = |state: &AppState| {
        let directory = state.staff.read();
        let account = directory.account_by_email(address).or_else(|| {
            let wanted = address.normalized();
            let mut alike = directory
                .accounts()
                .filter(|account| account.account.email.normalized() == wanted);
            match (alike.next(), alike.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        });
        account.map(|account| (account.account.staff, account.enabled))
    };
    let mut found = enabled(state);
    if found.is_none() {
        if let Err(problem) = state.catch_up_views().await {
            return Err(internal_page(None, &problem.detail));
        }
        found = enabled(state);
    }
    Ok(found.filter(|(_, enabled)| *enabled).map(|(staff, _)| staff))
}

/// An Argon2 verification against a throw-away hash, so an unknown address
/// takes as long as a wrong password.
async fn spend_like_a_check(password: &str) {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let password = password.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        let dummy = DUMMY.get_or_init(|| {
            let salt = SaltString::encode_b64(b"terminagent-none").ok()?;
            argon2::Argon2::default()
                .hash_password(b"no account has this", &salt)
                .ok()
                .map(|hash| hash.to_string())
        });
        if let Some(parsed) = dummy.as_deref().and_then(|hash| PasswordHash::new(hash).ok()) {
            let _ = argon2::Argon2::default().verify_password(password.as_bytes(), &parsed);
        }
    })
    .await;
}

/// 429 with `Retry-After`: `sentence` ends "… gesperrt für noch etwa N Minuten".
fn locked_page(heading: &str, sentence: &str, wait: Duration) -> Response {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let minutes = seconds.div_ceil(60);
    let duration = if minutes == 1 {
        "etwa 1 Minute".to_owned()
    } else {
        format!("etwa {minutes} Minuten")
    };
    let text = format!("{sentence} für {duration} gesperrt. Danach können Sie es wieder versuchen.");
    let mut response = message_page(None, StatusCode::TOO_MANY_REQUESTS, heading, &[&text], None);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `POST /staff/logout`: ends this session.
pub(super) async fn sign_out(State(state): State<AppState>, posted: Posted<true>) -> Response {
    let credentials = state.executor.store().staff_credentials();
    if let Err(error) = credentials.close_session(&posted.member.session_hash).await {
        return internal_page(Some(&posted.member), &error);
    }
    let mut response = see_other("/staff/login?abgemeldet=1");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(&state));
    response
}

#[derive(Template)]
#[template(path = "staff/password.html")]
struct PasswordPage {
    frame: Frame,
    /// Signed in with a one-time password: no current password to ask for.
    required: bool,
    min_chars: usize,
    errors: FieldErrors,
}

impl PasswordPage {
    fn of(member: &Member) -> Self {
        PasswordPage {
            frame: Frame::of(Some(member)),
            required: member.must_change_password,
            min_chars: MIN_PASSWORD_CHARS,
            errors: FieldErrors::default(),
        }
    }
}

/// `GET /staff/passwort`: choose a new password (first, after a one-time one).
pub(super) async fn password_page(Signed(member): Signed<true>) -> Response {
    render(StatusCode::OK, &PasswordPage::of(&member))
}

/// `POST /staff/passwort`: sets the new password, ends every session of the
/// account and opens a fresh one.
pub(super) async fn change_password(State(state): State<AppState>, posted: Posted<true>) -> Response {
    let Posted { member, fields } = posted;
    let raw = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let (current, new, repeated) = (raw("current"), raw("new"), raw("repeat"));
    let mut page = PasswordPage::of(&member);
    let account_key = format!("account:{}", member.email.normalized());
    if !member.must_change_password {
        if let Err(wait) = state.failed_auth.check(&account_key) {
            return locked_page(
                "Passwortänderung vorübergehend gesperrt",
                "Für dieses Konto gab es zu viele falsche Passwörter. Die Passwortänderung ist",
                wait,
            );
        }
        match check_password(&state.executor, member.staff, current).await {
            Ok(PasswordCheck::Wrong) => {
                state.failed_auth.record_failure(&account_key);
                page.errors.add("current", "Das bisherige Passwort stimmt nicht.");
            }
            Ok(_) => {}
            Err(error) => return internal_page(Some(&member), &error),
        }
    }
    let length = new.chars().count();
    if length < MIN_PASSWORD_CHARS {
        page.errors.add(
            "new",
            format!("Das neue Passwort muss mindestens {MIN_PASSWORD_CHARS} Zeichen lang sein."),
        );
    } else if length > MAX_PASSWORD_CHARS {
        page.errors.add(
            "new",
            format!("Das neue Passwort darf höchstens {MAX_PASSWORD_CHARS} Zeichen lang sein."),
        );
    } else if new.chars().any(char::is_control) {
        page.errors
            .add("new", "Das neue Passwort enthält unzulässige Steuerzeichen.");
    } else if new != repeated {
        page.errors.add(
            "repeat",
            "Die Wiederholung stimmt nicht mit dem neuen Passwort überein.",
        );
    }
    if page.errors.is_empty() {
        match check_password(&state.executor, member.staff, new).await {
            Ok(PasswordCheck::Wrong) => {}
            Ok(_) => page
                .errors
                .add("new", "Bitte wählen Sie ein anderes als das bisherige Passwort."),
            Err(error) => return internal_page(Some(&member), &error),
        }
    }
    if !page.errors.is_empty() {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    if let Err(error) = set_password(&state.executor, member.staff, new, false).await {
        return internal_page(Some(&member), &error);
    }
    // A new password ends every session opened with the old one, this one too.
    let credentials = state.executor.store().staff_credentials();
    if let Err(error) = credentials.close_sessions_of(&member.staff.to_string()).await {
        return internal_page(Some(&member), &error);
    }
    let cookie = match open_session(&state, member.staff).await {
        Ok(cookie) => cookie,
        Err(error) => return internal_page(None, &error),
    };
    let mut response = see_other("/staff?passwort=neu");
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}
