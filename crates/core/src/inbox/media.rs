//! The files customers send (images, documents, audio, video, stickers): downloaded on demand through
//! the Graph API's media endpoint into a local cache, since a webhook carries only a media id that
//! expires. A file already in the cache is not fetched again.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::inbox::send::sending_account;
use crate::types::{AccountId, ContactId, MessageId};
use crate::whatsapp::client::GraphClient;
use crate::whatsapp::webhook::Media;

/// A message's media, saved on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Downloaded {
    pub message: MessageId,
    /// image, document, audio, video or sticker.
    pub kind: String,
    pub path: PathBuf,
    pub mime_type: Option<String>,
    pub bytes: u64,
    /// False when the file was already in the cache (no Graph API call was made).
    pub fetched: bool,
}

/// Saves the media of `message` under `cache_dir` (one folder per business) and returns where.
pub async fn download(
    pool: &PgPool,
    scope: &Scope,
    graph: &GraphClient,
    message: MessageId,
    cache_dir: &Path,
) -> Result<Downloaded> {
    scope.require(Area::Inbox)?;
    let business = scope.business();
    let row = sqlx::query!(
        r#"SELECT contact_id, kind, media, whatsapp_account_id FROM messages WHERE business_id = $1 AND id = $2"#,
        business.0,
        message.0
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::not_found(format!("message {message}")))?;
    let kind = row.kind;
    let media: Media = row.media.and_then(|m| serde_json::from_value(m).ok()).ok_or_else(|| {
        Error::invalid(
            format!("message {message} ({kind}) has no file to download"),
            "choose an image, document, audio or video message",
        )
    })?;
    let path = cache_dir.join(format!("business{business}")).join(file_name(message, &kind, &media));
    if let Ok(meta) = std::fs::metadata(&path)
        && meta.len() > 0
    {
        let bytes = meta.len();
        return Ok(Downloaded { message, kind, path, mime_type: media.mime_type, bytes, fetched: false });
    }
    let account = {
        let mut conn = pool.acquire().await?;
        sending_account(&mut conn, business, row.whatsapp_account_id.map(AccountId), ContactId(row.contact_id)).await?
    };
    let gone = |what: &str| {
        Error::invalid(
            format!("the {kind} of message {message} is no longer on WhatsApp's servers ({what})"),
            "WhatsApp keeps received media for a limited time only (about 7 days): ask the customer to send it again",
        )
    };
    let info = match graph.media_info(&account.endpoint, &media.id).await {
        Ok(info) => info,
        Err(e) if e.media_gone() => return Err(gone("its media id expired")),
        Err(e) => return Err(e.into()),
    };
    let body = match graph.fetch_media(&account.endpoint, &info.url).await {
        Ok(body) => body,
        Err(e) if e.media_gone() => return Err(gone("the file was removed")),
        Err(e) => return Err(e.into()),
    };
    save_private(&path, &body)?;
    let mime_type = info.mime_type.or(media.mime_type);
    Ok(Downloaded { message, kind, path, mime_type, bytes: body.len() as u64, fetched: true })
}

/// `<message id>-<name>`: a document keeps its own (sanitised) name, anything else gets its kind and an
/// extension from its MIME type, so the system opener picks the right program.
fn file_name(message: MessageId, kind: &str, media: &Media) -> String {
    let safe: String = media
        .filename
        .as_deref()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let safe = safe.trim_start_matches('.');
    if !safe.is_empty() {
        return format!("{message}-{safe}");
    }
    format!("{message}-{kind}.{}", extension(media.mime_type.as_deref().unwrap_or_default()))
}

fn extension(mime: &str) -> &str {
    let essence = mime.split(';').next().unwrap_or_default().trim();
    match essence {
        "image/jpeg" => "jpg",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "text/plain" => "txt",
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        _ => match essence.split_once('/') {
            Some((_, sub)) if !sub.is_empty() && sub.len() <= 5 && sub.chars().all(|c| c.is_ascii_alphanumeric()) => {
                sub
            }
            _ => "bin",
        },
    }
}

/// Writes `bytes` to `path` through a temporary file (no half file is ever seen), readable by the user
/// only: customers' files are personal data.
fn save_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::invalid(
            format!("cannot save {}: {e}", path.display()),
            "make the media cache directory writable, or choose another one",
        )
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed)?;
    let temp = path.with_extension("part");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    std::fs::rename(&temp, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(mime: Option<&str>, filename: Option<&str>) -> Media {
        Media {
            id: "1".into(),
            mime_type: mime.map(Into::into),
            sha256: None,
            caption: None,
            filename: filename.map(Into::into),
            voice: None,
            animated: None,
        }
    }

    #[test]
    fn files_are_named_for_the_opener_and_never_escape_the_cache() {
        let id = MessageId(7);
        assert_eq!(file_name(id, "image", &media(Some("image/jpeg"), None)), "7-image.jpg");
        assert_eq!(file_name(id, "audio", &media(Some("audio/ogg; codecs=opus"), None)), "7-audio.ogg");
        assert_eq!(file_name(id, "video", &media(Some("video/mp4"), None)), "7-video.mp4");
        assert_eq!(file_name(id, "document", &media(Some("application/x-weird+thing"), None)), "7-document.bin");
        assert_eq!(file_name(id, "document", &media(None, Some("../../etc/passwd"))), "7-_.._etc_passwd");
        assert_eq!(file_name(id, "document", &media(None, Some("Invoice 12.pdf"))), "7-Invoice_12.pdf");
    }
}
