//! The send path's steps for n messages at once: what [`super::send_as`] runs for one message and a
//! campaign runs for a chunk of recipients, so both pass the same gate, reserve the same way and record
//! the same rows. A chunk costs one transaction to gate and reserve and one to record, whatever its
//! size; the Graph API calls in between run concurrently, outside any transaction.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Compose, Draft, Origin, Outgoing, SERVICE_WINDOW_HOURS, Sender, SendingAccount, SentMessage, draft};
use super::{TemplateCategory, quoted_wamid, sending_accounts};
use crate::auth::{Area, Scope};
use crate::billing;
use crate::contacts;
use crate::error::{Error, Result, op};
use crate::events::{self, Cause, Event, NewEvent};
use crate::types::{AccountId, BusinessId, ContactId, MessageId, MessageStatus, Phone};
use crate::whatsapp::client::{Accepted, ApiError};
use crate::whatsapp::pacing::Pacer;
use crate::whatsapp::send::SendRequest;
use sqlx::{PgConnection, PgPool};

/// One message of a bulk send: what to send, and its idempotency key (`None`: a fresh one).
pub struct Bulk<'a> {
    pub outgoing: &'a Outgoing,
    pub client_ref: Option<Uuid>,
}

/// A message the gate let through and that is reserved (`pending`, committed): it is either called
/// ([`Reservation::call`]) and recorded ([`record_on`]), or withdrawn ([`withdraw_on`]).
pub struct Reservation {
    pub(super) id: MessageId,
    pub(super) contact: ContactId,
    pub(super) account: SendingAccount,
    pub(super) request: SendRequest,
    pub(super) client_ref: Uuid,
    pub(super) opened_conversation: Option<String>,
    pub(super) cause: Cause,
    pub(super) campaign: Option<i32>,
    pub(super) draft: Draft,
    pub(super) at: DateTime<Utc>,
}

/// A reservation and Meta's answer to it.
pub struct Called {
    pub reservation: Reservation,
    pub outcome: std::result::Result<Accepted, ApiError>,
}

impl Reservation {
    /// The reserved message.
    pub fn message(&self) -> MessageId {
        self.id
    }

    /// The call step: waits for the number's token, if paced, then asks Meta (retrying what is retryable).
    pub async fn call(self, sender: &Sender, pacer: Option<&Pacer>) -> Called {
        if let Some(pacer) = pacer {
            pacer.until_ready(&self.account.endpoint.phone_number_id).await;
        }
        let outcome = sender.client.send(&self.account.endpoint, &self.request).await;
        Called { reservation: self, outcome }
    }
}

/// The contact's fields the gate reads, under the contact's row lock.
struct Locked {
    phone: Option<String>,
    wa_id: Option<String>,
    last_inbound_at: Option<DateTime<Utc>>,
    opted_out: bool,
    display_name: Option<String>,
}

/// Gate and reserve (steps 1 and 2) for `sends` to distinct contacts, in one transaction: each gets its
/// reservation or the reason the gate refused it, in order. `Err`: the whole chunk could not be gated
/// (no live subscription, no usable number, the database).
pub async fn reserve_many(
    pool: &PgPool,
    scope: &Scope,
    sender: &Sender,
    sends: &[Bulk<'_>],
    origin: &Origin,
) -> Result<Vec<Result<Reservation>>> {
    scope.require(Area::Inbox)?;
    let business = scope.business();
    let at = Utc::now();
    // What to send is checked before anything is locked or reserved.
    let drafts: Vec<Result<Draft>> = sends.iter().map(|s| draft(&s.outgoing.compose)).collect();
    let mut tx = pool.begin().await?;
    // The contacts' row locks (in id order, the order every path takes) serialise sends to one contact
    // with each other and with ingest, so the window checks see every earlier message.
    let ids: Vec<i32> =
        sends.iter().zip(&drafts).filter(|(_, d)| d.is_ok()).map(|(s, _)| s.outgoing.contact.0).collect();
    let mut locked: HashMap<ContactId, Locked> = sqlx::query!(
        r#"SELECT id, phone, wa_id, last_inbound_at, opted_out_at IS NOT NULL AS "opted_out!",
                  COALESCE(name, profile_name, phone, username, bsuid) AS display_name
           FROM contacts WHERE business_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"#,
        business.0,
        &ids
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| {
        let row = Locked {
            phone: r.phone,
            wa_id: r.wa_id,
            last_inbound_at: r.last_inbound_at,
            opted_out: r.opted_out,
            display_name: r.display_name,
        };
        (ContactId(r.id), row)
    })
    .collect();
    // Contact checks first: only the sends they pass are counted by the billing gate.
    let mut checked = Vec::with_capacity(sends.len());
    for (send, draft) in sends.iter().zip(drafts) {
        let checked_one = match (draft, locked.remove(&send.outgoing.contact)) {
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(Error::not_found(format!("contact {}", send.outgoing.contact))),
            (Ok(draft), Some(contact)) => admit(&mut tx, business, send.outgoing, &contact, at)
                .await
                .map(|(phone, quoted)| (phone, quoted, draft)),
        };
        checked.push(checked_one);
    }
    let passed: Vec<(ContactId, Option<AccountId>)> = sends
        .iter()
        .zip(&checked)
        .filter(|(_, c)| c.is_ok())
        .map(|(s, _)| (s.outgoing.contact, s.outgoing.account))
        .collect();
    let mut accounts = sending_accounts(&mut tx, business, &passed).await?;
    let contacts: Vec<ContactId> = passed.iter().map(|p| p.0).collect();
    let mut gated = billing::gate_sends(&mut tx, business, &contacts, at, sender.conversation_price).await?.into_iter();
    let cause = origin.cause.unwrap_or_else(|| Cause::of(scope));
    let mut reserved = Vec::with_capacity(sends.len());
    for (send, checked) in sends.iter().zip(checked) {
        let reservation = checked.and_then(|(phone, reply_to, draft)| {
            let opened_conversation = gated.next().unwrap_or(Ok(None))?;
            let account = accounts
                .remove(&send.outgoing.contact)
                .ok_or_else(|| Error::internal("a gated send has no sending account"))?;
            let client_ref = send.client_ref.unwrap_or_else(Uuid::new_v4);
            let request = SendRequest::new(phone.wa_id(), draft.wire.clone())
                .replying_to(reply_to)
                .with_callback_data(client_ref.to_string());
            Ok(Reservation {
                id: MessageId(0),
                contact: send.outgoing.contact,
                account,
                request,
                client_ref,
                opened_conversation,
                cause,
                campaign: origin.campaign,
                draft,
                at,
            })
        });
        reserved.push(reservation);
    }
    insert_reservations(&mut tx, scope, &mut reserved).await?;
    tx.commit().await?;
    Ok(reserved)
}

/// The contact checks of the gate: a usable number; free-form text only inside the customer-service
/// window; marketing never to an opted-out contact. Returns where to send and the quoted wamid.
async fn admit(
    conn: &mut PgConnection,
    business: BusinessId,
    outgoing: &Outgoing,
    contact: &Locked,
    at: DateTime<Utc>,
) -> Result<(Phone, Option<String>)> {
    let who = contact.display_name.clone().unwrap_or_else(|| format!("contact {}", outgoing.contact));
    let Some(phone) = contacts::identity::send_address(contact.wa_id.as_deref(), contact.phone.as_deref()) else {
        return Err(Error::invalid(
            format!("{who} has no usable phone number, and WhatsApp sends need one"),
            format!("add the contact's number ({})", op("contacts edit")),
        ));
    };
    let reply_to = match &outgoing.compose {
        Compose::Text { reply_to, .. } => {
            let window_closes = contact.last_inbound_at.map(|t| t + Duration::hours(SERVICE_WINDOW_HOURS));
            if window_closes.is_none_or(|closes| closes <= at) {
                let since = match contact.last_inbound_at {
                    Some(t) => format!("their last message was at {}", t.format("%Y-%m-%d %H:%M UTC")),
                    None => "they have never written".to_string(),
                };
                return Err(Error::invalid(
                    format!(
                        "the 24-hour customer-service window with {who} is closed ({since}); free-form text is not allowed"
                    ),
                    format!(
                        "send an approved template instead ({})",
                        op(&format!("inbox send {} --template NAME --lang en_US", outgoing.contact))
                    ),
                ));
            }
            match reply_to {
                Some(message) => Some(quoted_wamid(conn, business, outgoing.contact, *message).await?),
                None => None,
            }
        }
        Compose::Template { category, .. } | Compose::Rendered { category, .. } => {
            if *category == TemplateCategory::Marketing && contact.opted_out {
                return Err(Error::invalid(
                    format!("{who} opted out of marketing messages"),
                    "reply inside their 24-hour window, or send a template that really is transactional \
                     (order or account updates); promotions must wait until they opt back in",
                ));
            }
            None
        }
    };
    Ok((phone, reply_to))
}

/// Inserts the gated messages as `pending` (one statement) and gives each reservation its id; a send
/// whose key was used already is refused as a conflict before Meta is called.
async fn insert_reservations(
    conn: &mut PgConnection,
    scope: &Scope,
    reserved: &mut [Result<Reservation>],
) -> Result<()> {
    let rows: Vec<&Reservation> = reserved.iter().filter_map(|r| r.as_ref().ok()).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let accounts: Vec<i32> = rows.iter().map(|r| r.account.id.0).collect();
    let contacts: Vec<i32> = rows.iter().map(|r| r.contact.0).collect();
    let contents: Vec<&str> = rows.iter().map(|r| r.draft.content.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.draft.kind).collect();
    let payloads: Vec<Option<serde_json::Value>> =
        rows.iter().map(|r| (!r.draft.payload.is_null()).then(|| r.draft.payload.clone())).collect();
    let quoted: Vec<Option<String>> =
        rows.iter().map(|r| r.request.context.as_ref().map(|c| c.message_id.clone())).collect();
    let refs: Vec<Uuid> = rows.iter().map(|r| r.client_ref).collect();
    let at = rows[0].at;
    let campaign = rows[0].campaign;
    let inserted: HashMap<Uuid, i32> = sqlx::query!(
        r#"INSERT INTO messages (business_id, whatsapp_account_id, contact_id, direction, content, status, sent_at,
                                 kind, payload, context_wamid, sender_user_id, client_ref, campaign_id)
           SELECT $1, m.account, m.contact, 'out', m.content, 'pending', $2, m.kind, m.payload, m.quoted, $3,
                  m.client_ref, $4
           FROM unnest($5::int[], $6::int[], $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::uuid[])
                WITH ORDINALITY AS m(account, contact, content, kind, payload, quoted, client_ref, ord)
           ORDER BY m.ord
           ON CONFLICT (business_id, client_ref) WHERE client_ref IS NOT NULL DO NOTHING
           RETURNING id, client_ref AS "client_ref!""#,
        scope.business().0,
        at,
        scope.user().map(|u| u.0),
        campaign,
        &accounts,
        &contacts,
        &contents as &[&str],
        &kinds as &[&str],
        &payloads as &[Option<serde_json::Value>],
        &quoted as &[Option<String>],
        &refs
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.client_ref, r.id))
    .collect();
    for slot in reserved.iter_mut() {
        let Ok(reservation) = slot else { continue };
        match inserted.get(&reservation.client_ref) {
            Some(&id) => reservation.id = MessageId(id),
            None => {
                let client_ref = reservation.client_ref;
                *slot = Err(Error::conflict(
                    format!("the send {client_ref} was already made; it is not sent again"),
                    "look the message up by this reference instead of sending it once more",
                ));
            }
        }
    }
    Ok(())
}

/// Record (step 4) for called reservations, in the caller's transaction: an accepted message becomes
/// `sent` with its wamid (a status webhook that won the race is never moved back); a refused one
/// `failed` with Meta's error and its window given back (Meta does not charge it); an unclear answer
/// leaves it `pending`, to be matched later by its client_ref. The conversation and the events follow.
pub async fn record_on(conn: &mut PgConnection, scope: &Scope, called: &[Called]) -> Result<()> {
    if called.is_empty() {
        return Ok(());
    }
    let business = scope.business();
    // The contacts first, in id order: the lock order every path takes.
    let mut touched: Vec<&Reservation> = called.iter().map(|c| &c.reservation).collect();
    touched.sort_by_key(|r| r.contact.0);
    let contacts: Vec<i32> = touched.iter().map(|r| r.contact.0).collect();
    let ids: Vec<i32> = touched.iter().map(|r| r.id.0).collect();
    let ats: Vec<DateTime<Utc>> = touched.iter().map(|r| r.at).collect();
    sqlx::query!(
        r#"UPDATE contacts c SET last_message_id = m.id, last_message_at = m.at
           FROM unnest($2::int[], $3::int[], $4::timestamptz[]) AS m(contact, id, at)
           WHERE c.business_id = $1 AND c.id = m.contact AND (c.last_message_at IS NULL OR c.last_message_at <= m.at)"#,
        business.0,
        &contacts,
        &ids,
        &ats
    )
    .execute(&mut *conn)
    .await?;
    let accepted: Vec<(i32, &str)> =
        called.iter().filter_map(|c| c.outcome.as_ref().ok().map(|a| (c.reservation.id.0, a.wamid.as_str()))).collect();
    if !accepted.is_empty() {
        let (ids, wamids): (Vec<i32>, Vec<&str>) = accepted.into_iter().unzip();
        sqlx::query!(
            r#"UPDATE messages t
               SET status = CASE WHEN t.status = 'pending' THEN 'sent'::message_status ELSE t.status END,
                   wamid = COALESCE(t.wamid, m.wamid)
               FROM unnest($2::int[], $3::text[]) AS m(id, wamid)
               WHERE t.business_id = $1 AND t.id = m.id"#,
            business.0,
            &ids,
            &wamids as &[&str]
        )
        .execute(&mut *conn)
        .await?;
    }
    let refused: Vec<(&Reservation, &ApiError)> =
        called.iter().filter_map(|c| c.outcome.as_ref().err().map(|e| (&c.reservation, e))).collect();
    if !refused.is_empty() {
        let ids: Vec<i32> = refused.iter().map(|(r, _)| r.id.0).collect();
        let statuses: Vec<&str> = refused.iter().map(|(_, e)| status_after(e).as_str()).collect();
        let codes: Vec<Option<i32>> = refused.iter().map(|(_, e)| e.code.and_then(|c| i32::try_from(c).ok())).collect();
        let titles: Vec<&str> = refused.iter().map(|(_, e)| e.title.as_str()).collect();
        let details: Vec<Option<&str>> = refused.iter().map(|(_, e)| e.detail.as_deref()).collect();
        sqlx::query!(
            r#"UPDATE messages t
               SET status = m.status::message_status,
                   failed_at = CASE WHEN m.status = 'failed' THEN NOW() END,
                   error_code = m.code, error_title = m.title, error_detail = m.detail
               FROM unnest($2::int[], $3::text[], $4::int[], $5::text[], $6::text[]) AS m(id, status, code, title, detail)
               WHERE t.business_id = $1 AND t.id = m.id"#,
            business.0,
            &ids,
            &statuses as &[&str],
            &codes as &[Option<i32>],
            &titles as &[&str],
            &details as &[Option<&str>]
        )
        .execute(&mut *conn)
        .await?;
        let windows: Vec<&str> = refused
            .iter()
            .filter(|(_, e)| status_after(e) == MessageStatus::Failed)
            .filter_map(|(r, _)| r.opened_conversation.as_deref())
            .collect();
        billing::release_windows(conn, business, &windows).await?;
    }
    let events: Vec<NewEvent> = called.iter().map(|c| event(scope, c)).collect();
    events::emit_all(conn, &events).await?;
    Ok(())
}

/// Withdraws reservations that were never called (their campaign stopped first), in the caller's
/// transaction: the pending messages go, and so do the windows they opened, as if never gated.
pub async fn withdraw_on(conn: &mut PgConnection, scope: &Scope, unsent: &[Reservation]) -> Result<()> {
    if unsent.is_empty() {
        return Ok(());
    }
    let ids: Vec<i32> = unsent.iter().map(|r| r.id.0).collect();
    sqlx::query!(
        "DELETE FROM messages WHERE business_id = $1 AND id = ANY($2) AND status = 'pending' AND wamid IS NULL",
        scope.business().0,
        &ids
    )
    .execute(&mut *conn)
    .await?;
    let windows: Vec<&str> = unsent.iter().filter_map(|r| r.opened_conversation.as_deref()).collect();
    billing::release_windows(conn, scope.business(), &windows).await
}

/// Meta may have taken a message whose answer never arrived: it stays pending (visible, matched later
/// by its client_ref) instead of being marked failed and sent again.
fn status_after(error: &ApiError) -> MessageStatus {
    if error.outcome_unknown { MessageStatus::Pending } else { MessageStatus::Failed }
}

fn event(scope: &Scope, called: &Called) -> NewEvent {
    let r = &called.reservation;
    let event = match &called.outcome {
        Ok(accepted) => Event::MessageSent {
            message_id: r.id,
            wamid: accepted.wamid.clone(),
            kind: r.draft.kind.to_string(),
            client_ref: r.client_ref,
            account_id: r.account.id,
            sender_user_id: scope.user(),
            opened_conversation: r.opened_conversation.clone(),
        },
        Err(failure) => Event::StatusChanged {
            message_id: r.id,
            status: status_after(failure),
            wamid: None,
            reported: None,
            at: None,
            campaign_id: r.campaign,
            error_code: failure.code,
            error_title: Some(failure.title.clone()),
            error_detail: failure.detail.clone(),
            client_ref: Some(r.client_ref),
        },
    };
    NewEvent { business: scope.business(), contact: Some(r.contact), event, cause: r.cause }
}

impl Called {
    /// What the send path answers for this message once it is recorded.
    pub fn into_result(self) -> Result<SentMessage> {
        let r = self.reservation;
        match self.outcome {
            Ok(accepted) => Ok(SentMessage {
                id: r.id,
                contact_id: r.contact,
                account_id: r.account.id,
                wamid: accepted.wamid,
                status: MessageStatus::Sent,
                kind: r.draft.kind,
                content: r.draft.content,
                client_ref: r.client_ref,
                sent_at: r.at,
                opened_conversation: r.opened_conversation,
                attempts: accepted.attempts,
            }),
            Err(failure) => Err(failure.into()),
        }
    }
}
