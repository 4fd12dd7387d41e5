//! The seed schema's guarantees, tenant set-up and the demo generator.

use sqlx::PgPool;
use wacrm_core::auth::{self, Role};
use wacrm_core::business::{self, NewAccount};
use wacrm_core::{AccountId, BusinessId, Error, Scope, billing, demo};

async fn tenant(pool: &PgPool, email: &str) -> Scope {
    let (b, _) = business::create(pool, "Test Co", email, "US").await.expect("create business");
    Scope::for_business(pool, b.id).await.expect("scope")
}

/// Counts rows; the SQL is built from fixed table names in these tests, never from input.
async fn count(pool: &PgPool, sql: impl Into<String>) -> i64 {
    let sql = sql.into();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).fetch_one(pool).await.expect(&sql)
}

async fn insert_contact(pool: &PgPool, business: BusinessId, phone: &str) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO contacts (business_id, phone) VALUES ($1, $2) RETURNING id")
        .bind(business.0)
        .bind(phone)
        .fetch_one(pool)
        .await
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn seed_tables_and_additions_exist(pool: PgPool) {
    for table in [
        "businesses",
        "users",
        "whatsapp_accounts",
        "contacts",
        "messages",
        "pipeline_history",
        "contact_tags",
        "message_templates",
        "campaigns",
        "campaign_logs",
        "automation_rules",
        "plans",
        "subscriptions",
        "usage_logs",
        "webhook_events",
        "events",
        "message_pricing",
    ] {
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(&pool).await.unwrap();
        assert!(exists, "table {table} is missing");
    }
    let enums: Vec<String> =
        sqlx::query_scalar("SELECT typname::text FROM pg_type WHERE typtype = 'e' ORDER BY typname")
            .fetch_all(&pool)
            .await
            .unwrap();
    // The seed's four enums; later migrations add their own (campaign_status, …).
    for seed in ["message_direction", "message_status", "pipeline_stage", "subscription_status"] {
        assert!(enums.iter().any(|e| e == seed), "enum {seed} is missing: {enums:?}");
    }
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_bad_stage_is_rejected_by_the_enum(pool: PgPool) {
    let scope = tenant(&pool, "a@example.com").await;
    let id = insert_contact(&pool, scope.business(), "+14155550101").await.unwrap();
    let err = sqlx::query("UPDATE contacts SET stage = $1::pipeline_stage WHERE id = $2")
        .bind("Won")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap_err();
    let mapped = Error::from(err);
    assert!(matches!(mapped, Error::Invalid { .. }), "{mapped:?}");
    assert!(mapped.to_string().contains("pipeline_stage"), "{mapped}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_phone_is_unique_per_business_only(pool: PgPool) {
    let a = tenant(&pool, "a@example.com").await;
    let b = tenant(&pool, "b@example.com").await;
    insert_contact(&pool, a.business(), "+14155550101").await.unwrap();
    let duplicate = Error::from(insert_contact(&pool, a.business(), "+14155550101").await.unwrap_err());
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate:?}");
    assert!(duplicate.to_string().contains("already exists"), "{duplicate}");
    insert_contact(&pool, b.business(), "+14155550101").await.expect("another business may have the same phone");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn deleting_a_contact_cascades_to_its_messages_tags_and_history(pool: PgPool) {
    let scope = tenant(&pool, "a@example.com").await;
    let b = scope.business().0;
    let keep = insert_contact(&pool, scope.business(), "+14155550101").await.unwrap();
    let gone = insert_contact(&pool, scope.business(), "+14155550102").await.unwrap();
    for contact in [keep, gone] {
        sqlx::query("INSERT INTO messages (business_id, contact_id, direction, content) VALUES ($1, $2, 'in', 'hi')")
            .bind(b)
            .bind(contact)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO contact_tags (business_id, contact_id, tag) VALUES ($1, $2, 'vip')")
            .bind(b)
            .bind(contact)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage) VALUES ($1, $2, 'New', 'Engaged')",
        )
        .bind(b)
        .bind(contact)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("DELETE FROM contacts WHERE business_id = $1 AND id = $2")
        .bind(b)
        .bind(gone)
        .execute(&pool)
        .await
        .unwrap();
    for table in ["messages", "contact_tags", "pipeline_history"] {
        let left: Vec<i32> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT contact_id FROM {table} ORDER BY contact_id")))
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(left, [keep], "{table} still holds rows of the deleted contact");
    }
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn deleting_a_business_cascades_to_everything(pool: PgPool) {
    let doomed = demo::ensure(&pool, demo::Scale::Small, None).await.unwrap();
    let survivor = tenant(&pool, "survivor@example.com").await;
    insert_contact(&pool, survivor.business(), "+14155550101").await.unwrap();
    sqlx::query("DELETE FROM businesses WHERE id = $1").bind(doomed.business.0).execute(&pool).await.unwrap();
    for table in [
        "users",
        "whatsapp_accounts",
        "messages",
        "pipeline_history",
        "contact_tags",
        "message_templates",
        "campaigns",
        "usage_logs",
        "subscriptions",
        "events",
    ] {
        let left =
            count(&pool, format!("SELECT count(*) FROM {table} WHERE business_id = {}", doomed.business.0)).await;
        assert_eq!(left, 0, "{table} kept rows of the deleted business");
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM campaign_logs").await, 0);
    assert_eq!(
        count(&pool, format!("SELECT count(*) FROM contacts WHERE business_id = {}", survivor.business().0)).await,
        1
    );
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_new_business_has_an_active_subscription_on_the_default_plan(pool: PgPool) {
    let scope = tenant(&pool, "a@example.com").await;
    let subscription = billing::subscription(&pool, &scope).await.unwrap().expect("an active subscription");
    assert_eq!(subscription.plan, billing::DEFAULT_PLAN);
    let upgraded = billing::subscribe(&pool, &scope, "starter").await.unwrap();
    assert_eq!(upgraded.plan, "Starter");
    assert_eq!(count(&pool, "SELECT count(*) FROM subscriptions WHERE status = 'active'").await, 1);
    let missing = billing::subscribe(&pool, &scope, "Platinum").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }));
    let duplicate = business::create(&pool, "Again", "A@example.com", "US").await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate:?}");
    let bad_region = business::create(&pool, "X", "x@example.com", "Narnia").await.unwrap_err();
    assert!(matches!(bad_region, Error::Invalid { .. }));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn users_are_stored_with_argon2_hashes_and_log_in(pool: PgPool) {
    let scope = tenant(&pool, "a@example.com").await;
    let user = auth::add_user(&pool, &scope, "Ana", "Ana@Example.com", "correct horse", Role::Agent).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let login = auth::verify_login(&pool, "ana@example.com", "correct horse", None).await.unwrap();
    assert_eq!(login.user, user.id);
    assert_eq!(login.role, "agent");
    let wrong = auth::verify_login(&pool, "ana@example.com", "wrong horse", None).await.unwrap_err();
    assert!(matches!(wrong, Error::Forbidden { .. }));
    let short = auth::add_user(&pool, &scope, "Bo", "bo@example.com", "short", Role::Agent).await.unwrap_err();
    assert!(matches!(short, Error::Invalid { .. }));
    let agent = Scope::for_user(&pool, scope.business(), user.id).await.unwrap();
    let forbidden =
        auth::add_user(&pool, &agent, "Eve", "eve@example.com", "long enough", Role::Owner).await.unwrap_err();
    assert!(matches!(forbidden, Error::Forbidden { .. }), "agents may not add users");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn accounts_validate_input_and_stay_inside_their_business(pool: PgPool) {
    let a = tenant(&pool, "a@example.com").await;
    let b = tenant(&pool, "b@example.com").await;
    let new = NewAccount {
        phone: "+1 415 555 0100".into(),
        phone_number_id: "106540352242922".into(),
        waba_id: Some("102290129340398".into()),
        token: "token".into(),
        ..Default::default()
    };
    let account = business::add_account(&pool, &a, &new).await.unwrap();
    assert_eq!(account.phone_number, "+14155550100");
    let taken = business::add_account(&pool, &b, &NewAccount { phone: "+14155550199".into(), ..new.clone() })
        .await
        .unwrap_err();
    assert!(matches!(taken, Error::Conflict { .. }), "{taken:?}");
    let bad_id = business::add_account(&pool, &b, &NewAccount { phone_number_id: "abc".into(), ..new.clone() })
        .await
        .unwrap_err();
    assert!(matches!(bad_id, Error::Invalid { .. }));
    let bad_phone =
        business::add_account(&pool, &b, &NewAccount { phone: "12".into(), ..new.clone() }).await.unwrap_err();
    assert!(matches!(bad_phone, Error::Invalid { .. }));
    let odd_settings = [
        NewAccount { waba_id: Some("abc".into()), ..new.clone() },
        NewAccount { api_base_url: Some("notaurl".into()), ..new.clone() },
        NewAccount { api_base_url: Some("ftp://graph.example.com".into()), ..new.clone() },
        NewAccount { api_version: Some("banana".into()), ..new.clone() },
    ];
    for odd in odd_settings {
        let refused = business::add_account(&pool, &b, &NewAccount { phone: "+14155550123".into(), ..odd }).await;
        assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");
    }

    // A WABA routes template webhooks, so it belongs to one business only.
    let shared_waba = business::add_account(
        &pool,
        &b,
        &NewAccount { phone: "+14155550177".into(), phone_number_id: "777".into(), ..new.clone() },
    )
    .await
    .unwrap_err();
    assert!(matches!(shared_waba, Error::Conflict { .. }), "{shared_waba:?}");
    let second_number = business::add_account(
        &pool,
        &a,
        &NewAccount { phone: "+14155550177".into(), phone_number_id: "778".into(), ..new.clone() },
    )
    .await;
    assert!(second_number.is_ok(), "a business may connect several numbers of its own WABA: {second_number:?}");

    // Business B cannot see or change A's number, and trying changes nothing.
    assert!(business::list_accounts(&pool, &b).await.unwrap().is_empty());
    let foreign = business::set_account_active(&pool, &b, account.id, false).await.unwrap_err();
    assert!(matches!(foreign, Error::NotFound { .. }), "{foreign:?}");
    assert_eq!(business::list_accounts(&pool, &a).await.unwrap()[0].status, "active");
    let unknown = business::set_account_active(&pool, &a, AccountId(999_999), false).await.unwrap_err();
    assert!(matches!(unknown, Error::NotFound { .. }));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn scopes_resolve_by_id_or_email_and_unknown_ones_are_not_found(pool: PgPool) {
    let a = tenant(&pool, "shop@example.com").await;
    assert_eq!(Scope::for_business_ref(&pool, "SHOP@example.com").await.unwrap(), a);
    assert_eq!(Scope::for_business_ref(&pool, &a.business().to_string()).await.unwrap(), a);
    assert!(matches!(Scope::for_business_ref(&pool, "nobody@example.com").await, Err(Error::NotFound { .. })));
    assert!(matches!(Scope::for_business(&pool, BusinessId(424_242)).await, Err(Error::NotFound { .. })));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_demo_is_idempotent_even_when_started_twice_at_once(pool: PgPool) {
    let (first, second) =
        tokio::join!(demo::ensure(&pool, demo::Scale::Small, None), demo::ensure(&pool, demo::Scale::Small, None));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.business, second.business);
    assert!(first.created != second.created, "exactly one run creates the tenant");
    assert_eq!(count(&pool, "SELECT count(*) FROM businesses").await, 1);
    assert_eq!(first.contacts, 200);
    let again = demo::ensure(&pool, demo::Scale::Small, None).await.unwrap();
    assert!(!again.created);
    assert_eq!((again.contacts, again.messages), (first.contacts, first.messages));
    // Every stage is represented, and the inbox state agrees with the messages.
    assert_eq!(count(&pool, "SELECT count(DISTINCT stage) FROM contacts").await, 5);
    let inconsistent = count(
        &pool,
        "SELECT count(*) FROM contacts c WHERE c.last_message_at IS DISTINCT FROM
            (SELECT max(sent_at) FROM messages m WHERE m.business_id = c.business_id AND m.contact_id = c.id)",
    )
    .await;
    assert_eq!(inconsistent, 0);
    let scope = Scope::for_business(&pool, first.business).await.unwrap();
    let dashboards = demo::summary(&pool, &scope).await.unwrap();
    assert_eq!(dashboards.len(), 8);
    let analytics = &dashboards[6].summary;
    assert!(analytics.ends_with("new leads in 7 days") && !analytics.starts_with("0 "), "{analytics}");
    let approved: Vec<String> =
        wacrm_core::templates::approved(&pool, &scope).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(approved, ["order_update", "spring_sale"], "pending templates are not offered");
    let unread = wacrm_core::inbox::conversations::unread_total(&pool, &scope).await.unwrap();
    assert!(unread > 0);
    assert_eq!(unread, count(&pool, "SELECT COALESCE(sum(unread_count), 0)::bigint FROM contacts").await);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn rows_cannot_point_at_another_business(pool: PgPool) {
    let a = tenant(&pool, "a@example.com").await;
    let b = tenant(&pool, "b@example.com").await;
    let their_user = auth::add_user(&pool, &b, "Bo", "bo@example.com", "long enough", Role::Agent).await.unwrap();
    let our_contact = insert_contact(&pool, a.business(), "+14155550101").await.unwrap();
    let err = sqlx::query(
        "INSERT INTO messages (business_id, contact_id, direction, content, sender_user_id) VALUES ($1, $2, 'out', 'x', $3)",
    )
    .bind(a.business().0)
    .bind(our_contact)
    .bind(their_user.id.0)
    .execute(&pool)
    .await
    .unwrap_err();
    assert!(matches!(Error::from(err), Error::Invalid { .. }), "a message may not name another business's sender");
}

/// Every index and constraint of `table`, as the catalog defines them.
async fn schema_of(pool: &PgPool, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::regclass
         UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass
         ORDER BY 1",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_bulk_load_restores_every_index_and_key_and_still_checks_them(pool: PgPool) {
    let scope = tenant(&pool, "a@example.com").await;
    let contact = insert_contact(&pool, scope.business(), "+14155550101").await.unwrap();
    let before = schema_of(&pool, "messages").await;
    let insert = |contact: i32| {
        sqlx::query("INSERT INTO messages (business_id, contact_id, direction, content) VALUES ($1, $2, 'in', 'hi')")
            .bind(scope.business().0)
            .bind(contact)
    };

    let mut tx = pool.begin().await.unwrap();
    let deferred = wacrm_core::db::bulk::defer_indexes_and_keys(&mut tx, "messages").await.unwrap();
    insert(contact).execute(&mut *tx).await.unwrap();
    deferred.restore(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(schema_of(&pool, "messages").await, before);

    // A row the keys refuse makes the restore fail, and the whole load with it.
    let mut tx = pool.begin().await.unwrap();
    let deferred = wacrm_core::db::bulk::defer_indexes_and_keys(&mut tx, "messages").await.unwrap();
    insert(contact + 1000).execute(&mut *tx).await.unwrap();
    let refused = deferred.restore(&mut tx).await.unwrap_err();
    assert!(matches!(refused, Error::Invalid { .. }), "{refused:?}");
    drop(tx);
    assert_eq!(schema_of(&pool, "messages").await, before);
    assert_eq!(count(&pool, "SELECT count(*) FROM messages").await, 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_database_url_that_cannot_work_says_why(pool: PgPool) {
    let options = pool.connect_options();
    let (host, port, user) = (options.get_host().to_string(), options.get_port(), options.get_username().to_string());
    let socket = options.get_socket().map(|dir| dir.display().to_string());
    // The same server and user, another database; a Unix-socket server is named by its directory.
    let url_for = |db: &str| match &socket {
        Some(dir) => format!("postgres://{user}@localhost:{port}/{db}?host={dir}"),
        None => format!("postgres://{user}@{host}:{port}/{db}"),
    };
    let refused = |result: Result<PgPool, Error>| match result {
        Err(e) => e,
        Ok(_) => panic!("connected"),
    };
    for url in ["mysql://root@localhost/x", "garbage", "postgres://u@localhost/x?sslmode=bogus"] {
        let e = refused(wacrm_core::db::connect_url(url).await);
        assert!(matches!(e, Error::Invalid { .. }), "{url}: {e:?}");
    }
    let missing = refused(wacrm_core::db::connect_url(&url_for("wacrm_no_such_database")).await);
    assert!(matches!(&missing, Error::Invalid { message, .. } if message.contains("database")), "{missing:?}");
    let closed = refused(wacrm_core::db::connect_url("postgres://u@127.0.0.1:1/x").await);
    assert!(matches!(&closed, Error::Unavailable { message, .. } if message.contains("cannot reach")), "{closed:?}");
    let url = url_for(options.get_database().unwrap());
    let works = wacrm_core::db::connect_url(&url).await;
    assert!(works.is_ok(), "{url}: {:?}", works.err());
}

/// A live subscriber gets every committed event of its own business, in order, however many one
/// statement writes (they are announced in chunks), and nothing of another business's.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_subscriber_gets_every_event_of_its_business_once_in_order(pool: PgPool) {
    use futures::StreamExt;
    use wacrm_core::events::{self, Cause, Event, NewEvent};

    let (ours, theirs) = (tenant(&pool, "ours@example.com").await, tenant(&pool, "theirs@example.com").await);
    let mut live = Box::pin(events::subscribe(&pool, &ours).await.unwrap());
    let event = |scope: &Scope, n: usize| NewEvent {
        business: scope.business(),
        contact: None,
        event: Event::ContactsImported { created: n as u64, updated: 0 },
        cause: Cause::default(),
    };
    // Interleaved, more than one notification's worth for our business.
    let batch: Vec<NewEvent> = (0..450).map(|n| if n % 3 == 2 { event(&theirs, n) } else { event(&ours, n) }).collect();
    let mut tx = pool.begin().await.unwrap();
    let ids = events::emit_all(&mut tx, &batch).await.unwrap();
    assert_eq!(ids.len(), 450);
    tx.commit().await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 300 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), live.next()).await;
        let event = next.expect("an event within 10 s").expect("the stream is open").unwrap();
        assert_eq!(event.business_id, ours.business());
        seen.push(event.payload["created"].as_u64().unwrap() as usize);
    }
    let expected: Vec<usize> = (0..450).filter(|n| n % 3 != 2).collect();
    assert_eq!(seen, expected);
    let more = tokio::time::timeout(std::time::Duration::from_millis(300), live.next()).await;
    assert!(more.is_err(), "nothing beyond our 300 events: {more:?}");
}
