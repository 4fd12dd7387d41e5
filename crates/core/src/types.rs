//! Domain types shared by every dashboard: typed ids, the enums mirroring PostgreSQL's, E.164 phones.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub i32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                s.trim().parse::<i32>().ok().filter(|id| *id > 0).map($name).ok_or_else(|| {
                    Error::invalid(
                        format!("{:?} is not a valid {} id", s, $what),
                        "ids are positive whole numbers, as shown in the `id` column of list commands",
                    )
                })
            }
        }
    };
}

id_type!(/// A CRM customer (tenant).
    BusinessId, "business");
id_type!(/// A team member of a business.
    UserId, "user");
id_type!(/// A WhatsApp business number connected to a business.
    AccountId, "WhatsApp account");
id_type!(/// A customer of a business.
    ContactId, "contact");
id_type!(/// One inbound or outbound WhatsApp message.
    MessageId, "message");
id_type!(/// A billing plan.
    PlanId, "plan");
id_type!(/// A business's subscription to a plan.
    SubscriptionId, "subscription");

macro_rules! pg_enum {
    ($(#[$doc:meta])* $name:ident, $pg:literal, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(type_name = $pg)]
        pub enum $name {
            $(
                #[sqlx(rename = $text)]
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the database enum's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as PostgreSQL spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            /// Case-insensitive, so `paid` and `Paid` both work on the command line.
            fn from_str(s: &str) -> Result<Self, Error> {
                let wanted = s.trim();
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(wanted)).ok_or_else(|| {
                    let valid: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    Error::invalid(
                        format!("{:?} is not a valid {}", s, $what),
                        format!("use one of: {}", valid.join(", ")),
                    )
                })
            }
        }
    };
}

pg_enum!(/// A lead's place in the sales pipeline (`pipeline_stage`).
    Stage, "pipeline_stage", "stage", {
    New => "New", Engaged => "Engaged", Interested => "Interested", Paid => "Paid", Lost => "Lost",
});
pg_enum!(/// Whether a message came from the customer or from the business (`message_direction`).
    Direction, "message_direction", "direction", { In => "in", Out => "out" });
pg_enum!(/// Delivery state of a message (`message_status`); `pending` is a reserved, not yet accepted send.
    MessageStatus, "message_status", "message status", {
    Pending => "pending", Sent => "sent", Delivered => "delivered", Failed => "failed", Read => "read",
});
pg_enum!(/// State of a business's subscription (`subscription_status`).
    SubscriptionStatus, "subscription_status", "subscription status", {
    Active => "active", Expired => "expired", Cancelled => "cancelled",
});

impl MessageStatus {
    /// Position in the delivery order; a status update never moves a message backwards, and `failed`
    /// is terminal.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Pending => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            MessageStatus::Failed => 4,
        }
    }
}

/// A phone number in E.164 form (`+14155552671`), validated with libphonenumber's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses what a person typed. Numbers without a leading `+` or `00` are read in `default_region`
    /// (an ISO 3166 code such as `US`, `IN`, `BR`).
    pub fn parse(input: &str, default_region: &str) -> Result<Phone, Error> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(
                "the phone number is empty",
                "give the number with its country code, e.g. +14155552671",
            ));
        }
        let region = default_region.parse::<phonenumber::country::Id>().ok();
        let parsed = phonenumber::parse(region, trimmed).map_err(|e| {
            Error::invalid(
                format!("{trimmed:?} is not a phone number ({e})"),
                "give the number with its country code, e.g. +14155552671",
            )
        })?;
        if !phonenumber::is_valid(&parsed) {
            return Err(Error::invalid(
                format!("{trimmed:?} is not a valid phone number for its country"),
                "check the digits and the country code, e.g. +14155552671",
            ));
        }
        Ok(Phone(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// A WhatsApp `wa_id` (digits only, no `+`), as webhooks deliver it. WhatsApp has already
    /// validated the number, so only the shape is checked.
    pub fn from_wa_id(wa_id: &str) -> Result<Phone, Error> {
        let digits = wa_id.trim().trim_start_matches('+');
        if digits.len() < 6 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                format!("{wa_id:?} is not a WhatsApp id"),
                "a wa_id is the international number in digits, without '+'",
            ));
        }
        Ok(Phone(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as WhatsApp's `to` and `wa_id` fields spell it: digits, no `+`.
    pub fn wa_id(&self) -> &str {
        self.0.trim_start_matches('+')
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("paid".parse::<Stage>().unwrap(), Stage::Paid);
        let err = "Won".parse::<Stage>().unwrap_err().to_string();
        assert!(err.contains("not a valid stage"), "{err}");
    }

    #[test]
    fn phone_normalises_national_and_international_forms() {
        assert_eq!(Phone::parse("+1 (415) 555-2671", "US").unwrap().as_str(), "+14155552671");
        assert_eq!(Phone::parse("415 555 2671", "US").unwrap().as_str(), "+14155552671");
        assert_eq!(Phone::parse("020 7946 0958", "GB").unwrap().as_str(), "+442079460958");
        assert!(Phone::parse("12", "US").is_err());
        assert!(Phone::parse("", "US").is_err());
    }

    #[test]
    fn wa_id_round_trips() {
        let phone = Phone::from_wa_id("16505551234").unwrap();
        assert_eq!(phone.as_str(), "+16505551234");
        assert_eq!(phone.wa_id(), "16505551234");
        assert!(Phone::from_wa_id("abc").is_err());
    }

    #[test]
    fn ids_reject_garbage() {
        assert_eq!("42".parse::<ContactId>().unwrap(), ContactId(42));
        assert!("-1".parse::<ContactId>().is_err());
        assert!("x".parse::<ContactId>().is_err());
    }
}
