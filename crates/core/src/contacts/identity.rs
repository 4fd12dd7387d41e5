//! One person, one contact: the spellings of one WhatsApp number that name the same subscriber.
//!
//! A contact is matched by its BSUID first, then by its phone exactly, then by the phone's one other
//! spelling ([`alias`]). WhatsApp's `wa_id` is the number as WhatsApp registered it, which in three of
//! its largest markets may differ from the E.164 form people type and libphonenumber validates:
//!
//! - Mexico: accounts registered before 2019 carry the old mobile "1": wa_id `5215512345678` is
//!   `+52 55 1234 5678`.
//! - Argentina: mobiles are dialled from abroad with a "9" (`+54 9 11 2345 6789`, as wa_ids spell them),
//!   but are often written without it (`+54 11 2345 6789`). Fixed and mobile ranges never share the
//!   same ten digits, so both are one subscriber.
//! - Brazil: mobiles gained a ninth digit ("9" after the area code) in 2012-2016; older accounts' wa_ids
//!   may still lack it (`551187654321` is `+55 11 98765 4321`). Only numbers in the mobile range
//!   (subscriber part starting 6-9) are paired: landlines start 2-5 and never had the ninth digit.
//!
//! The wa_id itself is stored as Meta sends it and replies go to it ([`send_address`]); it is never
//! rejected nor rewritten. The contact's phone keeps the spelling it was first known by.

use crate::types::Phone;

/// The other spelling of `phone` that names the same WhatsApp subscriber, if its country has one.
pub fn alias(phone: &Phone) -> Option<Phone> {
    let digits = phone.wa_id();
    let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
    if !all_digits {
        return None;
    }
    let other = if let Some(rest) = digits.strip_prefix("52") {
        mobile_marker(rest, '1')
            .map(|without| format!("52{without}"))
            .or_else(|| (rest.len() == 10).then(|| format!("521{rest}")))
    } else if let Some(rest) = digits.strip_prefix("54") {
        mobile_marker(rest, '9')
            .map(|without| format!("54{without}"))
            .or_else(|| (rest.len() == 10).then(|| format!("549{rest}")))
    } else if let Some(rest) = digits.strip_prefix("55") {
        brazil_ninth_digit(rest).map(|other| format!("55{other}"))
    } else {
        None
    };
    other.and_then(|o| Phone::from_wa_id(&o).ok())
}

/// The ten national digits after a leading `marker` digit (Mexico's "1", Argentina's "9").
fn mobile_marker(rest: &str, marker: char) -> Option<&str> {
    rest.strip_prefix(marker).filter(|national| national.len() == 10)
}

/// A Brazilian mobile with its ninth digit added or removed: area code (two digits, 1-9) then either
/// `9` and eight digits or eight digits alone, the eight starting 6-9.
fn brazil_ninth_digit(rest: &str) -> Option<String> {
    let (area, subscriber) = rest.split_at_checked(2)?;
    if area.bytes().any(|b| b == b'0') {
        return None;
    }
    let mobile_range = |eight: &str| eight.len() == 8 && matches!(eight.as_bytes()[0], b'6'..=b'9');
    match subscriber.len() {
        9 if subscriber.starts_with('9') && mobile_range(&subscriber[1..]) => {
            Some(format!("{area}{}", &subscriber[1..]))
        }
        8 if mobile_range(subscriber) => Some(format!("{area}9{subscriber}")),
        _ => None,
    }
}

/// Where a message to a contact goes: the wa_id WhatsApp gave (the account it knows), else the phone.
pub fn send_address(wa_id: Option<&str>, phone: Option<&str>) -> Option<Phone> {
    wa_id.and_then(|w| Phone::from_wa_id(w).ok()).or_else(|| phone.and_then(|p| Phone::from_wa_id(p).ok()))
}

/// Every spelling of `phone` a contact may be stored under, for `phone = ANY(...)` lookups.
pub fn spellings(phone: &Phone) -> Vec<String> {
    std::iter::once(phone.clone()).chain(alias(phone)).map(|p| p.as_str().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias_of(wa_id: &str) -> Option<String> {
        alias(&Phone::from_wa_id(wa_id).unwrap()).map(|p| p.as_str().to_string())
    }

    #[test]
    fn legacy_and_current_spellings_pair_up_both_ways() {
        for (one, other) in [
            ("5215512345678", "+525512345678"),
            ("5491123456789", "+541123456789"),
            ("551187654321", "+5511987654321"),
            ("5521998765432", "+552198765432"),
        ] {
            assert_eq!(alias_of(one).as_deref(), Some(other), "{one}");
            assert_eq!(alias_of(other).as_deref(), Some(format!("+{one}").as_str()), "{other}");
        }
    }

    #[test]
    fn numbers_without_a_second_spelling_have_no_alias() {
        // A Brazilian landline (subscriber starts 2-5), other countries, odd lengths.
        for wa_id in ["551132345678", "5511932345678", "14155552671", "447911123456", "52551234567", "5401123456789"] {
            assert_eq!(alias_of(wa_id), None, "{wa_id}");
        }
    }

    #[test]
    fn replies_go_to_the_wa_id_whatsapp_gave() {
        assert_eq!(send_address(Some("5215512345678"), Some("+525512345678")).unwrap().wa_id(), "5215512345678");
        assert_eq!(send_address(None, Some("+525512345678")).unwrap().wa_id(), "525512345678");
        assert!(send_address(None, None).is_none());
    }
}
