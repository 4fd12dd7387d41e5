//! `X-Hub-Signature-256` on webhook POSTs: `sha256=<lowercase hex>` of HMAC-SHA256(app secret, body).
//!
//! The MAC covers the raw bytes exactly as received. Meta signs its escaped-unicode serialisation, so
//! hashing re-serialised JSON would fail for every body with a non-ASCII name or emoji.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a signature was refused (the daemon answers 401 for every one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    Malformed,
    /// Well-formed, but not made with our app secret over this body.
    Mismatch,
    /// Several `X-Hub-Signature-256` headers with different values.
    Ambiguous,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "the X-Hub-Signature-256 header is missing",
            SignatureError::Malformed => "the X-Hub-Signature-256 header is not sha256=<64 hex digits>",
            SignatureError::Mismatch => "the X-Hub-Signature-256 signature does not match the body and app secret",
            SignatureError::Ambiguous => {
                "several different X-Hub-Signature-256 headers: Meta sends exactly one; check that no proxy adds its own"
            }
        })
    }
}

impl std::error::Error for SignatureError {}

/// Checks `header` (the value of `X-Hub-Signature-256`, if any) against `body`. The comparison is
/// constant-time (`verify_slice`), so the time taken reveals nothing about how much of a guess matched.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig =
        header.strip_prefix("sha256=").or_else(|| header.strip_prefix("SHA256=")).ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    mac(app_secret, body).verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// The one `X-Hub-Signature-256` value among `values` (every header of that name the request carried),
/// for [`verify`]; `None` when there is none.
///
/// Meta sends exactly one. Two different values mean something between Meta and us added or changed
/// one, and which of them the sender meant is a guess: checking only the first (what the daemon used to
/// do) lets a proxy's header order decide, and accepting any that matches would quietly hide the
/// misconfiguration. So they are refused, with a reason the operator sees in the logs. Repeats of the
/// same value are one signature, checked once. A value that is not visible ASCII is malformed.
pub fn single_header<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Option<&'a str>, SignatureError> {
    let mut found: Option<&str> = None;
    for value in values {
        let value = std::str::from_utf8(value).ok().filter(|v| v.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        let value = value.ok_or(SignatureError::Malformed)?.trim();
        match found {
            Some(seen) if seen != value => return Err(SignatureError::Ambiguous),
            _ => found = Some(value),
        }
    }
    Ok(found)
}

/// The header value Meta would send for `body`: for load generators, tests and the fake Graph API.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(app_secret, body).finalize().into_bytes()))
}

fn mac(app_secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body Meta really signed, from pywa's `tests/test_server.py::test_webhook_updates_validator`
    /// (david-lev/pywa; the app secret has since been reset). Recomputed with Python's `hmac` first.
    const META_SECRET: &str = "1222e786b144d0e85b9f365372d93676";
    const META_BODY: &str = concat!(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":"#,
        r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877","#,
        r#""phone_number_id":"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},"#,
        r#""wa_id":"972544401243"}],"messages":[{"from":"972544401243","#,
        r#""id":"wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA","#,
        r#""timestamp":"1730231903","text":{"body":"Hey there! I am using PyWa."},"type":"text"}]},"#,
        r#""field":"messages"}]}]}"#
    );
    const META_SIGNATURE: &str = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441";

    #[test]
    fn accepts_a_real_meta_signature() {
        assert_eq!(META_BODY.len(), 511);
        assert_eq!(verify(META_SECRET.as_bytes(), META_BODY.as_bytes(), Some(META_SIGNATURE)), Ok(()));
        assert_eq!(sign(META_SECRET.as_bytes(), META_BODY.as_bytes()), META_SIGNATURE);
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_signatures() {
        let (secret, body) = (META_SECRET.as_bytes(), META_BODY.as_bytes());
        assert_eq!(verify(secret, body, None), Err(SignatureError::Missing));
        assert_eq!(verify(secret, body, Some("54edfa1d")), Err(SignatureError::Malformed));
        assert_eq!(verify(secret, body, Some("sha256=zz")), Err(SignatureError::Malformed));
        assert_eq!(verify(secret, body, Some("sha256=54edfa1d")), Err(SignatureError::Malformed));
        assert_eq!(verify(b"another secret", body, Some(META_SIGNATURE)), Err(SignatureError::Mismatch));
        let mut tampered = body.to_vec();
        tampered[100] ^= 1;
        assert_eq!(verify(secret, &tampered, Some(META_SIGNATURE)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn several_headers_count_only_when_they_agree() {
        let (a, b) = (META_SIGNATURE.as_bytes(), b"sha256=00".as_slice());
        assert_eq!(single_header([]), Ok(None));
        assert_eq!(single_header([a]), Ok(Some(META_SIGNATURE)));
        assert_eq!(single_header([a, a]), Ok(Some(META_SIGNATURE)));
        assert_eq!(single_header([a, b]), Err(SignatureError::Ambiguous));
        assert_eq!(single_header([b, a]), Err(SignatureError::Ambiguous));
        assert_eq!(single_header([b"sha256=\xff".as_slice()]), Err(SignatureError::Malformed));
    }

    /// Expected value from Python: `hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()`.
    #[test]
    fn hashes_escaped_unicode_bytes_as_received() {
        let escaped = br#"{"name":"J\u00f6rg \ud83d\ude00"}"#;
        let python = "sha256=43451880efeba329afdd3fa3470b863854718cc033fadbe224045628937fdaf4";
        assert_eq!(sign(b"s3cret", escaped), python);
        assert_eq!(verify(b"s3cret", escaped, Some(python)), Ok(()));
        let decoded = "{\"name\":\"Jörg 😀\"}";
        assert_eq!(verify(b"s3cret", decoded.as_bytes(), Some(python)), Err(SignatureError::Mismatch));
    }
}
