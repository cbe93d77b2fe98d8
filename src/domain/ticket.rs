//! Ticket categories and priorities (docs/API.md §4).

pub use entities::values::{Category, Priority};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_roundtrip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), c);
        }
        assert_eq!(
            serde_json::to_string(&Category::ApiSdk).unwrap(),
            "\"api_sdk\""
        );
    }

    #[test]
    fn category_error_lists_allowed_values() {
        let err = "ApiSdk".parse::<Category>().unwrap_err();
        assert_eq!(err.field, "category");
        for c in Category::ALL {
            assert!(err.message.contains(c.as_str()), "{}", err.message);
        }
    }

    #[test]
    fn priority_roundtrip() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Priority>(&json).unwrap(), p);
        }
    }

    #[test]
    fn priority_error_lists_allowed_values() {
        let err = "critical".parse::<Priority>().unwrap_err();
        assert_eq!(err.field, "priority");
        assert_eq!(err.message, "must be one of: low, normal, high, urgent");
    }

    #[test]
    fn priority_rank_and_order() {
        assert_eq!(Priority::default(), Priority::Normal);
        let ranks: Vec<u8> = Priority::ALL.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3]);
        assert!(Priority::Urgent > Priority::High);
        assert!(Priority::Normal > Priority::Low);
    }
}
