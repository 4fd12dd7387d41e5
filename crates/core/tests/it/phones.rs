//! Phone numbers and WhatsApp identities in the markets that use WhatsApp most: `Phone::parse` agrees
//! with Google's libphonenumber, Meta's own numbers are accepted as given, and one person written to
//! under several spellings of their number stays one contact.

use wacrm_core::Phone;

/// (default region, as typed, libphonenumber's verdict: the E.164 form when valid). The verdicts are
/// libphonenumber's (its Python port `phonenumbers` 9.0.43: `parse(input, region)` then
/// `is_valid_number`, formatted E.164). Real-format mobile numbers of 20 countries, each once in its
/// international form with a *different* default region (US: the crate read it with US rules), once
/// as written at home, plus numbers one digit short and WhatsApp-market oddities.
const VERDICTS: &[(&str, &str, Option<&str>)] = &[
    ("US", "+55 11 96123-4567", Some("+5511961234567")),
    ("BR", "(11) 96123-4567", Some("+5511961234567")),
    ("US", "+5511987654321", Some("+5511987654321")),
    ("BR", "+551196123456", None),
    ("US", "+52 222 123 4567", Some("+522221234567")),
    ("MX", "222 123 4567", Some("+522221234567")),
    ("US", "+52 55 1234 5678", Some("+525512345678")),
    ("MX", "+52222123456", None),
    ("US", "+54 9 11 2345-6789", Some("+5491123456789")),
    ("AR", "011 15-2345-6789", Some("+5491123456789")),
    ("US", "+54 9 11 2345-6789", Some("+5491123456789")),
    ("AR", "+549112345678", None),
    ("US", "+91 81234 56789", Some("+918123456789")),
    ("IN", "081234 56789", Some("+918123456789")),
    ("US", "+91 98765 43210", Some("+919876543210")),
    ("IN", "+91812345678", None),
    ("US", "+62 812-345-678", Some("+62812345678")),
    ("ID", "0812-345-678", Some("+62812345678")),
    ("US", "+62 812-3456-7890", Some("+6281234567890")),
    ("US", "+234 802 123 4567", Some("+2348021234567")),
    ("NG", "0802 123 4567", Some("+2348021234567")),
    ("US", "+234 803 123 4567", Some("+2348031234567")),
    ("NG", "+234802123456", None),
    ("US", "+49 1512 3456789", Some("+4915123456789")),
    ("DE", "01512 3456789", Some("+4915123456789")),
    ("US", "+49 170 1234567", Some("+491701234567")),
    ("DE", "+491512345678", None),
    ("US", "+44 7400 123456", Some("+447400123456")),
    ("GB", "07400 123456", Some("+447400123456")),
    ("US", "+44 7911 123456", Some("+447911123456")),
    ("GB", "+44740012345", None),
    ("US", "+34 612 34 56 78", Some("+34612345678")),
    ("ES", "612 34 56 78", Some("+34612345678")),
    ("US", "+34 612 34 56 78", Some("+34612345678")),
    ("US", "+39 312 345 6789", Some("+393123456789")),
    ("IT", "312 345 6789", Some("+393123456789")),
    ("US", "+39 347 123 4567", Some("+393471234567")),
    ("US", "+90 501 234 56 78", Some("+905012345678")),
    ("TR", "0501 234 56 78", Some("+905012345678")),
    ("US", "+90 532 123 45 67", Some("+905321234567")),
    ("US", "+27 71 123 4567", Some("+27711234567")),
    ("ZA", "071 123 4567", Some("+27711234567")),
    ("US", "+27 82 123 4567", Some("+27821234567")),
    ("US", "+20 10 01234567", Some("+201001234567")),
    ("EG", "010 01234567", Some("+201001234567")),
    ("US", "+20 100 123 4567", Some("+201001234567")),
    ("EG", "+20100123456", None),
    ("US", "+966 51 234 5678", Some("+966512345678")),
    ("SA", "051 234 5678", Some("+966512345678")),
    ("US", "+966 50 123 4567", Some("+966501234567")),
    ("US", "+971 50 123 4567", Some("+971501234567")),
    ("AE", "050 123 4567", Some("+971501234567")),
    ("US", "+971 50 123 4567", Some("+971501234567")),
    ("US", "+92 301 2345678", Some("+923012345678")),
    ("PK", "0301 2345678", Some("+923012345678")),
    ("US", "+92 300 1234567", Some("+923001234567")),
    ("US", "+57 321 1234567", Some("+573211234567")),
    ("CO", "321 1234567", Some("+573211234567")),
    ("US", "+57 310 1234567", Some("+573101234567")),
    ("US", "+51 912 345 678", Some("+51912345678")),
    ("PE", "912 345 678", Some("+51912345678")),
    ("US", "+51 987 654 321", Some("+51987654321")),
    ("US", "+1 201-555-0123", Some("+12015550123")),
    ("US", "(201) 555-0123", Some("+12015550123")),
    ("US", "+1 415 555 2671", Some("+14155552671")),
    ("US", "+351 912 345 678", Some("+351912345678")),
    ("PT", "912 345 678", Some("+351912345678")),
    ("US", "+351 912 345 678", Some("+351912345678")),
    ("BR", "5511987654321", Some("+5511987654321")),
    ("MX", "+52 1 55 1234 5678", None),
    ("AR", "011 15-2345-6789", Some("+5491123456789")),
    ("AR", "+54 9 351 123-4567", None),
    ("US", "011 55 11 98765 4321", Some("+5511987654321")),
    ("DE", "0049 170 1234567", Some("+491701234567")),
    ("GB", "00 55 11 98765 4321", Some("+5511987654321")),
    ("BR", "00 55 11 98765 4321", None),
    ("BR", "0021 1 415 555 2671", Some("+14155552671")),
    ("US", "+15550281234", None),
    ("GB", "+447700900123", None),
];

#[test]
fn phone_validation_agrees_with_libphonenumber() {
    let mut disagreements = Vec::new();
    for &(region, input, verdict) in VERDICTS {
        let ours = Phone::parse(input, region).ok();
        if ours.as_ref().map(Phone::as_str) != verdict {
            disagreements.push(format!("{input:?} in {region}: libphonenumber {verdict:?}, ours {ours:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    let countries: std::collections::BTreeSet<_> =
        VERDICTS.iter().filter_map(|(_, _, v)| *v).map(|e164| &e164[..4]).collect();
    assert!(VERDICTS.iter().filter(|v| v.2.is_some()).count() >= 40 && countries.len() >= 18, "{countries:?}");
}

#[test]
fn meta_issued_numbers_only_need_to_be_possible() {
    // Meta's test numbers (+1 555 …) and Ofcom's drama range are in no numbering plan's valid ranges.
    for (input, e164) in
        [("+15550281234", "+15550281234"), ("+1 555 028 1234", "+15550281234"), ("+447700900123", "+447700900123")]
    {
        assert!(Phone::parse(input, "US").is_err(), "{input} is not a valid number for a contact");
        assert_eq!(Phone::parse_possible(input, "US").unwrap().as_str(), e164);
    }
    // A real number keeps its full validation's normal form; a number of an impossible length is refused.
    assert_eq!(Phone::parse_possible("+55 11 98765-4321", "US").unwrap().as_str(), "+5511987654321");
    for impossible in ["+1555028123", "+155502812345", "+44 7700 9001 234567", "12"] {
        assert!(Phone::parse_possible(impossible, "US").is_err(), "{impossible}");
    }
}

mod one_person_one_contact {
    use std::time::Duration;

    use rust_decimal::Decimal;
    use sqlx::PgPool;
    use wacrm_core::contacts::{self, ContactChanges, NewContact};
    use wacrm_core::inbox::ingest::{self, IngestConfig};
    use wacrm_core::inbox::send::{self, Compose, Outgoing, Sender};
    use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
    use wacrm_core::whatsapp::fake::FakeGraph;
    use wacrm_core::{ContactId, Error, Scope, business};

    const PHONE_NUMBER_ID: &str = "106540352242922";

    async fn tenant(pool: &PgPool, fake: &FakeGraph) -> Scope {
        let (b, _) = business::create(pool, "Tienda", "tienda@example.com", "US").await.unwrap();
        let scope = Scope::for_business(pool, b.id).await.unwrap();
        let account = business::NewAccount {
            phone: "+15550783881".into(),
            phone_number_id: PHONE_NUMBER_ID.into(),
            token: "test-token".into(),
            api_base_url: Some(fake.base_url().to_string()),
            ..Default::default()
        };
        business::add_account(pool, &scope, &account).await.unwrap();
        scope
    }

    /// A text from `wa_id` as WhatsApp delivers it, sent a minute ago.
    async fn message_from(pool: &PgPool, wa_id: &str, wamid: &str) {
        let at = chrono::Utc::now().timestamp() - 60;
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Cliente"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": at.to_string(), "type": "text",
                          "text": {"body": "hola"}}]}}]}]});
        let id = ingest::store_raw(pool, body.to_string().as_bytes()).await.unwrap();
        ingest::process_event(pool, &IngestConfig::default(), id).await.unwrap();
    }

    async fn identities(pool: &PgPool, scope: &Scope) -> Vec<(i32, Option<String>, Option<String>)> {
        sqlx::query_as("SELECT id, phone, wa_id FROM contacts WHERE business_id = $1 ORDER BY id")
            .bind(scope.business().0)
            .fetch_all(pool)
            .await
            .unwrap()
    }

    async fn add(pool: &PgPool, scope: &Scope, phone: &str) -> Result<ContactId, Error> {
        let new = NewContact { phone: phone.into(), ..NewContact::default() };
        contacts::create(pool, scope, &new).await.map(|c| c.id)
    }

    #[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
    async fn a_number_typed_one_way_and_written_from_another_is_one_contact(pool: PgPool) {
        let fake = FakeGraph::start().await.unwrap();
        let scope = tenant(&pool, &fake).await;
        // (as typed in the CRM, the wa_id WhatsApp delivers for the same person)
        let people = [
            ("+52 55 1234 5678", "+525512345678", "5215512345678"), // Mexico's legacy mobile "1"
            ("+54 11 2345-6789", "+541123456789", "5491123456789"), // Argentina's mobile "9"
            ("+55 11 98765-4321", "+5511987654321", "551187654321"), // a Brazilian wa_id without the ninth digit
            ("+1 415 555 2671", "+14155552671", "14155552671"),     // the same spelling
        ];
        let mut added = Vec::new();
        for (typed, ..) in people {
            added.push(add(&pool, &scope, typed).await.unwrap());
        }
        for (i, (_, _, wa_id)) in people.iter().enumerate() {
            message_from(&pool, wa_id, &format!("wamid.identity.{i}")).await;
        }
        let expected: Vec<_> = people
            .iter()
            .zip(&added)
            .map(|((_, e164, wa_id), id)| (id.0, Some(e164.to_string()), Some(wa_id.to_string())))
            .collect();
        assert_eq!(identities(&pool, &scope).await, expected, "the phone as typed, the wa_id as Meta sent it");

        // Replies go to the wa_id WhatsApp gave, not to the number as typed.
        let sender = Sender {
            client: GraphClient::new(
                "http://127.0.0.1:9",
                "v23.0",
                RetryPolicy { max_attempts: 1, timeout: Duration::from_secs(5), ..RetryPolicy::default() },
            ),
            conversation_price: Decimal::ZERO,
        };
        for id in &added {
            let reply = Compose::Text { body: "gracias".into(), reply_to: None };
            send::send(&pool, &scope, &sender, &Outgoing { contact: *id, compose: reply, account: None })
                .await
                .unwrap();
        }
        let to: Vec<_> = fake.requests().iter().map(|r| r.body["to"].as_str().unwrap().to_string()).collect();
        assert_eq!(to, people.iter().map(|p| p.2).collect::<Vec<_>>());
    }

    #[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
    async fn a_contact_first_known_by_its_wa_id_is_found_and_not_duplicated_by_its_typed_number(pool: PgPool) {
        let fake = FakeGraph::start().await.unwrap();
        let scope = tenant(&pool, &fake).await;
        message_from(&pool, "5218112345678", "wamid.first").await;
        let [(id, phone, wa_id)] = identities(&pool, &scope).await.try_into().unwrap();
        assert_eq!((phone.as_deref(), wa_id.as_deref()), (Some("+5218112345678"), Some("5218112345678")));

        let err = add(&pool, &scope, "+52 81 1234 5678").await.unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("contact {id}")) && err.to_string().contains("same WhatsApp number"),
            "{err}"
        );
        assert_eq!(contacts::resolve(&pool, &scope, "+52 81 1234 5678").await.unwrap(), ContactId(id));

        // Editing the number to another person's drops the old wa_id, so replies follow the new number.
        let other = ContactChanges { phone: Some("+52 33 1234 5678".into()), ..ContactChanges::default() };
        contacts::update(&pool, &scope, ContactId(id), &other).await.unwrap();
        assert_eq!(identities(&pool, &scope).await, vec![(id, Some("+523312345678".into()), None)]);
    }
}
