//! `--site-config FILE`: what makes the citizen pages a city's own — its
//! name, logo and colours, and the legal texts every German authority's site
//! carries (Impressum, Datenschutzerklärung, Erklärung zur Barrierefreiheit).
//! Read and checked once at start; a file that does not hold stops the
//! process with a message naming the file and the field. Without a file the
//! pages are neutral ("Bürgerbüro", the default colours) and the legal pages
//! say plainly that the operator has not provided the text yet.
//!
//! ```toml
//! city = "Stadt Duisburg"
//!
//! [logo]                          # optional
//! file = "wappen.svg"             # relative to this file; svg, png, jpg, webp or gif
//! alt = "Wappen der Stadt Duisburg"
//!
//! [colours]                       # optional; each #rrggbb, contrast ≥ 4.5:1 with white
//! primary = "#00457d"
//! accent = "#002d52"
//!
//! [impressum]                     # url = "https://…"  or  text = """…"""
//! url = "https://www.duisburg.de/impressum"
//!
//! [datenschutz]
//! text = """
//! Paragraphs, separated by a blank line.
//! """
//!
//! [barrierefreiheit]              # url = "https://…"  or the statement's parts:
//! stand = "teilweise"             # vollständig | teilweise | nicht
//! nicht_barrierefreie_inhalte = """…"""
//! erstellt_am = 2026-11-30
//! feedback = """…"""
//! durchsetzungsverfahren = """…"""
//! ```
//!
//! Texts are plain text: the pages escape them, so HTML in them shows as
//! written. A blank line starts a new paragraph, a line break stays one.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Deserialize;

/// The installation's face for citizens: parsed once, shared by every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    city: String,
    logo: Option<Logo>,
    colours: Colours,
    impressum: LegalText,
    datenschutz: LegalText,
    barrierefreiheit: Accessibility,
}

/// Why a site configuration was refused; every message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteError {
    #[error("site config {file}: cannot be read: {reason}")]
    Unreadable { file: String, reason: String },
    /// Not TOML, a field missing, unknown or of the wrong type (the parser's
    /// message names the field and the line).
    #[error("site config {file}: {message}")]
    Syntax { file: String, message: String },
    #[error("site config {file}: {field}: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

/// A colour as `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour([u8; 3]);

/// The two brand colours: `primary` for the header, buttons and links,
/// `accent` for their hover states and the page's edges. White text sits on
/// both and both sit as text on white, so each needs AA contrast with white.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colours {
    pub primary: Colour,
    pub accent: Colour,
}

/// The logo, read from its file at start and served as `/assets/logo`.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    bytes: Arc<[u8]>,
    content_type: &'static str,
    alt: String,
}

/// Text of a legal page: paragraphs of lines, as plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraphs(Vec<Vec<String>>);

/// An address on another site (`http://` or `https://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUrl(String);

/// Impressum or Datenschutzerklärung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegalText {
    /// No file (or `--demo` without one): the page says the text is missing.
    Missing,
    /// The city's own page: links lead there.
    External(ExternalUrl),
    Text(Paragraphs),
}

/// The Erklärung zur Barrierefreiheit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accessibility {
    Missing,
    External(ExternalUrl),
    Statement(AccessibilityStatement),
}

/// The parts of the usual German statement (after the EU's model statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessibilityStatement {
    /// Stand der Vereinbarkeit mit den Anforderungen.
    pub conformance: Conformance,
    /// Nicht barrierefreie Inhalte (and why); may be empty when fully conformant.
    pub non_accessible: Paragraphs,
    /// Erstellung dieser Erklärung.
    pub prepared_on: NaiveDate,
    /// Feedback und Kontaktangaben.
    pub feedback: Paragraphs,
    /// Durchsetzungsverfahren: the state's Schlichtungs- or Ombudsstelle.
    pub enforcement: Paragraphs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conformance {
    Full,
    Partial,
    None,
}

impl Conformance {
    /// "vollständig", "teilweise", "nicht": how the statement words it.
    pub fn german(self) -> &'static str {
        match self {
            Conformance::Full => "vollständig",
            Conformance::Partial => "teilweise",
            Conformance::None => "nicht",
        }
    }
}

/// WCAG 2.x AA for normal text.
pub const MIN_CONTRAST: f64 = 4.5;
const MAX_CITY_CHARS: usize = 100;
const MAX_ALT_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 50_000;
const MAX_URL_CHARS: usize = 2000;
const MAX_LOGO_BYTES: u64 = 1024 * 1024;

impl Default for Site {
    /// No file: neutral name and colours; the legal pages say they are missing.
    fn default() -> Self {
        Site {
            city: "Bürgerbüro".to_owned(),
            logo: None,
            colours: Colours::default(),
            impressum: LegalText::Missing,
            datenschutz: LegalText::Missing,
            barrierefreiheit: Accessibility::Missing,
        }
    }
}

impl Default for Colours {
    fn default() -> Self {
        Colours {
            primary: Colour([0x00, 0x45, 0x7d]),
            accent: Colour([0x00, 0x2d, 0x52]),
        }
    }
}

impl Site {
    /// Reads and checks `path`; the logo is read relative to its folder.
    pub fn load(path: &Path) -> Result<Site, SiteError> {
        let text = std::fs::read_to_string(path).map_err(|error| SiteError::Unreadable {
            file: path.display().to_string(),
            reason: error.to_string(),
        })?;
        Site::parse(&text, path)
    }

    /// Checks `text` as the contents of the file at `path` (which names the
    /// file in errors and is where a relative logo path starts).
    pub fn parse(text: &str, path: &Path) -> Result<Site, SiteError> {
        let file = path.display().to_string();
        let raw: RawSite = toml::from_str(text).map_err(|error| SiteError::Syntax {
            file: file.clone(),
            message: syntax_message(text, &error),
        })?;
        let invalid = |field: &str, message: String| SiteError::Invalid {
            file: file.clone(),
            field: field.to_owned(),
            message,
        };
        let city = plain_line(&raw.city, MAX_CITY_CHARS).map_err(|message| invalid("city", message))?;
        let logo = match raw.logo {
            None => None,
            Some(logo) => {
                let alt = plain_line(&logo.alt, MAX_ALT_CHARS).map_err(|message| invalid("logo.alt", message))?;
                let base = path.parent().unwrap_or(Path::new("."));
                let (bytes, content_type) =
                    read_logo(&base.join(&logo.file)).map_err(|message| invalid("logo.file", message))?;
                Some(Logo {
                    bytes,
                    content_type,
                    alt,
                })
            }
        };
        let colours = match raw.colours {
            None => Colours::default(),
            Some(colours) => Colours {
                primary: Colour::parse_readable(&colours.primary)
                    .map_err(|message| invalid("colours.primary", message))?,
                accent: Colour::parse_readable(&colours.accent)
                    .map_err(|message| invalid("colours.accent", message))?,
            },
        };
        let impressum = raw
            .impressum
            .check()
            .map_err(|(part, message)| invalid(&format!("impressum{part}"), message))?;
        let datenschutz = raw
            .datenschutz
            .check()
            .map_err(|(part, message)| invalid(&format!("datenschutz{part}"), message))?;
        let barrierefreiheit = raw
            .barrierefreiheit
            .check()
            .map_err(|(part, message)| invalid(&format!("barrierefreiheit{part}"), message))?;
        Ok(Site {
            city,
            logo,
            colours,
            impressum,
            datenschutz,
            barrierefreiheit,
        })
    }

    /// `--demo` without a file: the neutral site with texts that say it is a demonstration.
    pub fn demo() -> Site {
        let text = |text: &str| Paragraphs::parse(text).expect("the demo texts are plain");
        Site {
            impressum: LegalText::Text(text(
                "Dies ist eine Demonstration der Terminvergabe Terminagent.\n\n\
                 Sie gehört zu keiner Stadt und keiner Behörde. Die Bürgerbüros, Anliegen und Termine sind \
                 erfunden; gebuchte Termine finden nicht statt.",
            )),
            datenschutz: LegalText::Text(text(
                "Dies ist eine Demonstration. Bitte geben Sie keine echten Namen oder E-Mail-Adressen an.\n\n\
                 Angaben, die Sie hier machen, dienen nur der Vorführung und werden mit der Demonstration gelöscht.",
            )),
            barrierefreiheit: Accessibility::Statement(AccessibilityStatement {
                conformance: Conformance::Partial,
                non_accessible: text(
                    "Diese Demonstration wird laufend automatisch geprüft (axe-core, WCAG 2.1 AA). Eine Prüfung \
                     durch Menschen mit Behinderungen steht noch aus.",
                ),
                prepared_on: NaiveDate::from_ymd_opt(2026, 12, 7).expect("a date"),
                feedback: text(
                    "Diese Demonstration hat keine Kontaktstelle. Der Betreiber einer echten Installation nennt hier seine.",
                ),
                enforcement: text(
                    "Der Betreiber einer echten Installation nennt hier die Schlichtungs- oder Ombudsstelle \
                     seines Landes.",
                ),
            }),
            ..Site::default()
        }
    }

    pub fn city(&self) -> &str {
        &self.city
    }

    pub fn logo(&self) -> Option<&Logo> {
        self.logo.as_ref()
    }

    pub fn colours(&self) -> Colours {
        self.colours
    }

    pub fn impressum(&self) -> &LegalText {
        &self.impressum
    }

    pub fn datenschutz(&self) -> &LegalText {
        &self.datenschutz
    }

    pub fn barrierefreiheit(&self) -> &Accessibility {
        &self.barrierefreiheit
    }

    /// Where the footer's "Impressum" leads: the city's page or ours.
    pub fn impressum_href(&self) -> &str {
        self.impressum.href("/impressum")
    }

    pub fn datenschutz_href(&self) -> &str {
        self.datenschutz.href("/datenschutz")
    }

    pub fn barrierefreiheit_href(&self) -> &str {
        match &self.barrierefreiheit {
            Accessibility::External(url) => url.as_str(),
            _ => "/barrierefreiheit",
        }
    }

    /// `/assets/farben.css`: the colours as the custom properties site.css uses.
    pub fn colour_stylesheet(&self) -> String {
        let Colours { primary, accent } = self.colours;
        format!(
            "/* The installation's colours (--site-config). */\n\
             :root {{ --primary: {primary}; --accent: {accent}; --brand: var(--primary); --brand-dark: var(--accent); }}\n"
        )
    }
}

impl LegalText {
    fn href<'a>(&'a self, own: &'a str) -> &'a str {
        match self {
            LegalText::External(url) => url.as_str(),
            _ => own,
        }
    }
}

impl Logo {
    pub fn alt(&self) -> &str {
        &self.alt
    }

    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .field("alt", &self.alt)
            .finish()
    }
}

impl Paragraphs {
    /// Plain text: blank lines separate paragraphs; lines are trimmed; no
    /// control characters but line breaks and tabs; not empty.
    pub fn parse(text: &str) -> Result<Paragraphs, String> {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(format!("at most {MAX_TEXT_CHARS} characters, not {chars}"));
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err("must not contain control characters".to_owned());
        }
        let paragraphs = Paragraphs::of(text);
        if paragraphs.0.is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(paragraphs)
    }

    /// Any text (checked elsewhere, e.g. a service's description) as
    /// paragraphs: a blank line separates them, lines are trimmed.
    pub fn of(text: &str) -> Paragraphs {
        let mut paragraphs: Vec<Vec<String>> = Vec::new();
        let mut current: Vec<String> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() {
                if !current.is_empty() {
                    paragraphs.push(std::mem::take(&mut current));
                }
            } else {
                current.push(line.replace('\t', " "));
            }
        }
        if !current.is_empty() {
            paragraphs.push(current);
        }
        Paragraphs(paragraphs)
    }

    /// Each paragraph's lines.
    pub fn paragraphs(&self) -> &[Vec<String>] {
        &self.0
    }
}

impl ExternalUrl {
    pub fn parse(text: &str) -> Result<ExternalUrl, String> {
        let text = text.trim();
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(|| format!("an address starting with https:// (or http://), not {text:?}"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("the address {text:?} names no host"));
        }
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\'))
        {
            return Err(format!(
                "the address {text:?} contains spaces or characters an address cannot have"
            ));
        }
        if text.chars().count() > MAX_URL_CHARS {
            return Err(format!("an address of at most {MAX_URL_CHARS} characters"));
        }
        Ok(ExternalUrl(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Colour {
    /// `#rrggbb` (either case).
    pub fn parse(text: &str) -> Result<Colour, String> {
        let hex = text
            .strip_prefix('#')
            .filter(|hex| hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("{text:?} is not a colour written as #rrggbb (e.g. \"#00457d\")"))?;
        let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).expect("checked hex digits");
        Ok(Colour([channel(0), channel(2), channel(4)]))
    }

    /// A colour white text can sit on, and that can sit as text on white.
    pub fn parse_readable(text: &str) -> Result<Colour, String> {
        let colour = Colour::parse(text)?;
        let contrast = colour.contrast_with_white();
        if contrast < MIN_CONTRAST {
            return Err(format!(
                "{colour} has a contrast of {contrast:.2}:1 with white; WCAG AA needs at least {MIN_CONTRAST}:1 \
                 (white text is written on it, and links in it on white): choose a darker colour"
            ));
        }
        Ok(colour)
    }

    /// WCAG 2.x relative luminance.
    pub fn luminance(self) -> f64 {
        let linear = |channel: u8| {
            let c = f64::from(channel) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// WCAG 2.x contrast ratio against white, 1 to 21.
    pub fn contrast_with_white(self) -> f64 {
        1.05 / (self.luminance() + 0.05)
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

/// The parser's complaint on one line, with the line it points at (which
/// names the field), e.g. ``line 12 (`primary = 7`): invalid type: integer
/// `7`, expected a string``; a missing field is named by the message itself.
fn syntax_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) if !message.starts_with("missing field") => {
            let start = span.start.min(text.len());
            let number = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(number - 1).unwrap_or_default().trim();
            format!("line {number} (`{line}`): {message}")
        }
        _ => message,
    }
}

/// One line of plain text: trimmed, not empty, no control characters.
fn plain_line(text: &str, max_chars: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().any(char::is_control) {
        return Err("must be one line without control characters".to_owned());
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(format!("at most {max_chars} characters, not {chars}"));
    }
    Ok(text.to_owned())
}

fn read_logo(path: &Path) -> Result<(Arc<[u8]>, &'static str), String> {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    let content_type = match extension.as_deref() {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => {
            return Err(format!(
                "{} is not an .svg, .png, .jpg, .webp or .gif file",
                path.display()
            ));
        }
    };
    let size = std::fs::metadata(path)
        .map_err(|error| format!("{} cannot be read: {error}", path.display()))?
        .len();
    if size > MAX_LOGO_BYTES {
        return Err(format!(
            "{} has {size} bytes; a logo may have at most {MAX_LOGO_BYTES}",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("{} cannot be read: {error}", path.display()))?;
    Ok((bytes.into(), content_type))
}

// --- the file's shape -----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    city: String,
    logo: Option<RawLogo>,
    colours: Option<RawColours>,
    impressum: RawLegal,
    datenschutz: RawLegal,
    barrierefreiheit: RawAccessibility,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogo {
    file: std::path::PathBuf,
    alt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColours {
    primary: String,
    accent: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLegal {
    url: Option<String>,
    text: Option<String>,
}

/// A failed check: the part of the section (".url", ".text", "") and why.
type PartError = (&'static str, String);

impl RawLegal {
    fn check(self) -> Result<LegalText, PartError> {
        match (self.url, self.text) {
            (Some(url), None) => Ok(LegalText::External(ExternalUrl::parse(&url).map_err(|e| (".url", e))?)),
            (None, Some(text)) => Ok(LegalText::Text(Paragraphs::parse(&text).map_err(|e| (".text", e))?)),
            (Some(_), Some(_)) => Err(("", "give either url or text, not both".to_owned())),
            (None, None) => Err((
                "",
                "give url (the city's own page) or text (kept in this file)".to_owned(),
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccessibility {
    url: Option<String>,
    stand: Option<String>,
    nicht_barrierefreie_inhalte: Option<String>,
    erstellt_am: Option<toml::value::Datetime>,
    feedback: Option<String>,
    durchsetzungsverfahren: Option<String>,
}

impl RawAccessibility {
    fn check(self) -> Result<Accessibility, PartError> {
        let has_parts = self.stand.is_some()
            || self.nicht_barrierefreie_inhalte.is_some()
            || self.erstellt_am.is_some()
            || self.feedback.is_some()
            || self.durchsetzungsverfahren.is_some();
        if let Some(url) = self.url {
            if has_parts {
                return Err(("", "give either url or the statement's parts, not both".to_owned()));
            }
            return Ok(Accessibility::External(
                ExternalUrl::parse(&url).map_err(|e| (".url", e))?,
            ));
        }
        let required = |value: Option<String>, part: &'static str| {
            value.ok_or((part, "missing: give url, or stand, nicht_barrierefreie_inhalte, erstellt_am, feedback and durchsetzungsverfahren".to_owned()))
        };
        let conformance = match required(self.stand, ".stand")?.trim() {
            "vollständig" => Conformance::Full,
            "teilweise" => Conformance::Partial,
            "nicht" => Conformance::None,
            other => {
                return Err((
                    ".stand",
                    format!("\"vollständig\", \"teilweise\" or \"nicht\", not {other:?}"),
                ));
            }
        };
        let non_accessible = match (self.nicht_barrierefreie_inhalte, conformance) {
            (None, Conformance::Full) => Paragraphs(Vec::new()),
            (text, _) => Paragraphs::parse(&required(text, ".nicht_barrierefreie_inhalte")?)
                .map_err(|e| (".nicht_barrierefreie_inhalte", e))?,
        };
        let prepared_on = self.erstellt_am.ok_or((
            ".erstellt_am",
            "missing: the day the statement was made, e.g. 2026-11-30".to_owned(),
        ))?;
        let prepared_on = prepared_on
            .date
            .filter(|_| prepared_on.time.is_none())
            .and_then(|date| NaiveDate::from_ymd_opt(i32::from(date.year), u32::from(date.month), u32::from(date.day)))
            .ok_or((".erstellt_am", format!("a date such as 2026-11-30, not {prepared_on}")))?;
        let feedback = Paragraphs::parse(&required(self.feedback, ".feedback")?).map_err(|e| (".feedback", e))?;
        let enforcement = Paragraphs::parse(&required(self.durchsetzungsverfahren, ".durchsetzungsverfahren")?)
            .map_err(|e| (".durchsetzungsverfahren", e))?;
        Ok(Accessibility::Statement(AccessibilityStatement {
            conformance,
            non_accessible,
            prepared_on,
            feedback,
            enforcement,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((Colour::parse("#000000").unwrap().contrast_with_white() - 21.0).abs() < 1e-9);
        assert!((Colour::parse("#ffffff").unwrap().contrast_with_white() - 1.0).abs() < 1e-9);
        // #767676 is the lightest grey with AA on white; #777777 falls short.
        assert!(Colour::parse_readable("#767676").is_ok());
        assert!(Colour::parse_readable("#777777").is_err());
        assert_eq!(Colour::parse("#00457D").unwrap().to_string(), "#00457d");
        for bad in ["00457d", "#00457", "#00457dd", "#gg457d", "", "#"] {
            assert!(Colour::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paragraphs_split_on_blank_lines_and_keep_line_breaks() {
        let text = Paragraphs::parse("\n  Stadt Duisburg\nBurgplatz 19  \n\n\n47051 Duisburg\n").unwrap();
        assert_eq!(
            text.paragraphs(),
            [
                vec!["Stadt Duisburg".to_owned(), "Burgplatz 19".to_owned()],
                vec!["47051 Duisburg".to_owned()]
            ]
        );
        assert!(Paragraphs::parse(" \n ").is_err());
        assert!(Paragraphs::parse("a\u{7}b").is_err());
    }

    #[test]
    fn external_addresses_are_web_addresses() {
        assert!(ExternalUrl::parse("https://www.duisburg.de/impressum").is_ok());
        for bad in [
            "javascript:alert(1)",
            "www.duisburg.de",
            "https://",
            "https:///x",
            "https://a b",
            "https://a\"b",
        ] {
            assert!(ExternalUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
