//! Who a WhatsApp sender is: the contact matched by BSUID or wa_id (created when new), locked for the
//! rest of the batch's transaction.

use super::*;
use crate::error::op;

/// Who a contact is on WhatsApp. The BSUID is matched first: it survives a username hiding the number.
pub(super) struct Identity<'a> {
    pub(super) phone: Option<Phone>,
    /// The phone's other spelling (Mexico's "1", Argentina's "9", Brazil's ninth digit).
    pub(super) alias: Option<Phone>,
    pub(super) wa_id: Option<&'a str>,
    pub(super) bsuid: Option<&'a str>,
    pub(super) parent_bsuid: Option<&'a str>,
    pub(super) username: Option<&'a str>,
}

impl<'a> Identity<'a> {
    pub(super) fn new(
        wa_id: Option<&'a str>,
        bsuid: Option<&'a str>,
        parent_bsuid: Option<&'a str>,
        username: Option<&'a str>,
    ) -> Result<Identity<'a>> {
        let wa_id = wa_id.map(str::trim).filter(|w| !w.is_empty());
        let bsuid = bsuid.map(str::trim).filter(|b| !b.is_empty());
        let phone = wa_id.and_then(|w| Phone::from_wa_id(w).ok());
        if phone.is_none() && bsuid.is_none() {
            return Err(Error::invalid(
                format!("the sender has neither a usable wa_id ({wa_id:?}) nor a user_id"),
                "nothing to do: WhatsApp sent no identity for this user",
            ));
        }
        let alias = phone.as_ref().and_then(contacts::identity::alias);
        Ok(Identity { phone, alias, wa_id, bsuid, parent_bsuid, username })
    }
}

/// Some of a batch's identities as the array parameters of a statement, always bound in this order.
pub(super) struct IdentityColumns<'w> {
    pub(super) businesses: Vec<i32>,
    pub(super) bsuids: Vec<Option<&'w str>>,
    pub(super) phones: Vec<Option<&'w str>>,
    pub(super) aliases: Vec<Option<&'w str>>,
    pub(super) parents: Vec<Option<&'w str>>,
    pub(super) usernames: Vec<Option<&'w str>>,
    pub(super) wa_ids: Vec<Option<&'w str>>,
}

impl<'w> IdentityColumns<'w> {
    pub(super) fn of(who: &[(BusinessId, &'w Identity<'w>)], rows: &[usize]) -> IdentityColumns<'w> {
        let column = |field: fn(&'w Identity<'w>) -> Option<&'w str>| rows.iter().map(|&i| field(who[i].1)).collect();
        IdentityColumns {
            businesses: rows.iter().map(|&i| who[i].0.0).collect(),
            bsuids: column(|w| w.bsuid),
            phones: column(|w| w.phone.as_ref().map(Phone::as_str)),
            aliases: column(|w| w.alias.as_ref().map(Phone::as_str)),
            parents: column(|w| w.parent_bsuid),
            usernames: column(|w| w.username),
            wa_ids: column(|w| w.wa_id),
        }
    }
}

/// The contacts with these identities, created where missing, each locked until the caller's
/// transaction ends (the conversation window check relies on that lock); one id per identity, in order.
/// Identities that match the same contact get the same id, and what each adds is kept (the newest value
/// of each field).
pub(super) async fn upsert_contacts<'w>(
    conn: &mut PgConnection,
    who: &[(BusinessId, &'w Identity<'w>)],
) -> Result<Vec<ContactId>> {
    let mut resolved: Vec<Option<ContactId>> = vec![None; who.len()];
    // Two deliveries of a new contact's first messages can race: the loser's insert does nothing (it
    // waits for the winner's commit) and the next lookup finds the winner's row.
    for _ in 0..3 {
        let pending: Vec<usize> = (0..who.len()).filter(|&i| resolved[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let columns = IdentityColumns::of(who, &pending);
        // One statement for the usual case, locking in the callers' (identity) order. The identity is
        // written only when it adds something (most messages come from a known contact with nothing new
        // to say), and a phone is only attached if no other contact of the business already has it (the
        // two would have to be merged by a person).
        let found = sqlx::query!(
            r#"WITH input AS (
                   SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                        $7::text[])
                       WITH ORDINALITY AS i(business_id, bsuid, phone, parent_bsuid, username, wa_id, alias, ord)
               ), found AS (
                   SELECT i.*, f.id, f.bsuid AS had_bsuid, f.parent_bsuid AS had_parent, f.username AS had_username,
                          f.wa_id AS had_wa_id, f.phone AS had_phone
                   FROM input i
                   CROSS JOIN LATERAL (
                       SELECT id, bsuid, parent_bsuid, username, wa_id, phone FROM contacts
                       WHERE business_id = i.business_id
                         AND id = COALESCE(
                                 (SELECT id FROM contacts WHERE business_id = i.business_id AND bsuid = i.bsuid),
                                 (SELECT id FROM contacts WHERE business_id = i.business_id AND phone = i.phone),
                                 (SELECT id FROM contacts WHERE business_id = i.business_id AND phone = i.alias))
                       FOR UPDATE
                   ) f
               ), merged AS (
                   -- One row per contact (UPDATE ... FROM applies only one joined row per target row):
                   -- the newest of each identity field the batch says about it.
                   SELECT business_id, id, had_bsuid, had_parent, had_username, had_wa_id, had_phone,
                          (array_agg(bsuid ORDER BY ord DESC) FILTER (WHERE bsuid IS NOT NULL))[1] AS bsuid,
                          (array_agg(parent_bsuid ORDER BY ord DESC) FILTER (WHERE parent_bsuid IS NOT NULL))[1]
                              AS parent_bsuid,
                          (array_agg(username ORDER BY ord DESC) FILTER (WHERE username IS NOT NULL))[1] AS username,
                          (array_agg(wa_id ORDER BY ord DESC) FILTER (WHERE wa_id IS NOT NULL))[1] AS wa_id,
                          (array_agg(phone ORDER BY ord DESC) FILTER (WHERE phone IS NOT NULL))[1] AS phone
                   FROM found
                   GROUP BY business_id, id, had_bsuid, had_parent, had_username, had_wa_id, had_phone
               ), linked AS (
                   UPDATE contacts c SET
                       bsuid = COALESCE(c.bsuid, m.bsuid),
                       parent_bsuid = COALESCE(m.parent_bsuid, c.parent_bsuid),
                       username = COALESCE(m.username, c.username),
                       wa_id = COALESCE(m.wa_id, c.wa_id),
                       phone = CASE WHEN c.phone IS NULL AND NOT EXISTS (
                                        SELECT 1 FROM contacts o WHERE o.business_id = m.business_id
                                                                   AND o.phone = m.phone)
                                    THEN m.phone ELSE c.phone END
                   FROM merged m
                   WHERE c.business_id = m.business_id AND c.id = m.id
                     AND ((m.had_bsuid IS NULL AND m.bsuid IS NOT NULL)
                          OR m.had_parent IS DISTINCT FROM COALESCE(m.parent_bsuid, m.had_parent)
                          OR m.had_username IS DISTINCT FROM COALESCE(m.username, m.had_username)
                          OR m.had_wa_id IS DISTINCT FROM COALESCE(m.wa_id, m.had_wa_id)
                          OR (m.had_phone IS NULL AND m.phone IS NOT NULL))
               )
               SELECT ord AS "ord!", id AS "id!" FROM found"#,
            &columns.businesses,
            &columns.bsuids as &[Option<&str>],
            &columns.phones as &[Option<&str>],
            &columns.parents as &[Option<&str>],
            &columns.usernames as &[Option<&str>],
            &columns.wa_ids as &[Option<&str>],
            &columns.aliases as &[Option<&str>]
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in found {
            resolved[pending[row.ord as usize - 1]] = Some(ContactId(row.id));
        }
        let missing: Vec<usize> = pending.into_iter().filter(|&i| resolved[i].is_none()).collect();
        if missing.is_empty() {
            break;
        }
        let columns = IdentityColumns::of(who, &missing);
        let inserted = sqlx::query!(
            r#"INSERT INTO contacts (business_id, bsuid, phone, parent_bsuid, username, wa_id)
               SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               ON CONFLICT DO NOTHING
               RETURNING id, business_id, phone, bsuid"#,
            &columns.businesses,
            &columns.bsuids as &[Option<&str>],
            &columns.phones as &[Option<&str>],
            &columns.parents as &[Option<&str>],
            &columns.usernames as &[Option<&str>],
            &columns.wa_ids as &[Option<&str>]
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in inserted {
            for &i in &missing {
                let (business, identity) = who[i];
                let same = match identity.bsuid {
                    Some(bsuid) => row.bsuid.as_deref() == Some(bsuid),
                    None => row.phone.as_deref() == identity.phone.as_ref().map(Phone::as_str),
                };
                if business.0 == row.business_id && same {
                    resolved[i] = Some(ContactId(row.id));
                }
            }
        }
    }
    resolved.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
        Error::conflict(
            "a contact could not be found or created (concurrent changes to the same identity)",
            format!("replay the event ({})", op("webhook replay")),
        )
    })
}

/// The contact entry describing the sender of `message`: matched by BSUID or wa_id, never by position
/// (a batch can hold several customers).
pub(super) fn sender_of<'a>(
    contacts: &'a [Lenient<Contact>],
    from: Option<&str>,
    from_user_id: Option<&str>,
) -> Option<&'a Contact> {
    contacts.iter().find_map(|c| match c {
        Lenient::Parsed { item, .. } => {
            let by_bsuid = from_user_id.is_some() && item.user_id.as_deref() == from_user_id;
            let by_wa_id = from.is_some() && item.wa_id.as_deref() == from;
            (by_bsuid || by_wa_id).then_some(item)
        }
        Lenient::Invalid { .. } => None,
    })
}
