//! A citizen's personal data. It lives only in the encrypted per-citizen envelope;
//! events refer to it by `EnvelopeId`, so erasing the key erases the person.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::text::{TextError, parse_person_name};

const MAX_ADDRESS_CHARS: usize = 254;
const MAX_LOCAL_PART_CHARS: usize = 64;
const MAX_LABEL_CHARS: usize = 63;
const ATEXT_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailAddressError {
    #[error("an e-mail address must not start or end with whitespace")]
    SurroundingWhitespace,
    #[error("an e-mail address has at most {MAX_ADDRESS_CHARS} characters, this one has {0}")]
    TooLong(usize),
    #[error("an e-mail address needs an '@'")]
    MissingAt,
    #[error("the part before '@' must have 1 to {MAX_LOCAL_PART_CHARS} characters, has {0}")]
    LocalPartLength(usize),
    #[error("the part before '@' must not contain {0:?}")]
    LocalPartCharacter(char),
    #[error("the part before '@' must not start or end with a dot or contain two dots in a row")]
    LocalPartDots,
    #[error("the domain needs at least two labels, e.g. example.org")]
    DomainNeedsTwoLabels,
    #[error("each domain label must have 1 to {MAX_LABEL_CHARS} characters")]
    DomainLabelLength,
    #[error("the domain must not contain {0:?}")]
    DomainCharacter(char),
    #[error("a domain label must not start or end with '-'")]
    DomainLabelHyphen,
}

fn parse_email(input: &str) -> Result<String, EmailAddressError> {
    use EmailAddressError as E;
    if input.trim() != input {
        return Err(E::SurroundingWhitespace);
    }
    let total = input.chars().count();
    if total > MAX_ADDRESS_CHARS {
        return Err(E::TooLong(total));
    }
    // A dot-atom local part cannot contain '@', so the first '@' is the separator.
    // With a local part of at least one character, the 254 limit also keeps the
    // domain within RFC 5321's 253.
    let (local, domain) = input.split_once('@').ok_or(E::MissingAt)?;

    let local_chars = local.chars().count();
    if !(1..=MAX_LOCAL_PART_CHARS).contains(&local_chars) {
        return Err(E::LocalPartLength(local_chars));
    }
    if let Some(c) = local
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '.' || ATEXT_SPECIALS.contains(c)))
    {
        return Err(E::LocalPartCharacter(c));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(E::LocalPartDots);
    }

    // Internationalised domains (`bürger.de`) are common here: such a domain
    // must have an IDNA A-label form (`xn--brger-kva.de`), which the rules
    // below check and mail is sent to; the address keeps the Unicode form
    // people recognise.
    let ascii_domain = if domain.is_ascii() {
        domain.to_owned()
    } else {
        let first_foreign = || domain.chars().find(|c| !c.is_ascii()).unwrap_or('?');
        if let Some(c) = domain.chars().find(|&c| !(c.is_alphanumeric() || c == '-' || c == '.')) {
            return Err(E::DomainCharacter(c));
        }
        idna::domain_to_ascii_strict(domain).map_err(|_| E::DomainCharacter(first_foreign()))?
    };
    if let Some(c) = ascii_domain
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(E::DomainCharacter(c));
    }
    let labels: Vec<&str> = ascii_domain.split('.').collect();
    if labels.len() < 2 {
        return Err(E::DomainNeedsTwoLabels);
    }
    for label in labels {
        if !(1..=MAX_LABEL_CHARS).contains(&label.len()) {
            return Err(E::DomainLabelLength);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(E::DomainLabelHyphen);
        }
    }
    let shown = if domain.is_ascii() {
        ascii_domain.to_ascii_lowercase()
    } else {
        idna::domain_to_unicode(&ascii_domain).0
    };
    Ok(format!("{local}@{shown}"))
}

validated_string! {
    /// An e-mail address in the practical RFC 5321 subset `dot-atom@domain`.
    /// The domain is stored lowercase (it is case-insensitive); the local part keeps
    /// its case because a mail server may distinguish it.
    pub struct EmailAddress, error = EmailAddressError, validate = parse_email;
}

impl EmailAddress {
    /// The whole address in lowercase, the domain in its ASCII form: the key
    /// for "same citizen" checks, since people type their address with
    /// varying case (and an internationalised domain either way).
    pub fn normalized(&self) -> String {
        self.to_ascii().to_ascii_lowercase()
    }

    /// The address with an internationalised domain in its IDNA ASCII form
    /// (`mueller@xn--brger-kva.de`): what mail is sent to.
    pub fn to_ascii(&self) -> String {
        let domain = self.domain();
        if domain.is_ascii() {
            return self.0.clone();
        }
        // Parsing checked that the domain converts.
        let ascii = idna::domain_to_ascii_strict(domain).unwrap_or_else(|_| domain.to_owned());
        format!("{}@{ascii}", self.local_part())
    }

    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

fn parse_citizen_name(input: &str) -> Result<String, TextError> {
    parse_person_name(input, 200)
}

validated_string! {
    /// A citizen's name as they typed it: 1–200 characters after trimming, no control characters.
    pub struct CitizenName, error = TextError, validate = parse_citizen_name;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhoneNumberError {
    #[error("a phone number has 3 to 32 characters, this one has {0}")]
    Length(usize),
    #[error("a phone number may contain only digits, spaces and + - / ( ), found {0:?}")]
    InvalidCharacter(char),
    #[error("a phone number needs at least 3 digits")]
    TooFewDigits,
}

fn parse_phone(input: &str) -> Result<String, PhoneNumberError> {
    let phone = input.trim();
    if let Some(c) = phone.chars().find(|&c| !(c.is_ascii_digit() || " +-/()".contains(c))) {
        return Err(PhoneNumberError::InvalidCharacter(c));
    }
    if !(3..=32).contains(&phone.len()) {
        return Err(PhoneNumberError::Length(phone.len()));
    }
    if phone.chars().filter(char::is_ascii_digit).count() < 3 {
        return Err(PhoneNumberError::TooFewDigits);
    }
    Ok(phone.to_owned())
}

validated_string! {
    /// An optional contact number, loosely checked: people write numbers in many ways.
    pub struct PhoneNumber, error = PhoneNumberError, validate = parse_phone;
}

/// What goes into the encrypted per-citizen envelope. Never put this in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    pub name: CitizenName,
    pub email: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use EmailAddressError as E;
    use proptest::prelude::*;

    #[test]
    fn email_lowercases_domain_only() {
        let email = EmailAddress::parse("Anna.Schmidt+termin@Duisburg.DE").unwrap();
        assert_eq!(email.as_str(), "Anna.Schmidt+termin@duisburg.de");
        assert_eq!(email.local_part(), "Anna.Schmidt+termin");
        assert_eq!(email.domain(), "duisburg.de");
        assert_eq!(email.normalized(), "anna.schmidt+termin@duisburg.de");
    }

    #[test]
    fn email_accepts_internationalised_domains() {
        let email = EmailAddress::parse("mueller@Bürger.de").unwrap();
        assert_eq!(email.as_str(), "mueller@bürger.de");
        assert_eq!(email.to_ascii(), "mueller@xn--brger-kva.de");
        assert_eq!(email.normalized(), "mueller@xn--brger-kva.de");
        let typed_ascii = EmailAddress::parse("Mueller@XN--BRGER-KVA.DE").unwrap();
        assert_eq!(
            typed_ascii.normalized(),
            email.normalized(),
            "one citizen however typed"
        );
        assert_eq!(
            EmailAddress::parse("a@straße.de").unwrap().to_ascii(),
            "a@xn--strae-oqa.de"
        );
        assert_eq!(EmailAddress::parse("a@bür ger.de"), Err(E::DomainCharacter(' ')));
        assert_eq!(EmailAddress::parse("a@bür_ger.de"), Err(E::DomainCharacter('_')));
        assert_eq!(EmailAddress::parse("a@bürger"), Err(E::DomainNeedsTwoLabels));
    }

    #[test]
    fn email_accepts_all_atext_specials() {
        assert!(EmailAddress::parse("!#$%&'*+/=?^_`{|}~-@a-1.example").is_ok());
    }

    #[test]
    fn email_rejects_with_a_reason() {
        let cases = [
            (" a@b.de", E::SurroundingWhitespace),
            ("a@b.de\n", E::SurroundingWhitespace),
            ("ab.de", E::MissingAt),
            ("@b.de", E::LocalPartLength(0)),
            ("a b@b.de", E::LocalPartCharacter(' ')),
            ("\"a\"@b.de", E::LocalPartCharacter('"')),
            ("ä@b.de", E::LocalPartCharacter('ä')),
            (".a@b.de", E::LocalPartDots),
            ("a.@b.de", E::LocalPartDots),
            ("a..b@b.de", E::LocalPartDots),
            ("a@localhost", E::DomainNeedsTwoLabels),
            ("a@", E::DomainNeedsTwoLabels),
            ("a@b..de", E::DomainLabelLength),
            ("a@b.de.", E::DomainLabelLength),
            ("a@b@c.de", E::DomainCharacter('@')),
            ("a@b_c.de", E::DomainCharacter('_')),
            ("a@-b.de", E::DomainLabelHyphen),
            ("a@b-.de", E::DomainLabelHyphen),
        ];
        for (input, expected) in cases {
            assert_eq!(EmailAddress::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn email_length_limits() {
        let local64 = "l".repeat(64);
        assert!(EmailAddress::parse(&format!("{local64}@b.de")).is_ok());
        assert_eq!(
            EmailAddress::parse(&format!("{local64}l@b.de")),
            Err(E::LocalPartLength(65))
        );
        let label63 = "d".repeat(63);
        assert!(EmailAddress::parse(&format!("a@{label63}.de")).is_ok());
        assert_eq!(
            EmailAddress::parse(&format!("a@{label63}d.de")),
            Err(E::DomainLabelLength)
        );
        // 4 labels of 63 + 3 dots = 255 > 253, with a 1-char local part the whole is 257.
        let long_domain = [label63.as_str(); 4].join(".");
        assert_eq!(EmailAddress::parse(&format!("a@{long_domain}")), Err(E::TooLong(257)));
        // 254 in total is allowed: 64 + 1 + 189.
        let domain189 = format!("{}.{}.{}", "d".repeat(63), "d".repeat(63), "d".repeat(61));
        assert!(EmailAddress::parse(&format!("{local64}@{domain189}")).is_ok());
        assert_eq!(
            EmailAddress::parse(&format!("{local64}@{domain189}d")),
            Err(E::TooLong(255))
        );
    }

    #[test]
    fn email_serde_validates() {
        assert!(serde_json::from_str::<EmailAddress>("\"nope\"").is_err());
        let email: EmailAddress = serde_json::from_str("\"a@B.de\"").unwrap();
        assert_eq!(serde_json::to_string(&email).unwrap(), "\"a@b.de\"");
    }

    #[test]
    fn citizen_name_rules() {
        assert_eq!(CitizenName::parse("  Ünal Öztürk ").unwrap().as_str(), "Ünal Öztürk");
        assert_eq!(CitizenName::parse(" "), Err(TextError::Empty));
        assert!(CitizenName::parse(&"ß".repeat(200)).is_ok());
        assert_eq!(
            CitizenName::parse(&"ß".repeat(201)),
            Err(TextError::TooLong { max: 200, actual: 201 })
        );
        assert_eq!(
            CitizenName::parse("Max\u{0}Mustermann"),
            Err(TextError::ControlCharacter)
        );
    }

    #[test]
    fn phone_number_rules() {
        assert_eq!(
            PhoneNumber::parse(" +49 (203) 283-0 ").unwrap().as_str(),
            "+49 (203) 283-0"
        );
        assert!(PhoneNumber::parse("112").is_ok());
        assert_eq!(PhoneNumber::parse("12"), Err(PhoneNumberError::Length(2)));
        assert_eq!(PhoneNumber::parse(&"1".repeat(33)), Err(PhoneNumberError::Length(33)));
        assert_eq!(PhoneNumber::parse("+-/()"), Err(PhoneNumberError::TooFewDigits));
        assert_eq!(
            PhoneNumber::parse("0203 x 12"),
            Err(PhoneNumberError::InvalidCharacter('x'))
        );
    }

    #[test]
    fn personal_data_round_trips_and_omits_missing_phone() {
        let data = PersonalData {
            name: CitizenName::parse("Erika Mustermann").unwrap(),
            email: EmailAddress::parse("erika@example.org").unwrap(),
            phone: None,
        };
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "Erika Mustermann", "email": "erika@example.org"})
        );
        assert_eq!(serde_json::from_value::<PersonalData>(json).unwrap(), data);
        let bad = serde_json::json!({"name": "", "email": "erika@example.org"});
        assert!(serde_json::from_value::<PersonalData>(bad).is_err());
    }

    proptest! {
        #[test]
        fn email_parse_display_round_trip(
            local in "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[A-Za-z0-9_-]{1,10}){0,2}",
            domain in "[A-Za-z0-9]{1,10}(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?){1,3}",
        ) {
            let input = format!("{local}@{domain}");
            let email = EmailAddress::parse(&input).unwrap();
            prop_assert_eq!(email.to_string(), format!("{local}@{}", domain.to_ascii_lowercase()));
            let shown = email.to_string();
            prop_assert_eq!(EmailAddress::parse(&shown).unwrap(), email.clone());
            prop_assert_eq!(email.normalized(), input.to_ascii_lowercase());
        }

        #[test]
        fn email_parse_is_total_and_stable(input in "\\PC{0,80}") {
            // Never panics; whatever it accepts it accepts again unchanged.
            if let Ok(email) = EmailAddress::parse(&input) {
                prop_assert_eq!(EmailAddress::parse(email.as_str()).unwrap(), email);
            }
        }
    }
}
