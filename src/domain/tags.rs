//! A ticket's internal tags: at most 20, each 1–40 characters of `[a-z0-9_-]` after
//! trimming and lower-casing, without duplicates, in the order given.
use super::FieldError;

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LEN: usize = 40;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

/// One tag as a filter or a list element: trimmed, lower-cased, `[a-z0-9_-]{1,40}`.
pub fn parse_tag(raw: &str, field: &'static str) -> Result<String, FieldError> {
    let tag = raw.trim().to_lowercase();
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN {
        return Err(FieldError::new(
            field,
            format!("a tag is 1 to {MAX_TAG_LEN} characters"),
        ));
    }
    if !tag
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(FieldError::new(
            field,
            format!("tag `{tag}` may only contain a-z, 0-9, `_` and `-`"),
        ));
    }
    Ok(tag)
}

impl Tags {
    pub fn parse(raw: &[String]) -> Result<Self, FieldError> {
        let mut tags: Vec<String> = Vec::with_capacity(raw.len());
        for r in raw {
            let tag = parse_tag(r, "tags")?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
        }
        Ok(Self(tags))
    }

    /// The stored form, `,a,b,` (empty for none), so `tag=a` is `LIKE '%,a,%'`.
    pub fn to_stored(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!(",{},", self.0.join(","))
        }
    }

    pub fn from_stored(stored: &str) -> Vec<String> {
        Self::stored(stored).map(str::to_string).collect()
    }

    /// The tags of a stored `tags` column, in order, borrowed from it.
    pub fn stored(stored: &str) -> impl Iterator<Item = &str> {
        stored.split(',').filter(|t| !t.is_empty())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lower_cases_trims_and_dedups() {
        let tags = Tags::parse(&strings(&[" VIP ", "billing", "vip"])).expect("valid");
        assert_eq!(tags.as_slice(), strings(&["vip", "billing"]).as_slice());
        assert_eq!(tags.to_stored(), ",vip,billing,");
        assert_eq!(
            Tags::from_stored(&tags.to_stored()),
            strings(&["vip", "billing"])
        );
    }

    #[test]
    fn refuses_bad_tags() {
        assert!(Tags::parse(&strings(&["has space"])).is_err());
        assert!(Tags::parse(&strings(&["comma,tag"])).is_err());
        assert!(Tags::parse(&strings(&[""])).is_err());
        assert!(Tags::parse(&strings(&[&"a".repeat(41)])).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&many).is_err());
        assert!(Tags::parse(&many[..20]).is_ok());
    }

    #[test]
    fn empty_is_stored_empty() {
        assert_eq!(Tags::default().to_stored(), "");
        assert!(Tags::from_stored("").is_empty());
    }
}
