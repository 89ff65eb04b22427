//! The webhook's group commit (`pipeline::ingest::ingest_batch`) on a real database: one
//! batch holding a provider retry, a message id twice, STOP then YES from one number and a
//! picture must store what the same texts stored one by one would.

use backtalk::domain::ConsentKind;
use backtalk::domain::media::Media;
use backtalk::pipeline::ingest::{Assessed, Inbound, Ingested, TurnJob, ingest, ingest_batch};
use backtalk::store::{Db, with_db};

use crate::helpers::*;
use crate::on_both_backends;

fn text(sid: &str, from: &str, body: &str) -> Inbound {
    Inbound {
        provider_sid: sid.to_string(),
        from: as_phone(from),
        to: OUR_NUMBER.to_string(),
        body: body.to_string(),
        media: Vec::new(),
    }
}

async fn turn_jobs(db: &Db) -> Vec<TurnJob> {
    let payloads: Vec<String> =
        with_db!(db, |p| sqlx::query_scalar::<_, String>("select payload from jobs where kind = 'turn' order by id")
            .fetch_all(p)
            .await)
        .unwrap();
    payloads.iter().map(|p| serde_json::from_str(p).unwrap()).collect()
}

async fn consent_kinds(db: &Db, phone: &str) -> Vec<ConsentKind> {
    with_db!(db, |p| sqlx::query_scalar::<_, ConsentKind>(
        "select kind from consent_events where phone = $1 order by id"
    )
    .bind(phone)
    .fetch_all(p)
    .await)
    .unwrap()
}

async fn a_batch_stores_what_the_texts_one_by_one_would(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&fresh_database_url(backend, dir.path()).await).await.unwrap();
    let (earlier, stopper, asker) = ("+14155550101", "+14155550102", "+14155550103");
    let Ingested::New(first) = ingest(&db, &text("SM-earlier", earlier, "hi"), 5).await.unwrap() else {
        panic!("a new text")
    };
    let mut picture = text("SM-picture", asker, "is this in stock?");
    picture.media.push(Media {
        url: "https://cdn.example.com/p.jpg".into(),
        content_type: "image/jpeg".into(),
        size_bytes: Some(2048),
    });
    let batch: Vec<Assessed> = [
        text("SM-earlier", earlier, "hi"),           // a provider retry of a stored text
        text("SM-stop", stopper, "STOP"),            // opts out
        text("SM-yes", stopper, "YES"),              // opts in again: only while opted out
        text("SM-stop", stopper, "STOP"),            // a retry within the batch
        picture,                                     // a picture
        text("SM-other", earlier, "any discounts?"), // a known number
    ]
    .into_iter()
    .map(Assessed::new)
    .collect();
    let results = ingest_batch(&db, &batch, 5).await.unwrap();
    let ids: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Ingested::New(id) => Some(*id),
            Ingested::Duplicate => None,
        })
        .collect();
    assert_eq!(
        results.iter().map(|r| matches!(r, Ingested::New(_))).collect::<Vec<_>>(),
        [false, true, true, false, true, true],
        "{results:?}"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > first, "ids follow the batch's order: {ids:?}");
    assert_eq!(count(&db, "messages").await, 5);
    assert_eq!(count(&db, "customers").await, 3, "one customer per number");
    assert_eq!(count(&db, "conversations").await, 3, "one conversation per number");
    assert_eq!(count(&db, "message_media").await, 1);
    assert_eq!(consent_kinds(&db, stopper).await, [ConsentKind::OptOut, ConsentKind::OptIn]);
    assert!(consent_kinds(&db, earlier).await.is_empty());

    let jobs = turn_jobs(&db).await;
    assert_eq!(jobs.iter().map(|j| j.message_id).collect::<Vec<_>>(), [[first].as_slice(), &ids].concat());
    let yes = &jobs[2];
    assert_eq!(yes.consent_before, Some(ConsentKind::OptOut), "YES saw the STOP before it in the batch");
    assert_eq!(yes.consent_change, Some(ConsentKind::OptIn));
    assert_eq!(jobs[1].consent_change, Some(ConsentKind::OptOut));
    assert!(jobs[3].picture && !jobs[4].picture);
    assert_eq!(jobs[4].consent_before, None);

    // The same batch again is all duplicates and writes nothing.
    let again = ingest_batch(&db, &batch, 5).await.unwrap();
    assert!(again.iter().all(|r| *r == Ingested::Duplicate), "{again:?}");
    assert_eq!(count(&db, "messages").await, 5);
    assert_eq!(turn_jobs(&db).await.len(), 5);
}
on_both_backends!(a_batch_stores_what_the_texts_one_by_one_would);

/// On SQLite a batch's transaction is begun and committed inside its own queries
/// (`SqliteTx::inline`). A batch that fails in its last query must leave nothing behind, and
/// the next write must find the writer free: its turn rolls the failed batch back first.
#[tokio::test]
async fn a_batch_that_fails_late_stores_nothing_and_the_next_one_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&fresh_database_url(Backend::Sqlite, dir.path()).await).await.unwrap();
    // Fails the batch's last statement but one, the jobs insert, at the second text's job (a
    // fresh database numbers the batch's messages 1 and 2).
    backtalk::with_db_write!(&db, |p| sqlx::query(
        "create trigger refuse_boom before insert on jobs when new.unique_key = 'turn:2'
         begin select raise(abort, 'refused'); end"
    )
    .execute(p)
    .await
    .map(|_| ()))
    .unwrap();
    let failing: Vec<Assessed> = [text("SM-a", "+14155550111", "hello"), text("SM-b", "+14155550112", "and me")]
        .into_iter()
        .map(Assessed::new)
        .collect();
    let error = ingest_batch(&db, &failing, 5).await.unwrap_err();
    assert!(format!("{error:#}").contains("refused"), "{error:#}");
    for table in ["messages", "customers", "conversations", "jobs"] {
        assert_eq!(count(&db, table).await, 0, "{table} after the failed batch");
    }
    let next = ingest_batch(&db, &[Assessed::new(text("SM-c", "+14155550113", "hi"))], 5).await.unwrap();
    assert!(matches!(next[..], [Ingested::New(_)]), "{next:?}");
    assert_eq!((count(&db, "messages").await, count(&db, "jobs").await), (1, 1));
    // A retry of the failed texts is stored (the numbers are free again: drop the trigger).
    backtalk::with_db_write!(&db, |p| sqlx::query("drop trigger refuse_boom").execute(p).await.map(|_| ())).unwrap();
    let retried = ingest(&db, &text("SM-a", "+14155550111", "hello"), 5).await.unwrap();
    assert!(matches!(retried, Ingested::New(_)));
}
