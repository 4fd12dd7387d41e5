//! Inbound messages: how each is stored, and a batch's messages written together with their contacts,
//! conversation state, windows, keyword stage moves and events.

use super::*;

/// The quick-reply button Meta's sample marketing templates carry; a tap opts the contact out.
pub(super) const STOP_BUTTON: &str = "Stop promotions";

/// The keyword rules of the batch's businesses, read once per batch, so a message that cannot move a
/// stage (most of them) costs no pipeline query. A match is applied by
/// [`pipeline::apply_keyword_rules`], which reads the rules again under the contact's lock.
#[derive(Default)]
pub(super) struct KeywordRules {
    pub(super) by_business: HashMap<BusinessId, Vec<pipeline::KeywordRule>>,
}

impl KeywordRules {
    /// Read on the processing transaction's own connection: one from the pool would, with every
    /// connection held by a processor, wait for one to come free.
    pub(super) async fn may_match(
        &mut self,
        conn: &mut PgConnection,
        business: BusinessId,
        text: &str,
    ) -> Result<bool> {
        let rules = match self.by_business.entry(business) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(pipeline::active_keyword_rules(conn, business).await?)
            }
        };
        Ok(pipeline::keyword_stage(rules, text).is_some())
    }
}

/// How an inbound message is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The message type, or `unknown` for types (or shapes) we do not know.
    pub kind: String,
    /// The text or caption byte for byte, else a readable placeholder.
    pub content: String,
    /// Media references for a later download.
    pub media: Option<Value>,
    /// The quoted wamid of a reply, or the wamid a reaction is about.
    pub context_wamid: Option<String>,
}

/// The stored form of an inbound message.
pub fn describe(message: &Message) -> Described {
    let kind = message.kind.as_str();
    let mut context_wamid = message.context.as_ref().and_then(|c| c.id.clone());
    let mut media = None;
    let unreadable = || (String::from("unknown"), format!("[unreadable {kind} message]"));
    let media_of = |m: &webhook::Media, placeholder: String| {
        (m.caption.clone().filter(|c| !c.is_empty()).unwrap_or(placeholder), serde_json::to_value(m).ok())
    };
    let (kind, content) = match kind {
        "text" => match &message.text {
            Some(text) => (kind.to_string(), text.body.clone()),
            None => unreadable(),
        },
        "image" | "video" | "audio" | "sticker" | "document" => {
            let object = match kind {
                "image" => &message.image,
                "video" => &message.video,
                "audio" => &message.audio,
                "sticker" => &message.sticker,
                _ => &message.document,
            };
            match object {
                Some(m) => {
                    let placeholder = match kind {
                        "audio" if m.voice == Some(true) => "[voice message]".to_string(),
                        "sticker" if m.animated == Some(true) => "[animated sticker]".to_string(),
                        "document" => match &m.filename {
                            Some(name) => format!("[document: {name}]"),
                            None => "[document]".to_string(),
                        },
                        other => format!("[{other}]"),
                    };
                    let (content, refs) = media_of(m, placeholder);
                    media = refs;
                    (kind.to_string(), content)
                }
                None => unreadable(),
            }
        }
        "location" => match &message.location {
            Some(l) => {
                let label = [l.name.as_deref(), l.address.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                let content = if label.is_empty() {
                    format!("📍 location ({}, {})", l.latitude, l.longitude)
                } else {
                    format!("📍 location: {label} ({}, {})", l.latitude, l.longitude)
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "contacts" => match &message.contacts {
            Some(cards) => {
                let names: Vec<String> = cards
                    .iter()
                    .filter_map(|c| {
                        c.name
                            .as_ref()
                            .and_then(|n| n.formatted_name.clone())
                            .or_else(|| c.phones.first().and_then(|p| p.phone.clone().or(p.wa_id.clone())))
                    })
                    .collect();
                (kind.to_string(), format!("[contact: {}]", names.join(", ")))
            }
            None => unreadable(),
        },
        "button" => match &message.button {
            Some(b) => {
                let label = b.text.clone().or(b.payload.clone()).unwrap_or_default();
                (kind.to_string(), label)
            }
            None => unreadable(),
        },
        "interactive" => match &message.interactive {
            Some(i) => {
                let reply = i.button_reply.as_ref().or(i.list_reply.as_ref());
                let content = match (reply, &i.nfm_reply) {
                    (Some(r), _) => r.title.clone().unwrap_or_else(|| r.id.clone()),
                    (None, Some(nfm)) => nfm.body.clone().unwrap_or_else(|| "[form response]".to_string()),
                    (None, None) => format!("[interactive {}]", i.kind),
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "reaction" => match &message.reaction {
            Some(r) => {
                context_wamid = Some(r.message_id.clone());
                let content = match r.emoji.as_deref().filter(|e| !e.is_empty()) {
                    Some(emoji) => format!("[reaction {emoji} to {}]", r.message_id),
                    None => format!("[reaction removed from {}]", r.message_id),
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "order" => match &message.order {
            Some(o) => {
                let items = o.product_items.len();
                let content = match o.text.as_deref().filter(|t| !t.is_empty()) {
                    Some(text) => format!("[order: {items} item(s)] {text}"),
                    None => format!("[order: {items} item(s)]"),
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "system" => {
            let body = message.system.as_ref().and_then(|s| s.body.clone());
            (kind.to_string(), body.unwrap_or_else(|| "[system message]".to_string()))
        }
        "request_welcome" => (kind.to_string(), "[conversation opened]".to_string()),
        "unsupported" => {
            let content = match message.errors.first() {
                Some(e) => format!(
                    "[unsupported message: {} ({})]",
                    e.detail().or(e.title.as_deref()).unwrap_or("unknown type"),
                    e.code
                ),
                None => "[unsupported message]".to_string(),
            };
            (kind.to_string(), content)
        }
        other => ("unknown".to_string(), format!("[unknown message type: {other}]")),
    };
    Described { kind, content, media, context_wamid }
}

/// Why a new message opts its sender out of marketing, if it does.
pub(super) fn opt_out_source(config: &IngestConfig, message: &Message) -> Option<&'static str> {
    match message.kind.as_str() {
        "text" => {
            let text = message.text.as_ref()?.body.trim().to_lowercase();
            config.opt_out_keywords.iter().any(|k| k.trim().to_lowercase() == text).then_some("keyword")
        }
        "button" => {
            let b = message.button.as_ref()?;
            let tapped = [b.payload.as_deref(), b.text.as_deref()].into_iter().flatten();
            tapped.into_iter().any(|t| t.trim().eq_ignore_ascii_case(STOP_BUTTON)).then_some("button")
        }
        _ => None,
    }
}

/// An inbound message, read and ready to be written.
pub(super) struct Inbound<'a> {
    pub(super) item: &'a MessageItem<'a>,
    pub(super) who: Identity<'a>,
    pub(super) described: Described,
    pub(super) profile_name: Option<&'a str>,
    pub(super) opt_out: Option<&'static str>,
}

impl<'a> Inbound<'a> {
    pub(super) fn read(config: &IngestConfig, item: &'a MessageItem<'a>) -> Result<Inbound<'a>> {
        let message = item.message;
        let sender = sender_of(item.contacts, message.from.as_deref(), message.from_user_id.as_deref());
        let profile = sender.and_then(|c| c.profile.as_ref());
        let who = Identity::new(
            message.from.as_deref().or(sender.and_then(|c| c.wa_id.as_deref())),
            message.from_user_id.as_deref().or(sender.and_then(|c| c.user_id.as_deref())),
            message.from_parent_user_id.as_deref().or(sender.and_then(|c| c.parent_user_id.as_deref())),
            profile.and_then(|p| p.username.as_deref()),
        )?;
        Ok(Inbound {
            item,
            who,
            described: describe(message),
            profile_name: profile.and_then(|p| p.name.as_deref()).filter(|n| !n.is_empty()),
            opt_out: opt_out_source(config, message),
        })
    }

    pub(super) fn business(&self) -> BusinessId {
        self.item.route.business
    }

    pub(super) fn wamid(&self) -> &str {
        &self.item.message.id
    }

    pub(super) fn at(&self) -> DateTime<Utc> {
        self.item.at
    }
}

/// Stores a batch's inbound messages together: a handful of statements for the whole batch instead of
/// a handful per message. When that fails, each message is stored on its own, so one bad message is
/// rolled back alone and recorded on its event.
pub(super) async fn store_messages(
    conn: &mut PgConnection,
    config: &IngestConfig,
    items: &[MessageItem<'_>],
    progress: &mut [Progress],
) -> Result<()> {
    let mut inbound = Vec::with_capacity(items.len());
    for item in items {
        match Inbound::read(config, item) {
            Ok(message) => inbound.push(message),
            Err(e) => item_failed(&mut progress[item.event], format!("message {}", item.message.id), e),
        }
    }
    if inbound.is_empty() {
        return Ok(());
    }
    let keywords = &mut KeywordRules::default();
    let mut savepoint = Connection::begin(&mut *conn).await?;
    let together = ingest_messages(&mut savepoint, config, keywords, &inbound).await;
    let outcomes = match together {
        Ok(stored) => {
            savepoint.commit().await?;
            inbound.iter().zip(stored).map(|(message, stored)| (message, Ok(stored))).collect()
        }
        Err(e) if inbound.len() == 1 => {
            savepoint.rollback().await?;
            vec![(&inbound[0], Err(e))]
        }
        Err(e) => {
            savepoint.rollback().await?;
            tracing::debug!(error = %e, messages = inbound.len(), "storing a batch together failed; one by one");
            let mut outcomes = Vec::with_capacity(inbound.len());
            for message in &inbound {
                let mut savepoint = Connection::begin(&mut *conn).await?;
                match ingest_messages(&mut savepoint, config, keywords, std::slice::from_ref(message)).await {
                    Ok(stored) => {
                        savepoint.commit().await?;
                        outcomes.push((message, Ok(stored[0])));
                    }
                    Err(e) => {
                        savepoint.rollback().await?;
                        outcomes.push((message, Err(e)));
                    }
                }
            }
            outcomes
        }
    };
    for (message, outcome) in outcomes {
        let progress = &mut progress[message.item.event];
        progress.handled += u32::from(outcome.is_ok());
        match outcome {
            Ok(true) => progress.summary.messages_stored += 1,
            Ok(false) => progress.summary.duplicates += 1,
            Err(e) => item_failed(progress, format!("message {}", message.wamid()), e),
        }
    }
    Ok(())
}

/// Stores inbound messages with everything they imply: the contact (created or linked), the message,
/// the conversation state, the conversation window and its usage, keyword stage rules, and the
/// outbox events. Returns, per message, whether it was stored (`false`: its wamid already was, and
/// nothing was changed for it).
pub(super) async fn ingest_messages(
    conn: &mut PgConnection,
    config: &IngestConfig,
    keywords: &mut KeywordRules,
    inbound: &[Inbound<'_>],
) -> Result<Vec<bool>> {
    // Duplicates first (a repeat inside the batch, or a wamid stored before), so a duplicate delivery
    // changes nothing at all, not even the contact's identity.
    let known: BTreeSet<(i32, String)> = sqlx::query!(
        r#"SELECT u.business_id AS "business_id!", u.wamid AS "wamid!"
           FROM unnest($1::int[], $2::text[]) AS u(business_id, wamid)
           WHERE (SELECT true FROM messages m WHERE m.business_id = u.business_id AND m.wamid = u.wamid)"#,
        &inbound.iter().map(|m| m.business().0).collect::<Vec<_>>(),
        &inbound.iter().map(Inbound::wamid).collect::<Vec<_>>() as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.business_id, row.wamid))
    .collect();
    // Positions in `inbound` of the first delivery of each wamid not stored before.
    let mut seen = BTreeSet::new();
    let positions: Vec<usize> = (0..inbound.len())
        .filter(|&i| {
            let (business, wamid) = (inbound[i].business(), inbound[i].wamid());
            !known.contains(&(business.0, wamid.to_string())) && seen.insert((business, wamid))
        })
        .collect();
    let mut stored_here = vec![false; inbound.len()];
    if positions.is_empty() {
        return Ok(stored_here);
    }
    let fresh: Vec<&Inbound<'_>> = positions.iter().map(|&i| &inbound[i]).collect();

    let who: Vec<(BusinessId, &Identity<'_>)> = fresh.iter().map(|m| (m.business(), &m.who)).collect();
    let contacts = upsert_contacts(conn, &who).await?;
    // The messages and the conversation state in one statement. Webhooks arrive out of order: the
    // profile name is taken only from a newer message, and the activity times only move forward.
    let at: Vec<DateTime<Utc>> = fresh.iter().map(|m| m.at()).collect();
    let stored = sqlx::query!(
        r#"WITH input AS (
               SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::text[], $5::timestamptz[], $6::text[],
                                    $7::text[], $8::jsonb[], $9::jsonb[], $10::text[], $11::text[], $12::text[])
                   WITH ORDINALITY AS i(business_id, account_id, contact_id, content, at, wamid, kind, media, payload,
                                        context_wamid, profile_name, opt_out, ord)
           ), stored AS (
               INSERT INTO messages (business_id, whatsapp_account_id, contact_id, direction, content, status,
                                     sent_at, wamid, kind, media, payload, context_wamid)
               SELECT business_id, account_id, contact_id, 'in', content, 'delivered', at, wamid, kind, media,
                      payload, context_wamid
               FROM input ORDER BY ord
               ON CONFLICT (business_id, wamid) WHERE wamid IS NOT NULL DO NOTHING
               RETURNING id, business_id, wamid
           ), new AS (
               SELECT i.*, s.id AS message_id FROM input i JOIN stored s USING (business_id, wamid)
           ), per_contact AS (
               SELECT business_id, contact_id, count(*)::int AS n, max(at) AS last_at,
                      (array_agg(message_id ORDER BY at DESC, ord DESC))[1] AS last_id,
                      (array_agg(profile_name ORDER BY at DESC, ord DESC)
                           FILTER (WHERE profile_name IS NOT NULL))[1] AS profile_name,
                      max(at) FILTER (WHERE profile_name IS NOT NULL) AS profile_at,
                      (array_agg(opt_out ORDER BY at, ord) FILTER (WHERE opt_out IS NOT NULL))[1] AS opt_out,
                      min(at) FILTER (WHERE opt_out IS NOT NULL) AS opt_out_at,
                      max(at) FILTER (WHERE opt_out IS NOT NULL) AS opt_out_last
               FROM new GROUP BY business_id, contact_id
           ), choice AS (
               -- A STOP message is a marketing choice like a user_preferences stop: it counts only when
               -- newer than the last choice applied (a later resume wins, whatever the delivery order).
               SELECT p.*, p.opt_out IS NOT NULL
                           AND (c.marketing_preference_at IS NULL OR c.marketing_preference_at < p.opt_out_last)
                           AS opts_out
               FROM per_contact p JOIN contacts c ON c.business_id = p.business_id AND c.id = p.contact_id
           ), touched AS (
               UPDATE contacts c SET
                   profile_name = CASE WHEN p.profile_name IS NOT NULL
                                            AND (c.profile_name_at IS NULL OR c.profile_name_at < p.profile_at)
                                       THEN p.profile_name ELSE c.profile_name END,
                   profile_name_at = CASE WHEN p.profile_name IS NOT NULL
                                               AND (c.profile_name_at IS NULL OR c.profile_name_at < p.profile_at)
                                          THEN p.profile_at ELSE c.profile_name_at END,
                   last_active = GREATEST(c.last_active, p.last_at),
                   last_inbound_at = GREATEST(c.last_inbound_at, p.last_at),
                   last_message_id = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= p.last_at
                                          THEN p.last_id ELSE c.last_message_id END,
                   last_message_at = GREATEST(c.last_message_at, p.last_at),
                   unread_count = c.unread_count + p.n,
                   resolved_at = NULL,
                   opted_out_at = CASE WHEN p.opts_out THEN COALESCE(c.opted_out_at, p.opt_out_at)
                                       ELSE c.opted_out_at END,
                   opt_out_source = CASE WHEN p.opts_out AND c.opted_out_at IS NULL
                                         THEN p.opt_out ELSE c.opt_out_source END,
                   marketing_preference_at = CASE WHEN p.opts_out THEN p.opt_out_last
                                                  ELSE c.marketing_preference_at END
               FROM choice p
               WHERE c.business_id = p.business_id AND c.id = p.contact_id
           )
           SELECT n.ord AS "ord!", n.message_id AS "message_id!", ch.opts_out AS "opts_out!"
           FROM new n JOIN choice ch ON ch.business_id = n.business_id AND ch.contact_id = n.contact_id"#,
        &fresh.iter().map(|m| m.business().0).collect::<Vec<_>>(),
        &fresh.iter().map(|m| m.item.route.account.0).collect::<Vec<_>>(),
        &contacts.iter().map(|c| c.0).collect::<Vec<_>>(),
        &fresh.iter().map(|m| m.described.content.as_str()).collect::<Vec<_>>() as &[&str],
        &at,
        &fresh.iter().map(|m| m.wamid()).collect::<Vec<_>>() as &[&str],
        &fresh.iter().map(|m| m.described.kind.as_str()).collect::<Vec<_>>() as &[&str],
        &fresh.iter().map(|m| m.described.media.as_ref()).collect::<Vec<_>>() as &[Option<&Value>],
        &fresh.iter().map(|m| m.item.raw).collect::<Vec<_>>() as &[&Value],
        &fresh.iter().map(|m| m.described.context_wamid.as_deref()).collect::<Vec<_>>() as &[Option<&str>],
        &fresh.iter().map(|m| m.profile_name).collect::<Vec<_>>() as &[Option<&str>],
        &fresh.iter().map(|m| m.opt_out).collect::<Vec<_>>() as &[Option<&str>]
    )
    .fetch_all(&mut *conn)
    .await?;
    // (index in `fresh`, message id) of what this call stored; the rest lost a race to a concurrent
    // delivery of the same wamid.
    let new: Vec<(usize, MessageId)> =
        stored.iter().map(|row| (row.ord as usize - 1, MessageId(row.message_id))).collect();
    // Contacts a STOP message of this batch opted out (it was newer than their last marketing choice).
    let opted_out: BTreeSet<usize> = stored.iter().filter(|row| row.opts_out).map(|row| row.ord as usize - 1).collect();

    let windows: Vec<(BusinessId, ContactId, DateTime<Utc>)> =
        new.iter().map(|&(i, _)| (fresh[i].business(), contacts[i], fresh[i].at())).collect();
    billing::open_windows_if_closed(conn, &windows, config.conversation_price).await?;
    let mut outbox = Vec::with_capacity(new.len());
    for &(i, message_id) in &new {
        let (message, contact) = (fresh[i], contacts[i]);
        let text = &message.described.content;
        outbox.push(events::NewEvent {
            business: message.business(),
            contact: Some(contact),
            event: Event::MessageReceived {
                message_id,
                wamid: message.wamid().to_string(),
                account_id: message.item.route.account,
                kind: message.described.kind.clone(),
                text: text.clone(),
                context_wamid: message.described.context_wamid.clone(),
                sent_at: message.at(),
            },
            cause: Cause::customer(),
        });
        if let Some(source) = message.opt_out.filter(|_| opted_out.contains(&i)) {
            outbox.push(events::NewEvent {
                business: message.business(),
                contact: Some(contact),
                event: Event::OptedOut { source: source.to_string(), message_id: Some(message_id), detail: None },
                cause: Cause::customer(),
            });
        }
    }
    events::emit_all(conn, &outbox).await?;
    let replies: Vec<crate::broadcast::InboundReply> = new
        .iter()
        .map(|&(i, message)| crate::broadcast::InboundReply {
            business: fresh[i].business(),
            contact: contacts[i],
            message,
            at: fresh[i].at(),
            text: fresh[i].described.content.clone(),
        })
        .collect();
    crate::broadcast::attribute_replies_on(conn, &replies).await?;
    // After the messages' events, so a consumer reading in order sees a stage move after its cause.
    for &(i, _) in &new {
        let (message, contact) = (fresh[i], contacts[i]);
        let text = &message.described.content;
        if message.described.kind == "text" && keywords.may_match(conn, message.business(), text).await? {
            pipeline::apply_keyword_rules(conn, message.business(), contact, text).await?;
        }
    }

    for &(i, _) in &new {
        stored_here[positions[i]] = true;
    }
    Ok(stored_here)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(json: Value) -> Message {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn placeholders_for_types_without_text() {
        let location = message(json!({"id": "w", "timestamp": "1", "type": "location",
            "location": {"latitude": 38.9, "longitude": -77.03, "name": "Philz Coffee"}}));
        assert_eq!(describe(&location).content, "📍 location: Philz Coffee (38.9, -77.03)");
        let reaction = message(json!({"id": "w", "timestamp": "1", "type": "reaction",
            "reaction": {"message_id": "wamid.X", "emoji": "👍"}}));
        let d = describe(&reaction);
        assert_eq!((d.content.as_str(), d.context_wamid.as_deref()), ("[reaction 👍 to wamid.X]", Some("wamid.X")));
        let unreaction = message(json!({"id": "w", "timestamp": "1", "type": "reaction",
            "reaction": {"message_id": "wamid.X", "emoji": ""}}));
        assert_eq!(describe(&unreaction).content, "[reaction removed from wamid.X]");
        let voice = message(json!({"id": "w", "timestamp": "1", "type": "audio",
            "audio": {"id": "m1", "mime_type": "audio/ogg; codecs=opus", "sha256": "h", "voice": true}}));
        let d = describe(&voice);
        assert_eq!(d.content, "[voice message]");
        assert_eq!(
            d.media,
            Some(json!({"id": "m1", "mime_type": "audio/ogg; codecs=opus", "sha256": "h", "voice": true}))
        );
        let future = message(json!({"id": "w", "timestamp": "1", "type": "hologram"}));
        assert_eq!(describe(&future).kind, "unknown");
        let broken = message(json!({"id": "w", "timestamp": "1", "type": "image", "image": {"no_id": 1}}));
        assert_eq!(
            describe(&broken),
            Described {
                kind: "unknown".into(),
                content: "[unreadable image message]".into(),
                media: None,
                context_wamid: None
            }
        );
    }

    #[test]
    fn opt_out_keywords_match_whole_messages_only() {
        let config = IngestConfig::default();
        let text = |body: &str| message(json!({"id": "w", "timestamp": "1", "type": "text", "text": {"body": body}}));
        assert_eq!(opt_out_source(&config, &text("  stop ")), Some("keyword"));
        assert_eq!(opt_out_source(&config, &text("Unsubscribe")), Some("keyword"));
        assert_eq!(opt_out_source(&config, &text("please stop")), None);
        let button = message(json!({"id": "w", "timestamp": "1", "type": "button",
            "button": {"payload": "Stop promotions", "text": "Stop promotions"}}));
        assert_eq!(opt_out_source(&config, &button), Some("button"));
    }
}
