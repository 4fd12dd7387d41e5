//! WhatsApp access tokens at rest: sealed with ChaCha20-Poly1305 under the installation's key
//! (`token_key`, `WACRM_TOKEN_KEY`: 64 hex digits), bound to their business (a sealed token copied to
//! another tenant's row does not open). Stored as `enc:v1:` and the hex of nonce, ciphertext and tag.
//!
//! Without a key, tokens are stored as given, as before this module. With one, [`seal_stored_tokens`]
//! (run by [`crate::db::open`]) seals the tokens still stored in plain text; a sealed token read
//! without the key, or with another key, is a clear error naming the setting.

use std::sync::OnceLock;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sqlx::PgPool;

use crate::error::{Error, Result, op};
use crate::types::{AccountId, BusinessId};

const SEALED: &str = "enc:v1:";

/// The installation's token key.
pub struct TokenKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(******)")
    }
}

impl TokenKey {
    /// A key as configured: 64 hex digits (32 random bytes).
    pub fn parse(hex_digits: &str) -> Result<TokenKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digits.trim(), &mut bytes).map_err(|_| {
            Error::invalid(
                "the token_key setting (WACRM_TOKEN_KEY) is not 64 hex digits",
                "generate one with `openssl rand -hex 32` and keep it: the stored access tokens need it",
            )
        })?;
        Ok(TokenKey(SecretBox::new(Box::new(bytes))))
    }

    fn aead(&self) -> LessSafeKey {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &self.0.expose_secret()[..]);
        LessSafeKey::new(unbound.expect("a 32-byte key is ChaCha20-Poly1305's key length"))
    }
}

/// The installation's key, set once from the settings by [`install`] (`db::open` does).
static INSTALLED: OnceLock<Option<TokenKey>> = OnceLock::new();

/// Reads the key from the settings for this process; a malformed key is an error here, at start.
pub fn install(configured: Option<&SecretString>) -> Result<()> {
    let key = match configured.map(|k| k.expose_secret().trim()).filter(|k| !k.is_empty()) {
        Some(hex_digits) => Some(TokenKey::parse(hex_digits)?),
        None => None,
    };
    let _ = INSTALLED.set(key);
    Ok(())
}

/// The key [`install`] set, if any.
pub fn installed() -> Option<&'static TokenKey> {
    INSTALLED.get().and_then(Option::as_ref)
}

/// The token as it is to be stored for `business`: sealed under `key`, as given without one.
pub fn seal(key: Option<&TokenKey>, business: BusinessId, token: &str) -> String {
    let Some(key) = key else { return token.to_string() };
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let mut sealed = token.as_bytes().to_vec();
    key.aead()
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), aad(business), &mut sealed)
        .expect("a token is far below ChaCha20-Poly1305's message limit");
    format!("{SEALED}{}{}", hex::encode(nonce_bytes), hex::encode(sealed))
}

/// A stored token in the clear: sealed ones opened with `key`, plain ones (stored without a key) as
/// they are.
pub fn open(key: Option<&TokenKey>, business: BusinessId, account: AccountId, stored: &str) -> Result<SecretString> {
    let Some(sealed) = stored.strip_prefix(SEALED) else { return Ok(SecretString::from(stored)) };
    let Some(key) = key else {
        return Err(Error::invalid(
            format!("the access token of WhatsApp account {account} is encrypted, and no token key is configured"),
            new_token_hint(),
        ));
    };
    let wrong_key = || {
        Error::invalid(
            format!("the access token of WhatsApp account {account} does not open with the configured token key"),
            new_token_hint(),
        )
    };
    let bytes = hex::decode(sealed).map_err(|_| wrong_key())?;
    if bytes.len() < NONCE_LEN {
        return Err(wrong_key());
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong_key())?;
    let mut in_out = ciphertext.to_vec();
    let clear = key.aead().open_in_place(nonce, aad(business), &mut in_out).map_err(|_| wrong_key())?;
    String::from_utf8(clear.to_vec()).map(SecretString::from).map_err(|_| wrong_key())
}

fn new_token_hint() -> String {
    format!(
        "set token_key (WACRM_TOKEN_KEY) to the key it was encrypted with; without that key, give the account a \
         new token ({})",
        op("accounts edit <id> --token …")
    )
}

fn aad(business: BusinessId) -> Aad<[u8; 4]> {
    Aad::from(business.0.to_be_bytes())
}

/// Seals every token still stored in plain text (stored before a key was configured); how many.
/// Each row is updated only if unchanged meanwhile, so a concurrent `accounts edit` is never undone.
pub async fn seal_stored_tokens(pool: &PgPool, key: &TokenKey) -> Result<u64> {
    let plain = sqlx::query!(
        r#"SELECT id, business_id, api_token AS "api_token!" FROM whatsapp_accounts
           WHERE api_token IS NOT NULL AND api_token <> '' AND api_token NOT LIKE 'enc:%'"#
    )
    .fetch_all(pool)
    .await?;
    let mut sealed = 0;
    for row in plain {
        let token = seal(Some(key), BusinessId(row.business_id), &row.api_token);
        sealed += sqlx::query!(
            "UPDATE whatsapp_accounts SET api_token = $3 WHERE business_id = $1 AND id = $2 AND api_token = $4",
            row.business_id,
            row.id,
            token,
            row.api_token
        )
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> TokenKey {
        TokenKey::parse(&hex::encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_for_its_business() {
        let (account, acme, other) = (AccountId(7), BusinessId(1), BusinessId(2));
        let stored = seal(Some(&key(1)), acme, "EAAG-secret-token");
        assert!(stored.starts_with(SEALED) && !stored.contains("secret"), "{stored}");
        assert_ne!(stored, seal(Some(&key(1)), acme, "EAAG-secret-token"), "a fresh nonce each time");
        assert_eq!(open(Some(&key(1)), acme, account, &stored).unwrap().expose_secret(), "EAAG-secret-token");
        let wrong = open(Some(&key(2)), acme, account, &stored).unwrap_err().to_string();
        assert!(wrong.contains("does not open with the configured token key"), "{wrong}");
        assert!(open(Some(&key(1)), other, account, &stored).is_err(), "bound to its business");
        let missing = open(None, acme, account, &stored).unwrap_err();
        assert!(missing.to_string().contains("no token key is configured"), "{missing}");
        assert!(missing.hint().is_some_and(|h| h.contains("WACRM_TOKEN_KEY")));
        // Tokens stored before a key existed read as they are; without a key nothing is sealed.
        assert_eq!(open(Some(&key(1)), acme, account, "plain").unwrap().expose_secret(), "plain");
        assert_eq!(seal(None, acme, "plain"), "plain");
    }

    #[test]
    fn a_key_must_be_64_hex_digits() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(62)] {
            let err = TokenKey::parse(bad).unwrap_err();
            assert!(err.hint().is_some_and(|h| h.contains("openssl rand -hex 32")), "{bad}");
        }
        assert!(format!("{:?}", key(3)).contains("******"));
    }
}
