//! Tenants: businesses (the CRM's customers) and the WhatsApp numbers they connect.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::range::Timezone;
use crate::auth::{Area, Scope};
use crate::billing::{self, Subscription};
use crate::error::{Error, Result, input, op};
use crate::secrets;
use crate::types::{AccountId, BusinessId, Phone, email_address, plain_name};

#[derive(Debug, Clone, Serialize)]
pub struct Business {
    pub id: BusinessId,
    pub name: String,
    pub email: String,
    pub status: String,
    pub default_region: String,
    pub created_at: Option<DateTime<Utc>>,
}

fn validate_region(region: &str) -> Result<String> {
    let region = region.trim().to_ascii_uppercase();
    region.parse::<phonenumber::country::Id>().map_err(|_| {
        Error::invalid(
            format!("{region:?} is not a country code"),
            "use a two-letter ISO 3166 code such as US, GB, IN, BR",
        )
    })?;
    Ok(region)
}

/// Signs a business up: the business row and an active subscription on the default plan, in one
/// transaction (seed Billing FLOW 1).
pub async fn create(pool: &PgPool, name: &str, email: &str, region: &str) -> Result<(Business, Subscription)> {
    let name = plain_name("business name", name)?;
    let name = name.as_str();
    if name.is_empty() {
        return Err(Error::invalid(
            "the business name is empty",
            format!("give the business's name ({}), e.g. \"Acme Ltd\"", input("name")),
        ));
    }
    let email = email_address(email)?;
    let region = validate_region(region)?;
    billing::ensure_default_plans(pool).await?;
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"INSERT INTO businesses (business_name, email, default_region) VALUES ($1, $2, $3)
           RETURNING id, status, created_at"#,
        name,
        email,
        region
    )
    .fetch_one(&mut *tx)
    .await?;
    let business = Business {
        id: BusinessId(row.id),
        name: name.to_string(),
        email,
        status: row.status.unwrap_or_else(|| "active".into()),
        default_region: region,
        created_at: row.created_at,
    };
    let subscription = billing::subscribe_default(&mut tx, business.id, &business.email).await?;
    tx.commit().await?;
    Ok((business, subscription))
}

pub async fn list(pool: &PgPool) -> Result<Vec<Business>> {
    Ok(sqlx::query_as!(
        Business,
        r#"SELECT id AS "id: BusinessId", business_name AS name, email, COALESCE(status, 'active') AS "status!",
                  default_region, created_at
           FROM businesses ORDER BY id"#
    )
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &PgPool, scope: &Scope) -> Result<Business> {
    sqlx::query_as!(
        Business,
        r#"SELECT id AS "id: BusinessId", business_name AS name, email, COALESCE(status, 'active') AS "status!",
                  default_region, created_at
           FROM businesses WHERE id = $1"#,
        scope.business().0
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::not_found(format!("business {}", scope.business())))
}

/// A connected WhatsApp number. The access token is never read back out.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub phone_number: String,
    pub phone_number_id: Option<String>,
    pub waba_id: Option<String>,
    pub status: String,
    pub api_base_url: Option<String>,
    pub api_version: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    /// Meta's messaging limit for the number's portfolio, as recorded (`None`: not recorded).
    pub messaging_limit_tier: Option<MessagingTier>,
}

/// What connecting a number needs: the number, its Cloud API phone_number_id and WABA id (for
/// routing webhooks), and the access token for sending.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub phone: String,
    pub phone_number_id: String,
    pub waba_id: Option<String>,
    pub token: String,
    pub api_base_url: Option<String>,
    pub api_version: Option<String>,
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// One of the numeric ids the Meta App Dashboard shows under WhatsApp > API Setup (`label` there).
fn check_dashboard_id(id: &str, what: &str, label: &str) -> Result<()> {
    if all_digits(id) {
        return Ok(());
    }
    Err(Error::invalid(
        format!("{id:?} is not a {what}"),
        format!("copy the numeric {label} from WhatsApp > API Setup in the Meta App Dashboard"),
    ))
}

/// An account's own Graph API base URL and version, checked when they are set rather than at its first
/// send.
fn check_api_overrides(api_base_url: Option<&str>, api_version: Option<&str>) -> Result<()> {
    if let Some(base) = api_base_url {
        let usable = reqwest::Url::parse(base)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
        if !usable {
            return Err(Error::invalid(
                format!("{base:?} is not an http(s) base URL"),
                format!(
                    "give a base URL ({}) like https://graph.facebook.com, or leave it out for the default",
                    input("api-base-url")
                ),
            ));
        }
    }
    if let Some(version) = api_version {
        let usable = version.strip_prefix('v').is_some_and(|number| number.split('.').all(all_digits));
        if !usable {
            return Err(Error::invalid(
                format!("{version:?} is not a Graph API version"),
                format!("give a version ({}) like v23.0, or leave it out for the default", input("api-version")),
            ));
        }
    }
    Ok(())
}

pub async fn add_account(pool: &PgPool, scope: &Scope, new: &NewAccount) -> Result<Account> {
    scope.require(Area::Admin)?;
    let region = get(pool, scope).await?.default_region;
    let phone = Phone::parse_possible(&new.phone, &region)?;
    let phone_number_id = new.phone_number_id.trim();
    check_dashboard_id(phone_number_id, "Cloud API phone_number_id", "Phone number ID")?;
    if new.token.trim().is_empty() {
        return Err(Error::invalid(
            "the access token is empty",
            format!("give a system-user access token ({})", input("token")),
        ));
    }
    let waba_id = new.waba_id.as_deref().map(str::trim).filter(|w| !w.is_empty());
    if let Some(waba_id) = waba_id {
        check_dashboard_id(waba_id, "WhatsApp Business Account id", "WhatsApp Business Account ID")?;
    }
    check_api_overrides(new.api_base_url.as_deref(), new.api_version.as_deref())?;
    let mut tx = pool.begin().await?;
    if let Some(waba_id) = waba_id {
        claim_waba(&mut tx, scope, waba_id).await?;
        billing::trial_waba_on(&mut tx, scope.business(), waba_id).await?;
    }
    let row = sqlx::query!(
        r#"INSERT INTO whatsapp_accounts
               (business_id, phone_number, api_token, phone_number_id, waba_id, api_base_url, api_version)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, status, connected_at"#,
        scope.business().0,
        phone.as_str(),
        secrets::seal(secrets::installed(), scope.business(), new.token.trim()),
        phone_number_id,
        waba_id,
        new.api_base_url.as_deref(),
        new.api_version.as_deref()
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Account {
        id: AccountId(row.id),
        phone_number: phone.to_string(),
        phone_number_id: Some(phone_number_id.to_string()),
        waba_id: waba_id.map(str::to_string),
        status: row.status.unwrap_or_else(|| "active".into()),
        api_base_url: new.api_base_url.clone(),
        api_version: new.api_version.clone(),
        connected_at: row.connected_at,
        messaging_limit_tier: None,
    })
}

/// Records that `waba_id` belongs to the acting business; a WABA already owned by another business is
/// refused, since template and account webhooks are routed by the WABA id alone.
async fn claim_waba(conn: &mut sqlx::PgConnection, scope: &Scope, waba_id: &str) -> Result<()> {
    let owner = sqlx::query_scalar!(
        r#"WITH claimed AS (
               INSERT INTO waba_owners (waba_id, business_id) VALUES ($1, $2)
               ON CONFLICT (waba_id) DO NOTHING RETURNING business_id
           )
           SELECT business_id AS "business_id!" FROM claimed
           UNION ALL
           SELECT business_id FROM waba_owners WHERE waba_id = $1"#,
        waba_id,
        scope.business().0
    )
    .fetch_one(conn)
    .await?;
    if owner != scope.business().0 {
        return Err(Error::conflict(
            format!("the WhatsApp Business Account {waba_id} is connected to another business"),
            "check the WABA id in the Meta App Dashboard (WhatsApp > API Setup)",
        ));
    }
    Ok(())
}

pub async fn list_accounts(pool: &PgPool, scope: &Scope) -> Result<Vec<Account>> {
    Ok(sqlx::query_as!(
        Account,
        r#"SELECT id AS "id: AccountId", phone_number, phone_number_id, waba_id,
                  COALESCE(status, 'active') AS "status!", api_base_url, api_version, connected_at,
                  messaging_limit_tier AS "messaging_limit_tier: MessagingTier"
           FROM whatsapp_accounts WHERE business_id = $1 ORDER BY id"#,
        scope.business().0
    )
    .fetch_all(pool)
    .await?)
}

/// Activates or deactivates a number. Webhooks for an inactive number touch no tenant data.
pub async fn set_account_active(pool: &PgPool, scope: &Scope, id: AccountId, active: bool) -> Result<()> {
    scope.require(Area::Admin)?;
    let status = if active { "active" } else { "inactive" };
    let done = sqlx::query!(
        "UPDATE whatsapp_accounts SET status = $3 WHERE business_id = $1 AND id = $2",
        scope.business().0,
        id.0,
        status
    )
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("WhatsApp account {id}")));
    }
    Ok(())
}

/// The business's reporting timezone (analytics counts per local day, week and month of it).
pub async fn timezone(pool: &PgPool, scope: &Scope) -> Result<Timezone> {
    let business = scope.business();
    let name = sqlx::query_scalar!("SELECT timezone FROM businesses WHERE id = $1", business.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::not_found(format!("business {business}")))?;
    // Only validated names are stored; one edited in by hand that is not a zone is reported, not guessed.
    name.parse().map_err(|_| {
        Error::invalid(
            format!("business {business} has the unknown timezone {name:?}"),
            format!("set a valid one ({}; any IANA name)", op("business timezone Europe/Berlin")),
        )
    })
}

/// Sets the business's reporting timezone, an IANA name (owners and admins).
pub async fn set_timezone(pool: &PgPool, scope: &Scope, timezone: &str) -> Result<Timezone> {
    scope.require(Area::Admin)?;
    let timezone: Timezone = timezone.parse()?;
    sqlx::query!("UPDATE businesses SET timezone = $2 WHERE id = $1", scope.business().0, timezone.name())
        .execute(pool)
        .await?;
    Ok(timezone)
}

/// What `accounts edit` changes; `None` leaves a field as it is. An empty base URL or version goes
/// back to the configured default.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub token: Option<String>,
    pub api_base_url: Option<String>,
    pub api_version: Option<String>,
    pub active: Option<bool>,
    pub messaging_limit_tier: Option<MessagingTier>,
}

/// Changes a connected number's access token, Graph API base URL or version, status, or messaging tier.
pub async fn edit_account(pool: &PgPool, scope: &Scope, id: AccountId, changes: &AccountChanges) -> Result<Account> {
    scope.require(Area::Admin)?;
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim)
    }
    let (base, version) = (given(&changes.api_base_url), given(&changes.api_version));
    check_api_overrides(base.filter(|b| !b.is_empty()), version.filter(|v| !v.is_empty()))?;
    let token = given(&changes.token);
    if token.is_some_and(str::is_empty) {
        return Err(Error::invalid(
            "the access token is empty",
            format!("give a system-user access token ({})", input("token")),
        ));
    }
    sqlx::query_as!(
        Account,
        r#"UPDATE whatsapp_accounts SET
               api_token = COALESCE($3, api_token),
               api_base_url = CASE WHEN $4::text IS NULL THEN api_base_url ELSE NULLIF($4, '') END,
               api_version = CASE WHEN $5::text IS NULL THEN api_version ELSE NULLIF($5, '') END,
               status = COALESCE($6, status),
               messaging_limit_tier = COALESCE($7, messaging_limit_tier)
           WHERE business_id = $1 AND id = $2
           RETURNING id AS "id: AccountId", phone_number, phone_number_id, waba_id,
                     COALESCE(status, 'active') AS "status!", api_base_url, api_version, connected_at,
                     messaging_limit_tier AS "messaging_limit_tier: MessagingTier""#,
        scope.business().0,
        id.0,
        token.map(|t| secrets::seal(secrets::installed(), scope.business(), t)),
        base,
        version,
        changes.active.map(|active| if active { "active" } else { "inactive" }),
        changes.messaging_limit_tier.map(MessagingTier::as_str)
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::not_found(format!("WhatsApp account {id}")))
}

/// Meta's messaging limit: unique customers a business portfolio may message outside a customer-service
/// window in a moving 24 hours (shared/whatsapp-cloud-api.md §7). Ordered by size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum MessagingTier {
    #[serde(rename = "250")]
    Tier250,
    /// Replaced by 2K in 2025; numbers may still report it.
    #[serde(rename = "1K")]
    Tier1K,
    #[serde(rename = "2K")]
    Tier2K,
    #[serde(rename = "10K")]
    Tier10K,
    #[serde(rename = "100K")]
    Tier100K,
    #[serde(rename = "unlimited")]
    Unlimited,
}

impl MessagingTier {
    const ALL: [MessagingTier; 6] = [
        MessagingTier::Tier250,
        MessagingTier::Tier1K,
        MessagingTier::Tier2K,
        MessagingTier::Tier10K,
        MessagingTier::Tier100K,
        MessagingTier::Unlimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessagingTier::Tier250 => "250",
            MessagingTier::Tier1K => "1K",
            MessagingTier::Tier2K => "2K",
            MessagingTier::Tier10K => "10K",
            MessagingTier::Tier100K => "100K",
            MessagingTier::Unlimited => "unlimited",
        }
    }

    /// Unique customers per moving 24 hours; `None` for unlimited.
    pub fn limit(self) -> Option<i64> {
        match self {
            MessagingTier::Tier250 => Some(250),
            MessagingTier::Tier1K => Some(1_000),
            MessagingTier::Tier2K => Some(2_000),
            MessagingTier::Tier10K => Some(10_000),
            MessagingTier::Tier100K => Some(100_000),
            MessagingTier::Unlimited => None,
        }
    }
}

impl std::str::FromStr for MessagingTier {
    type Err = Error;
    /// Ours (`2K`), Meta's enum (`TIER_2K`, `TIER_UNLIMITED`) or the number (`2000`).
    fn from_str(s: &str) -> Result<MessagingTier> {
        let given = s.trim().to_ascii_uppercase();
        let given = given.strip_prefix("TIER_").unwrap_or(&given);
        MessagingTier::ALL
            .into_iter()
            .find(|tier| {
                tier.as_str().eq_ignore_ascii_case(given)
                    || tier.limit().is_some_and(|limit| given == limit.to_string())
            })
            .ok_or_else(|| {
                Error::invalid(
                    format!("{s:?} is not a messaging limit tier"),
                    "give the tier Meta shows for the number: 250, 2K, 10K, 100K or unlimited (1K for the old tier)",
                )
            })
    }
}

// Stored as text (checked by the database), so it reads as text.
impl sqlx::Type<sqlx::Postgres> for MessagingTier {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for MessagingTier {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?.parse()?)
    }
}

/// The business's messaging tier: the largest recorded on its active numbers (they share their
/// portfolio's), `None` when none is recorded.
pub(crate) async fn messaging_tier_on(
    conn: &mut sqlx::PgConnection,
    business: BusinessId,
) -> Result<Option<MessagingTier>> {
    let recorded = sqlx::query_scalar!(
        r#"SELECT messaging_limit_tier AS "tier!: MessagingTier" FROM whatsapp_accounts
           WHERE business_id = $1 AND COALESCE(status, 'active') = 'active' AND messaging_limit_tier IS NOT NULL"#,
        business.0
    )
    .fetch_all(conn)
    .await?;
    Ok(recorded.into_iter().max())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_from_ours_meta_s_enum_or_the_number() {
        assert_eq!("2K".parse::<MessagingTier>().unwrap(), MessagingTier::Tier2K);
        assert_eq!("tier_100k".parse::<MessagingTier>().unwrap(), MessagingTier::Tier100K);
        assert_eq!("TIER_UNLIMITED".parse::<MessagingTier>().unwrap().limit(), None);
        assert_eq!("10000".parse::<MessagingTier>().unwrap().limit(), Some(10_000));
        assert!("5K".parse::<MessagingTier>().unwrap_err().to_string().contains("not a messaging limit tier"));
        assert!(MessagingTier::Tier1K < MessagingTier::Tier2K);
    }
}
