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
id_type!(/// A message template of a business.
    TemplateId, "template");
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
pg_enum!(/// State of a business's subscription (`subscription_status`): trialing, active and past_due are
    /// live (sends go), expired and cancelled have ended.
    SubscriptionStatus, "subscription_status", "subscription status", {
    Trialing => "trialing", Active => "active", PastDue => "past_due", Expired => "expired",
    Cancelled => "cancelled",
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
        // libphonenumber reads keypad letters as digits (1-800-FLOWERS) and drops what follows a
        // number (an extension, an emoji): for a contact's WhatsApp number either is a typo to show.
        if let Some(odd) = trimmed.chars().find(|c| !(c.is_ascii_digit() || c.is_whitespace() || "+-().".contains(*c)))
        {
            return Err(Error::invalid(
                format!("{trimmed:?} is not a phone number: it contains {odd:?}"),
                "type the digits with the country code, e.g. +14155552671 (no letters or extensions)",
            ));
        }
        let region = default_region.parse::<phonenumber::country::Id>().ok();
        let parsed = parse_in_own_country(region, trimmed).map_err(|e| {
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

    /// A number as a business's WhatsApp account has it: Meta issued it (its `+1 555` test numbers
    /// among them, which no numbering plan lists), so only its length is checked for its country code.
    pub fn parse_possible(input: &str, default_region: &str) -> Result<Phone, Error> {
        let trimmed = input.trim();
        if let Ok(phone) = Phone::parse(trimmed, default_region) {
            return Ok(phone);
        }
        let region = default_region.parse::<phonenumber::country::Id>().ok();
        match parse_in_own_country(region, trimmed) {
            Ok(parsed) if is_possible(&parsed) => Ok(Phone(parsed.format().mode(phonenumber::Mode::E164).to_string())),
            _ => Phone::parse(trimmed, default_region),
        }
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

/// Parses with the metadata of the number's own country, as libphonenumber does. The `phonenumber`
/// crate (0.3.10) applies the *default region's* national-prefix rules to a number that carries its own
/// country code: with region US, `+55 11 98765-4321` loses US's trunk prefix "1" twice and becomes the
/// invalid `+55 987654321` (and `+49 1512 3456789` silently becomes another, "valid", number). So an
/// international number (`+`, or the region's international dialling prefix such as `011` or `00`) is
/// parsed without a region; only a national number is read with the default region's rules.
fn parse_in_own_country(
    region: Option<phonenumber::country::Id>,
    input: &str,
) -> Result<phonenumber::PhoneNumber, phonenumber::ParseError> {
    if input.starts_with('+') {
        return phonenumber::parse(None, input);
    }
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    let dialling_prefix_end = region
        .and_then(|r| phonenumber::metadata::DATABASE.by_id(r.as_ref()))
        .and_then(|meta| meta.international_prefix())
        .and_then(|prefix| prefix.find(&digits))
        .filter(|m| m.start() == 0)
        .map(|m| m.end());
    match dialling_prefix_end {
        // As libphonenumber: what follows a dialling prefix is a country code, which never starts with 0.
        Some(end) if !digits[end..].starts_with('0') => phonenumber::parse(None, format!("+{}", &digits[end..])),
        _ => phonenumber::parse(region, input),
    }
}

/// libphonenumber's possible-number check: the national number has the length of some type of number
/// of its country code. (The crate's own length check reads its metadata the wrong way round, and its
/// general descriptor lacks the union of lengths libphonenumber's build computes, so it is taken here.)
fn is_possible(parsed: &phonenumber::PhoneNumber) -> bool {
    let length = parsed.national().to_string().len() as u16;
    let Some(meta) = phonenumber::metadata::DATABASE.by_code(&parsed.code().value()).and_then(|m| m.into_iter().next())
    else {
        return false;
    };
    let d = meta.descriptors();
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    .any(|desc| desc.possible_length().contains(&length))
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most rows a history or log listing (pipeline history, stuck contacts, raw webhook events)
/// returns at once. Faces refuse a larger request; core bounds it for any other caller.
pub const MAX_LISTED_ROWS: i64 = 10_000;

/// The longest name a person, contact or business can have.
pub const MAX_NAME_LEN: usize = 200;

/// A name as typed (`what` says whose, for the message): trimmed, one line without control
/// characters (they would move the cursor or break a row when printed), at most [`MAX_NAME_LEN`]
/// characters. Empty stays empty: the caller decides whether a name is required.
pub fn plain_name(what: &str, name: &str) -> Result<String, Error> {
    let name = name.trim();
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        let which = match c {
            '\n' | '\r' => "a line break".to_string(),
            '\0' => "a NUL character (\\0), which cannot be stored".to_string(),
            _ => format!("the control character {c:?}"),
        };
        return Err(Error::invalid(
            format!("the {what} contains {which}"),
            "type it on one line of plain text (in a CSV file, look for an unterminated quote)",
        ));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(format!("the {what} is longer than {MAX_NAME_LEN} characters"), "shorten it"));
    }
    Ok(name.to_string())
}

/// An e-mail address, lower-cased: one `@` between a local part and a dotted domain, no spaces.
pub fn email_address(email: &str) -> Result<String, Error> {
    let email = email.trim().to_lowercase();
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|label| !label.is_empty())
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && email.len() <= 254
        }
        None => false,
    };
    if !well_formed {
        return Err(Error::invalid(format!("{email:?} is not an e-mail address"), "give one like name@example.com"));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_with_letters_or_extensions_are_refused_not_rewritten() {
        for typo in ["+1202555O199", "+1 202 555 0100 x", "+1 (202) 555-0177 ext. 5", "+1-202-555-0166\u{1F600}"] {
            assert!(Phone::parse(typo, "US").is_err(), "{typo}");
        }
        assert_eq!(Phone::parse(" +1 (202) 555-0177 ", "US").unwrap().as_str(), "+12025550177");
    }

    #[test]
    fn names_are_one_line_of_plain_text_and_not_too_long() {
        assert_eq!(plain_name("name", "  Ann Lee ").unwrap(), "Ann Lee");
        assert_eq!(plain_name("name", "").unwrap(), "");
        assert!(plain_name("name", "Bad\u{1b}[31mRed").is_err());
        assert!(plain_name("name", "two\nlines").is_err());
        assert!(plain_name("name", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(plain_name("name", &"é".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn email_addresses_need_a_local_part_a_dotted_domain_and_no_spaces() {
        assert_eq!(email_address(" Owner@Example.COM ").unwrap(), "owner@example.com");
        for bad in ["a b@c.d", "a@b", "@b.c", "a@b..c", "a@@b.c", "no-at.example.com", "a@.b"] {
            assert!(email_address(bad).is_err(), "{bad}");
        }
    }

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
