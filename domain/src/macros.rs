//! Boilerplate for value types that are parsed once from a string.

/// `TryFrom<&str>`, `TryFrom<String>`, `FromStr` and `Into<String>` for a type with
/// `fn parse(&str) -> Result<Self, $err>` and `Display`, so that serde's
/// `try_from = "String", into = "String"` validates on deserialize.
macro_rules! string_conversions {
    ($ty:ty, $err:ty) => {
        impl TryFrom<&str> for $ty {
            type Error = $err;
            fn try_from(input: &str) -> Result<Self, $err> {
                Self::parse(input)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(input: String) -> Result<Self, $err> {
                Self::parse(&input)
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(input: &str) -> Result<Self, $err> {
                Self::parse(input)
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.to_string()
            }
        }
    };
}

/// A newtype over `String` whose only constructor is `parse`, which runs `$validate`
/// (`fn(&str) -> Result<String, $err>`, returning the value to store).
macro_rules! validated_string {
    ($(#[$meta:meta])* $vis:vis struct $name:ident, error = $err:ty, validate = $validate:path;) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        $vis struct $name(String);

        impl $name {
            /// Validates `input`; the only way to obtain a value of this type.
            pub fn parse(input: &str) -> Result<Self, $err> {
                $validate(input).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        string_conversions!($name, $err);
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("not shouting")]
    struct NotShouting;

    fn shouting(input: &str) -> Result<String, NotShouting> {
        (!input.is_empty() && input.chars().all(|c| c.is_ascii_uppercase()))
            .then(|| input.to_owned())
            .ok_or(NotShouting)
    }

    validated_string! {
        struct Shout, error = NotShouting, validate = shouting;
    }

    #[test]
    fn every_entry_point_validates() {
        assert_eq!(Shout::parse("HEY").unwrap().as_str(), "HEY");
        assert_eq!(Shout::parse("hey"), Err(NotShouting));
        assert_eq!(Shout::try_from("hey"), Err(NotShouting));
        assert_eq!(Shout::try_from(String::from("hey")), Err(NotShouting));
        assert_eq!("hey".parse::<Shout>(), Err(NotShouting));
        assert!(serde_json::from_str::<Shout>("\"hey\"").is_err());
        let shout: Shout = serde_json::from_str("\"HEY\"").unwrap();
        assert_eq!(serde_json::to_string(&shout).unwrap(), "\"HEY\"");
        assert_eq!(String::from(shout), "HEY");
    }
}
