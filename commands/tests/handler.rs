//! The command handler against the real embedded log: decide, append with the expected version,
//! re-decide on conflict, refuse without writing, and return the original outcome for a repeated
//! command id.

use std::sync::Arc;

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{
    Actor, ActorId, ActorRole, CommandId, EventEnvelope, EventId, EventLog, NewEvent, Payload,
};
use ledger::log::{StreamId, StreamVersion};
use ledger_commands::handler::{Aggregate, Handled, Handler, HandlerError};
use uuid::Uuid;

/// A toy aggregate: a counter that may never exceed its limit. Each command adds `amount`.
struct Counter;

#[derive(Debug, thiserror::Error)]
#[error("adding {amount} would exceed the limit {limit} (total {total})")]
struct OverLimit {
    amount: u64,
    total: u64,
    limit: u64,
}

const LIMIT: u64 = 100;

impl Aggregate for Counter {
    type State = u64;
    type Command = u64;
    type Context<'c> = ();
    type Rejection = OverLimit;

    fn evolve(state: u64, envelope: &EventEnvelope) -> Result<u64, HandlerError> {
        let bytes: [u8; 8] = envelope
            .body
            .payload
            .data
            .as_slice()
            .try_into()
            .map_err(|_| HandlerError::Fold {
                stream: envelope.body.stream.clone(),
                version: envelope.body.stream_version,
                detail: "payload is not 8 bytes".into(),
            })?;
        Ok(state + u64::from_le_bytes(bytes))
    }

    fn decide(state: &mut u64, amount: &u64, _: &()) -> Result<Vec<NewEvent>, OverLimit> {
        if *state + amount > LIMIT {
            return Err(OverLimit {
                amount: *amount,
                total: *state,
                limit: LIMIT,
            });
        }
        *state += amount;
        Ok(vec![NewEvent {
            event_id: EventId::new_v7(Timestamp::from_micros(1)),
            occurred_at: Timestamp::from_micros(0),
            jurisdiction: Jurisdiction::KZ,
            causation_id: None,
            correlation_id: Uuid::nil(),
            actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
            payload: Payload {
                event_type: "Added".into(),
                schema_version: 1,
                data: amount.to_le_bytes().to_vec(),
            },
            command_digest: None,
        }])
    }
}

fn open(dir: &std::path::Path) -> Arc<FileLog> {
    let options = FileLogOptions {
        partitions: 2,
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    Arc::new(FileLog::open(dir, options).expect("open log"))
}

fn stream() -> StreamId {
    StreamId::new("counter/1").unwrap()
}

#[tokio::test]
async fn rejection_appends_nothing_and_repeat_returns_original() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let handler = Handler::<Counter>::default();
    let command_id = CommandId(Uuid::from_u128(1));
    let Handled::Appended(first) = handler
        .execute(&*log, &stream(), command_id, &60, &())
        .await
        .unwrap()
    else {
        panic!("60 is within the limit")
    };
    assert!(!first.duplicate);
    // The same command id again: the original outcome, nothing appended.
    let Handled::Appended(again) = handler
        .execute(&*log, &stream(), command_id, &60, &())
        .await
        .unwrap()
    else {
        panic!("a repeat is answered, not rejected")
    };
    assert!(again.duplicate);
    assert_eq!(again.positions, first.positions);
    // Over the limit: rejected, nothing written.
    let rejected = handler
        .execute(&*log, &stream(), CommandId(Uuid::from_u128(2)), &41, &())
        .await
        .unwrap();
    assert!(matches!(
        rejected,
        Handled::Rejected(OverLimit { total: 60, .. })
    ));
    assert_eq!(
        log.stream_version(&stream()).await.unwrap(),
        StreamVersion(1)
    );
}

/// Many tasks share one handler: the per-stream lock serialises them, so the invariant (total ≤ limit)
/// holds and every accepted command is on the log exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_on_one_stream_keep_the_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let handler = Arc::new(Handler::<Counter>::default());
    let mut tasks = Vec::new();
    for worker in 0..4u128 {
        let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            for index in 0..20u128 {
                let command_id = CommandId(Uuid::from_u128(worker * 1000 + index + 10));
                match handler
                    .execute(&*log, &stream(), command_id, &3, &())
                    .await
                    .unwrap()
                {
                    Handled::Appended(outcome) => {
                        assert!(!outcome.duplicate);
                        accepted += 3;
                    }
                    Handled::Rejected(_) => {}
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    let (total, version) = Handler::<Counter>::default()
        .load(&*log, &stream())
        .await
        .unwrap();
    assert_eq!(total, accepted);
    assert_eq!(total, 99, "33 commands of 3 fit under the limit of 100");
    assert_eq!(version, StreamVersion(33));
}

/// A second writer appends between this handler's load and its append: the handler gets a conflict,
/// re-decides against the fresh state, and the stale decision is never written.
#[tokio::test]
async fn conflict_from_another_writer_is_redecided() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let first = Handler::<Counter>::default();
    let second = Handler::<Counter>::default();
    first.load(&*log, &stream()).await.unwrap(); // caches version 0
    let appended = second
        .execute(&*log, &stream(), CommandId(Uuid::from_u128(1)), &90, &())
        .await
        .unwrap();
    assert!(matches!(appended, Handled::Appended(_)));
    // `first` still believes the total is 0; 20 fits 0 but not 90: it must be refused after re-deciding.
    let outcome = first
        .execute(&*log, &stream(), CommandId(Uuid::from_u128(2)), &20, &())
        .await
        .unwrap();
    assert!(
        matches!(outcome, Handled::Rejected(OverLimit { total: 90, .. })),
        "{outcome:?}"
    );
    assert_eq!(
        log.stream_version(&stream()).await.unwrap(),
        StreamVersion(1)
    );
}
