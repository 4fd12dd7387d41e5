//! Meta's per-message rates by market, for the cost a campaign's plan estimates: the table shipped in
//! `meta_prices.toml`, with the operator's `meta_prices` entries from the configuration over it.

use std::collections::BTreeMap;

use figment::Figment;
use figment::providers::{Format, Toml};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::inbox::send::TemplateCategory;

const SHIPPED: &str = include_str!("meta_prices.toml");

/// The key of the rate for numbers no calling code of the table matches.
const DEFAULT_KEY: &str = "default";

/// One market's rates in USD per delivered template message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketPrice {
    pub market: String,
    pub marketing: Decimal,
    pub utility: Decimal,
    pub authentication: Decimal,
}

impl MarketPrice {
    pub fn rate(&self, category: TemplateCategory) -> Decimal {
        match category {
            TemplateCategory::Marketing => self.marketing,
            TemplateCategory::Utility => self.utility,
            TemplateCategory::Authentication => self.authentication,
        }
    }
}

/// Rates by calling code (its digits), and the rate for every other number.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    by_code: BTreeMap<String, MarketPrice>,
    default: MarketPrice,
}

impl PriceTable {
    /// The shipped table with `overrides` (calling code or `default` → rates) over it.
    pub fn with(overrides: &BTreeMap<String, MarketPrice>) -> Result<PriceTable> {
        let shipped: BTreeMap<String, MarketPrice> = Figment::from(Toml::string(SHIPPED))
            .extract()
            .map_err(|e| Error::internal(format!("the shipped Meta price table is not valid: {e}")))?;
        let mut by_code = shipped;
        for (key, price) in overrides {
            let key = key.trim().trim_start_matches('+');
            let code_like = !key.is_empty() && key.len() <= 4 && key.bytes().all(|b| b.is_ascii_digit());
            if key != DEFAULT_KEY && !code_like {
                return Err(Error::invalid(
                    format!("meta_prices has an entry {key:?}, which is not a calling code"),
                    "key each market by its calling code's digits (44 for the United Kingdom), or `default`",
                ));
            }
            if [price.marketing, price.utility, price.authentication].iter().any(|rate| rate.is_sign_negative()) {
                return Err(Error::invalid(
                    format!("meta_prices.{key} ({}) has a negative rate", price.market),
                    "give Meta's rates in USD per delivered message, 0 or more",
                ));
            }
            by_code.insert(key.to_string(), price.clone());
        }
        let default = by_code
            .remove(DEFAULT_KEY)
            .ok_or_else(|| Error::internal("the shipped Meta price table has no default rate"))?;
        Ok(PriceTable { by_code, default })
    }

    /// The shipped table with the configuration's `meta_prices` over it.
    pub fn from_settings(settings: &Settings) -> Result<PriceTable> {
        PriceTable::with(&settings.meta_prices)
    }

    /// The market of a number (`+` and the digits): the longest calling code that starts it, and its
    /// rates; `None` as the code for the default rate.
    pub fn market(&self, phone: &str) -> (Option<&str>, &MarketPrice) {
        let digits = phone.trim().trim_start_matches('+');
        (1..=digits.len().min(4))
            .rev()
            .filter_map(|n| digits.get(..n))
            .find_map(|code| self.by_code.get_key_value(code))
            .map_or((None, &self.default), |(code, price)| (Some(code.as_str()), price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(market: &str, marketing: i64) -> MarketPrice {
        MarketPrice {
            market: market.into(),
            marketing: Decimal::new(marketing, 4),
            utility: Decimal::new(1, 4),
            authentication: Decimal::new(2, 4),
        }
    }

    #[test]
    fn the_longest_calling_code_wins_and_other_numbers_take_the_default() {
        let table = PriceTable::with(&BTreeMap::new()).unwrap();
        assert_eq!(table.market("+447946000001").1.market, "United Kingdom");
        assert_eq!(table.market("+971501234567").0, Some("971"));
        assert_eq!(table.market("+14155550001").1.rate(TemplateCategory::Utility), Decimal::new(34, 4));
        let (code, other) = table.market("+8613800000000");
        assert_eq!((code, other.market.as_str()), (None, "Other"));
    }

    #[test]
    fn the_operator_s_rates_replace_or_add_markets() {
        let overrides: BTreeMap<String, MarketPrice> =
            [("+44".to_string(), price("UK, negotiated", 400)), ("353".to_string(), price("Ireland", 500))].into();
        let table = PriceTable::with(&overrides).unwrap();
        assert_eq!(table.market("+447946000001").1.marketing, Decimal::new(400, 4));
        assert_eq!(table.market("+353861234567").1.market, "Ireland");
        assert_eq!(table.market("+4930123456").1.market, "Germany", "the shipped markets stay");
    }

    #[test]
    fn a_key_that_is_no_calling_code_or_a_negative_rate_is_refused() {
        let bad: BTreeMap<String, MarketPrice> = [("uk".to_string(), price("UK", 1))].into();
        assert!(PriceTable::with(&bad).unwrap_err().to_string().contains("not a calling code"));
        let negative: BTreeMap<String, MarketPrice> = [("44".to_string(), price("UK", -1))].into();
        assert!(PriceTable::with(&negative).unwrap_err().to_string().contains("negative"));
    }
}
