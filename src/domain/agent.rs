//! Agent input rules: a name (see [`super::validate::Name`]) and an optional description.
use super::FieldError;

/// The longest agent description, in characters after trimming.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// An agent's description: 1–1,000 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentDescription(String);

impl AgentDescription {
    /// `None` or a blank string → `Ok(None)` (no description); anything else must fit.
    pub fn parse_optional(value: Option<&str>) -> Result<Option<Self>, FieldError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if value.contains('\0') {
            return Err(FieldError::new(
                "description",
                "must not contain NUL characters",
            ));
        }
        if value.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(FieldError::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        Ok(Some(Self(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_none_and_length_is_bounded() {
        assert_eq!(AgentDescription::parse_optional(None), Ok(None));
        assert_eq!(AgentDescription::parse_optional(Some("  \n ")), Ok(None));
        assert_eq!(
            AgentDescription::parse_optional(Some(" Handles sales "))
                .unwrap()
                .unwrap()
                .as_str(),
            "Handles sales"
        );
        assert!(AgentDescription::parse_optional(Some(&"é".repeat(1000))).is_ok());
        let err = AgentDescription::parse_optional(Some(&"é".repeat(1001))).unwrap_err();
        assert_eq!(err.field, "description");
        let err = AgentDescription::parse_optional(Some("a \0 b")).unwrap_err();
        assert_eq!(err.field, "description");
    }
}
