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
    fn control_characters_rejected_line_breaks_only_when_allowed() {
        assert_eq!(parse_text("a\u{7}b", 10, false, true), Err(TextError::ControlCharacter));
        assert_eq!(parse_text("a\nb", 10, false, false), Err(TextError::ControlCharacter));
        assert_eq!(parse_text("a\nb", 10, false, true).unwrap(), "a\nb");
    }
}
