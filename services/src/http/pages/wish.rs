//! The wish page: `GET /suche` shows one form (services, offices, a weekday ×
//! hour grid, an optional last date, name and e-mail); `POST /suche`
//! registers the wish through the same application function as
//! `POST /api/v1/wishes`, or shows the form again with each error at its
//! field. The wish waits only once the citizen presses the confirm link of
//! the mail that follows (double opt-in); proposals and their answers then
//! go by mail.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Weekday;
use terminagent_domain::Actor;
use terminagent_domain::{LocalDate, OfficeId, PersonalData, ServiceId, WeeklyWindows, WishError};

use super::super::AppState;
use super::{MessagePage, PageForm, PageLink, parse_email, parse_name, render};
use crate::application::{ExecuteError, RegisterWishError, WishRequest, register_wish};
use crate::german;

/// A form body as name/value pairs: checkboxes repeat their name.
type Pairs = Vec<(String, String)>;

/// The weekdays and start hours the grid offers (offices open on weekdays and
/// Saturdays, from early morning to evening).
const GRID_WEEKDAYS: [(Weekday, &str, &str); 6] = [
    (Weekday::Mon, "mon", "Mo"),
    (Weekday::Tue, "tue", "Di"),
    (Weekday::Wed, "wed", "Mi"),
    (Weekday::Thu, "thu", "Do"),
    (Weekday::Fri, "fri", "Fr"),
    (Weekday::Sat, "sat", "Sa"),
];
const GRID_HOURS: std::ops::RangeInclusive<u32> = 6..=19;

struct Choice {
    id: String,
    label: String,
    checked: bool,
}

struct GridCell {
    /// `mon-8`: what the checkbox sends.
    value: String,
    /// "Montag, 8 bis 9 Uhr": what a screen reader says.
    label: String,
    checked: bool,
}

struct GridRow {
    label: String,
    cells: Vec<GridCell>,
}

#[derive(Default)]
struct WishValues {
    until: String,
    name: String,
    email: String,
}

#[derive(Default)]
struct WishErrors {
    services: Option<String>,
    offices: Option<String>,
    hours: Option<String>,
    until: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

impl WishErrors {
    fn is_empty(&self) -> bool {
        self.summary().is_empty()
    }

    /// (field anchor, message) in page order.
    fn summary(&self) -> Vec<(&'static str, &str)> {
        [
            ("anliegen", &self.services),
            ("buergerbueros", &self.offices),
            ("zeiten", &self.hours),
            ("until", &self.until),
            ("name", &self.name),
            ("email", &self.email),
        ]
        .into_iter()
        .filter_map(|(field, message)| message.as_deref().map(|message| (field, message)))
        .collect()
    }
}

#[derive(Template)]
#[template(path = "wish.html")]
struct WishPage {
    services: Vec<Choice>,
    offices: Vec<Choice>,
    weekdays: Vec<(&'static str, &'static str)>,
    grid: Vec<GridRow>,
    values: WishValues,
    errors: WishErrors,
}

impl WishPage {
    fn new(state: &AppState, pairs: &Pairs, values: WishValues, errors: WishErrors) -> WishPage {
        let chosen = |name: &str, value: &str| pairs.iter().any(|(key, v)| key == name && v == value);
        let catalogue = state.catalogue.read();
        let services = catalogue
            .services()
            .map(|service| Choice {
                checked: chosen("services", &service.id),
                id: service.id.clone(),
                label: service.name.clone(),
            })
            .collect();
        let offices = catalogue
            .offices()
            .map(|office| Choice {
                checked: chosen("offices", &office.id),
                id: office.id.clone(),
                label: format!("{}, {}", office.name, office.address),
            })
            .collect();
        let grid = GRID_HOURS
            .map(|hour| GridRow {
                label: format!("{hour:02}–{:02} Uhr", hour + 1),
                cells: GRID_WEEKDAYS
                    .iter()
                    .map(|(weekday, key, _)| {
                        let value = format!("{key}-{hour}");
                        GridCell {
                            checked: chosen("hours", &value),
                            label: format!("{}, {hour} bis {} Uhr", german::weekday(*weekday), hour + 1),
                            value,
                        }
                    })
                    .collect(),
            })
            .collect();
        WishPage {
            services,
            offices,
            weekdays: GRID_WEEKDAYS.iter().map(|(_, key, short)| (*key, *short)).collect(),
            grid,
            values,
            errors,
        }
    }
}

/// `GET /suche`: the empty form.
pub async fn wish_page(State(state): State<AppState>) -> Response {
    let page = WishPage::new(&state, &Vec::new(), WishValues::default(), WishErrors::default());
    render(StatusCode::OK, &page)
}

/// `POST /suche`: registers the wish; answers "your search is registered"
/// (201), the form with the errors at their fields (422), or why a wish
/// cannot wait (409 the same search waits already, 404 a vanished choice).
pub async fn register_wish_page(State(state): State<AppState>, PageForm(pairs): PageForm<Pairs>) -> Response {
    let text = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    };
    let values = WishValues {
        until: text("until"),
        name: text("name"),
        email: text("email"),
    };
    let request = match parse_form(&pairs, &values) {
        Ok(request) => request,
        Err(errors) => {
            return WishPage::new(&state, &pairs, values, *errors).respond_with(StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    match register_wish(
        &state.executor,
        &state.link_secret,
        state.booking_policy.confirm_ttl,
        state.new_cause(Actor::Citizen),
        request,
    )
    .await
    {
        Ok(_) => MessagePage::new("Bitte bestätigen Sie Ihre Terminsuche")
            .paragraph(format!(
                "Wir haben Ihnen eine E-Mail an {} geschickt. Bitte bestätigen Sie Ihre Suche mit dem Link darin \
                 innerhalb von {}.",
                values.email,
                german_duration(state.booking_policy.confirm_ttl)
            ))
            .paragraph(
                "Erst mit der Bestätigung ist Ihre Suche eingereiht – in der Reihenfolge der Bestätigungen. \
                 Ohne Bestätigung verfällt sie. Sobald ein passender Termin frei wird, schlagen wir ihn Ihnen per \
                 E-Mail vor.",
            )
            .respond(StatusCode::CREATED),
        Err(RegisterWishError::Decision(ExecuteError::Rejected(reason))) => refused(&state, &pairs, values, reason),
        Err(RegisterWishError::Decision(ExecuteError::Contended { .. })) => {
            MessagePage::new("Gerade ist sehr viel los")
                .paragraph(
                    "Ihre Suche konnte nicht eingetragen werden. Bitte versuchen Sie es in einer Minute noch einmal.",
                )
                .respond(StatusCode::SERVICE_UNAVAILABLE)
        }
        Err(error) => {
            tracing::error!(%error, "wish page failed");
            MessagePage::new("Das hat gerade nicht geklappt")
                .paragraph("Ihre Suche konnte nicht eingetragen werden. Bitte versuchen Sie es später noch einmal.")
                .respond(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn refused(state: &AppState, pairs: &Pairs, values: WishValues, reason: WishError) -> Response {
    use WishError as E;
    let mut errors = WishErrors::default();
    match reason {
        E::DuplicateWish { .. } => {
            return MessagePage::new("Diese Suche läuft bereits")
                .paragraph(
                    "Für diese E-Mail-Adresse und diese Anliegen ist schon eine Terminsuche eingetragen. Eine zweite \
                     Suche bringt Sie nicht früher an die Reihe; Ihre Suche behält ihren Platz.",
                )
                .link(PageLink::new("/termin", "Selbst einen freien Termin suchen"))
                .respond(StatusCode::CONFLICT);
        }
        E::UnknownOffice(_) | E::UnknownService(_) => {
            return MessagePage::new("Diese Auswahl gibt es nicht mehr")
                .paragraph("Bitte tragen Sie Ihre Suche neu ein.")
                .link(PageLink::new("/suche", "Terminsuche eintragen"))
                .respond(StatusCode::NOT_FOUND);
        }
        E::UntilPassed { .. } => errors.until = Some("Das Datum liegt in der Vergangenheit.".into()),
        E::OfficeCount(_) | E::DuplicateOffice(_) => {
            errors.offices = Some(format!(
                "Bitte wählen Sie 1 bis {} Bürgerbüros.",
                terminagent_domain::wish::MAX_WISH_OFFICES
            ))
        }
        other => errors.services = Some(format!("Bitte prüfen Sie Ihre Anliegen ({other}).")),
    }
    WishPage::new(state, pairs, values, errors).respond_with(StatusCode::UNPROCESSABLE_ENTITY)
}

impl WishPage {
    fn respond_with(&self, status: StatusCode) -> Response {
        render(status, self)
    }
}

/// Checks the form as the domain would, with German messages at each field.
fn parse_form(pairs: &Pairs, values: &WishValues) -> Result<WishRequest, Box<WishErrors>> {
    let mut errors = WishErrors::default();
    let all = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    // A choice that does not parse was not offered by the form: say so
    // rather than drop it and register a wish the citizen did not ask for.
    const TAMPERED: &str = "Die Auswahl enthielt einen Wert, den das Formular nicht anbietet. Bitte wählen Sie erneut.";
    let services: Vec<ServiceId> = all("services")
        .into_iter()
        .filter_map(|raw| ServiceId::parse(raw).ok())
        .collect();
    if services.len() < all("services").len() {
        errors.services = Some(TAMPERED.into());
    } else if services.is_empty() {
        errors.services = Some("Bitte wählen Sie mindestens ein Anliegen.".into());
    } else if services.len() > terminagent_domain::wish::MAX_WISH_SERVICES {
        errors.services = Some(format!(
            "Bitte wählen Sie höchstens {} Anliegen.",
            terminagent_domain::wish::MAX_WISH_SERVICES
        ));
    }
    let offices: Vec<OfficeId> = all("offices")
        .into_iter()
        .filter_map(|raw| OfficeId::parse(raw).ok())
        .collect();
    if offices.len() < all("offices").len() {
        errors.offices = Some(TAMPERED.into());
    } else if offices.is_empty() {
        errors.offices = Some("Bitte wählen Sie mindestens ein Bürgerbüro.".into());
    }
    let hours: Vec<(Weekday, u32)> = all("hours")
        .into_iter()
        .filter_map(|raw| {
            let (key, hour) = raw.split_once('-')?;
            let (weekday, _, _) = GRID_WEEKDAYS.iter().find(|(_, k, _)| *k == key)?;
            Some((*weekday, hour.parse().ok()?))
        })
        .collect();
    let offered = hours.len() == all("hours").len();
    let windows = WeeklyWindows::new(hours);
    if !offered {
        errors.hours = Some(TAMPERED.into());
    } else if windows.is_err() {
        errors.hours = Some("Bitte kreuzen Sie mindestens eine Stunde an, in der Sie können.".into());
    }
    let until = match values.until.as_str() {
        "" => None,
        raw => {
            let parsed = LocalDate::parse(raw).ok().or_else(|| german_date(raw));
            if parsed.is_none() {
                errors.until = Some("Bitte geben Sie das Datum als TT.MM.JJJJ an.".into());
            }
            parsed
        }
    };
    let name = parse_name(&values.name);
    let email = parse_email(&values.email);
    match (name, email, windows) {
        (Ok(name), Ok(email), Ok(windows)) if errors.is_empty() => Ok(WishRequest {
            offices,
            services,
            windows,
            until,
            citizen: PersonalData {
                name,
                email,
                phone: None,
            },
        }),
        (name, email, _) => {
            errors.name = name.err();
            errors.email = email.err();
            Err(Box::new(errors))
        }
    }
}

/// "31.01.2027", as people type it where the browser shows no date picker.
fn german_date(raw: &str) -> Option<LocalDate> {
    let mut parts = raw.split('.');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    LocalDate::parse(&format!("{year:0>4}-{month:0>2}-{day:0>2}")).ok()
}

/// "30 Minuten", "2 Stunden", "1 Stunde und 30 Minuten": the confirm TTL as
/// the page tells it.
fn german_duration(duration: chrono::Duration) -> String {
    let minutes = duration.num_minutes().max(1);
    let (hours, rest) = (minutes / 60, minutes % 60);
    let hours_text = match hours {
        1 => "1 Stunde".to_owned(),
        n => format!("{n} Stunden"),
    };
    let minutes_text = match rest {
        1 => "1 Minute".to_owned(),
        n => format!("{n} Minuten"),
    };
    match (hours, rest) {
        (0, _) => minutes_text,
        (_, 0) => hours_text,
        _ => format!("{hours_text} und {minutes_text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::german_duration;

    #[test]
    fn the_confirm_ttl_reads_as_german() {
        let minutes = chrono::Duration::minutes;
        assert_eq!(german_duration(minutes(30)), "30 Minuten");
        assert_eq!(german_duration(minutes(60)), "1 Stunde");
        assert_eq!(german_duration(minutes(120)), "2 Stunden");
        assert_eq!(german_duration(minutes(90)), "1 Stunde und 30 Minuten");
        assert_eq!(german_duration(minutes(61)), "1 Stunde und 1 Minute");
    }
}
