//! Prefixed public ids: the prefix plus a UUIDv7 in simple form
//! (32 lowercase hex digits), e.g. `tkt_0190f5b2c3d47e8f9a0b1c2d3e4f5a6b`.

use std::fmt;

/// The string is not a well-formed id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidId;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid id")
    }
}

impl std::error::Error for InvalidId {}

/// Parses the part after the prefix; only the exact form `Display` produces is accepted.
fn parse_simple_uuid(hex: &str) -> Result<uuid::Uuid, InvalidId> {
    let well_formed = hex.len() == 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(InvalidId);
    }
    uuid::Uuid::try_parse(hex).map_err(|_| InvalidId)
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            pub const fn uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s.strip_prefix($prefix).ok_or(InvalidId)?;
                parse_simple_uuid(hex).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(|_| {
                    serde::de::Error::custom(concat!("expected an id starting with ", $prefix))
                })
            }
        }
    };
}

prefixed_id!(TicketId, "tkt_");
prefixed_id!(MessageId, "msg_");
prefixed_id!(EventId, "evt_");
prefixed_id!(WebhookId, "whk_");
prefixed_id!(DeliveryId, "dlv_");
prefixed_id!(NotificationId, "ntf_");
prefixed_id!(LedgerId, "led_");
prefixed_id!(PublishableKeyId, "pk_");
prefixed_id!(MacroId, "mac_");
prefixed_id!(BotId, "bot_");

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0190f5b2c3d47e8f9a0b1c2d3e4f5a6b";

    #[test]
    fn display_is_prefix_plus_simple_uuid() {
        let id = TicketId::new();
        let s = id.to_string();
        assert!(s.starts_with("tkt_"));
        assert_eq!(s.len(), 4 + 32);
        assert_eq!(s[4..], id.uuid().simple().to_string());
        assert_eq!(id.uuid().get_version_num(), 7);
    }

    #[test]
    fn roundtrip_every_kind() {
        fn check<T>(id: T)
        where
            T: fmt::Display + std::str::FromStr + PartialEq + fmt::Debug,
            <T as std::str::FromStr>::Err: fmt::Debug,
        {
            assert_eq!(id.to_string().parse::<T>().unwrap(), id);
        }
        check(TicketId::new());
        check(MessageId::new());
        check(EventId::new());
        check(WebhookId::new());
        check(DeliveryId::new());
        check(NotificationId::new());
        check(LedgerId::new());
        check(PublishableKeyId::new());
    }

    #[test]
    fn parses_known_value() {
        let id: MessageId = format!("msg_{HEX}").parse().unwrap();
        assert_eq!(id.uuid(), uuid::Uuid::try_parse(HEX).unwrap());
        assert_eq!(id.to_string(), format!("msg_{HEX}"));
        assert_eq!(MessageId::from_uuid(id.uuid()), id);
    }

    #[test]
    fn wrong_prefix_rejected() {
        assert_eq!(format!("msg_{HEX}").parse::<TicketId>(), Err(InvalidId));
        assert_eq!(format!("TKT_{HEX}").parse::<TicketId>(), Err(InvalidId));
        assert_eq!(HEX.parse::<TicketId>(), Err(InvalidId));
        assert_eq!(
            format!("hl_pk_{HEX}").parse::<PublishableKeyId>(),
            Err(InvalidId)
        );
    }

    #[test]
    fn wrong_length_rejected() {
        assert_eq!(
            format!("tkt_{}", &HEX[..31]).parse::<TicketId>(),
            Err(InvalidId)
        );
        assert_eq!(format!("tkt_{HEX}0").parse::<TicketId>(), Err(InvalidId));
        assert_eq!("tkt_".parse::<TicketId>(), Err(InvalidId));
        assert_eq!("".parse::<TicketId>(), Err(InvalidId));
    }

    #[test]
    fn only_display_form_accepted() {
        let upper = format!("tkt_{}", HEX.to_uppercase());
        assert_eq!(upper.parse::<TicketId>(), Err(InvalidId));
        let hyphenated = format!("tkt_{}", uuid::Uuid::try_parse(HEX).unwrap().hyphenated());
        assert_eq!(hyphenated.parse::<TicketId>(), Err(InvalidId));
        assert_eq!(format!(" tkt_{HEX}").parse::<TicketId>(), Err(InvalidId));
        assert_eq!(format!("tkt_{HEX} ").parse::<TicketId>(), Err(InvalidId));
        let non_hex = format!("tkt_{}g", &HEX[..31]);
        assert_eq!(non_hex.parse::<TicketId>(), Err(InvalidId));
        let multibyte = format!("tkt_{}é", &HEX[..30]);
        assert_eq!(multibyte.parse::<TicketId>(), Err(InvalidId));
    }

    #[test]
    fn serde_as_string() {
        let id: LedgerId = format!("led_{HEX}").parse().unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"led_{HEX}\""));
        assert_eq!(serde_json::from_str::<LedgerId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<LedgerId>(&format!("\"tkt_{HEX}\"")).is_err());
        assert!(serde_json::from_str::<LedgerId>("42").is_err());
    }

    #[test]
    fn v7_ids_sort_by_creation() {
        let a = EventId::new();
        let b = EventId::new();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
