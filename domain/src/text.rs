//! Free text shown to people (names, addresses): trimmed, bounded, printable.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must have at most {max} characters, has {actual}")]
    TooLong { max: usize, actual: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not contain a web address")]
    WebAddress,
    #[error("must not contain invisible formatting characters (text direction, zero width)")]
    InvisibleCharacter,
}

/// Characters that change how the text around them shows without showing
/// themselves: text-direction overrides and isolates (which can make a name
/// read backwards in a mail) and zero-width characters (which hide words
/// from filters).
fn is_invisible_formatting(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' // zero width space, non-joiner, joiner; LRM, RLM
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // isolates
        | '\u{061C}' // Arabic letter mark
        | '\u{FEFF}' // zero width no-break space
    )
}

/// A person's name, which the service prints in mails it sends to whatever
/// address was typed: no web address (a name such as "Bitte sofort
/// https://… aufrufen" turns the greeting into a lure) and no invisible
/// formatting characters.
pub(crate) fn parse_person_name(input: &str, max_chars: usize) -> Result<String, TextError> {
    let name = parse_text(input, max_chars, false, false)?;
    if name.chars().any(is_invisible_formatting) {
        return Err(TextError::InvisibleCharacter);
    }
    let lower = name.to_lowercase();
    let looks_like_link = lower.contains("://")
        || lower.contains("www.")
        || lower
            .split(|c: char| c.is_whitespace() || c == '/')
            .any(looks_like_domain);
    if looks_like_link {
        return Err(TextError::WebAddress);
    }
    Ok(name)
}

/// `evil.example`, `t.me`: letters and digits, a dot, then a top-level
/// domain of two or more letters. Names have dots ("Dr. Anna", "A.B.
/// Schmidt") but no letters right after a dot.
fn looks_like_domain(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    match word.rsplit_once('.') {
        Some((head, tld)) => {
            !head.is_empty()
                && head.chars().last().is_some_and(char::is_alphanumeric)
                && tld.chars().count() >= 2
                && tld.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// Trims `input` and checks it; lengths count characters, not bytes, because
/// limits are stated to people in characters.
pub(crate) fn parse_text(
    input: &str,
    max_chars: usize,
    allow_empty: bool,
    allow_line_breaks: bool,
) -> Result<String, TextError> {
    let text = input.trim();
    if text.is_empty() && !allow_empty {
        return Err(TextError::Empty);
    }
    let actual = text.chars().count();
    if actual > max_chars {
        return Err(TextError::TooLong { max: max_chars, actual });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(allow_line_breaks && c == '\n'))
    {
        return Err(TextError::ControlCharacter);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_counts_characters_not_bytes() {
        assert_eq!(parse_text("  Jörg  ", 4, false, false).unwrap(), "Jörg");
        assert_eq!(
            parse_text("Jörgen", 4, false, false),
            Err(TextError::TooLong { max: 4, actual: 6 })
        );
    }

    #[test]
    fn empty_only_when_allowed() {
        assert_eq!(parse_text("   ", 10, false, false), Err(TextError::Empty));
        assert_eq!(parse_text("   ", 10, true, false).unwrap(), "");
    }

    #[test]
    fn names_refuse_links_and_invisible_characters() {
        for name in [
            "Erika Mustermann",
            "Dr. Anna-Lena Groß",
            "A.B. Schmidt",
            "Jörg O'Neill",
            "Ayşe Yılmaz",
            "محمد",
        ] {
            assert_eq!(parse_person_name(name, 200).unwrap(), name);
        }
        for name in [
            "Bitte sofort https://evil.example/x aufrufen",
            "hxxp://evil",
            "Besuchen Sie www.evil",
            "Anna evil.example",
            "Anna t.me/offer",
        ] {
            assert_eq!(parse_person_name(name, 200), Err(TextError::WebAddress), "{name}");
        }
        for name in [
            "Anna\u{202E}nnA",
            "An\u{200B}na",
            "Anna\u{2066}x\u{2069}",
            "\u{FEFF}Anna",
        ] {
            assert_eq!(
                parse_person_name(name, 200),
                Err(TextError::InvisibleCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn control_characters_rejected_line_breaks_only_when_allowed() {
        assert_eq!(parse_text("a\u{7}b", 10, false, true), Err(TextError::ControlCharacter));
        assert_eq!(parse_text("a\nb", 10, false, false), Err(TextError::ControlCharacter));
        assert_eq!(parse_text("a\nb", 10, false, true).unwrap(), "a\nb");
    }
}
