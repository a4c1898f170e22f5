//! A background task that dies takes the server down with its cause, instead
//! of leaving it half alive (answering, applying nothing). The faults are
//! injected with the `test-faults` feature (src/faults.rs). `stopped` returns
//! only once the HTTP server itself has ended. (Probing the freed port would
//! not show it: another test's server may have been given the same port.)
use crate::both_stores;
use crate::helpers::*;

async fn a_dead_inbox_writer_stops_the_server_with_its_cause(store: Store) {
    let mut app = spawn_app_with(store, &[("SEATSYNC_TEST_FAULT", "inbox-writer-panic")]).await;
    let body = UserEvent {
        id: "event_a",
        user: "directory_user_a",
        email: "ann@example.com",
        at: &at(1),
        ..Default::default()
    }
    .json();
    // The delivery that met the fault is not acknowledged: WorkOS will retry it.
    let response = app.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(response.status(), 503);
    let err = app.stopped().await.expect_err("the server reports the dead task");
    assert!(err.to_string().contains("inbox writer"), "{err}");
    assert!(err.to_string().contains("test fault"), "{err}");
}

async fn a_dead_reconciler_stops_the_server_with_its_cause(store: Store) {
    let mut app = spawn_app_with(store, &[("SEATSYNC_TEST_FAULT", "reconciler-panic")]).await;
    app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_a",
        user: "directory_user_a",
        email: "ann@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    let err = app.stopped().await.expect_err("the server reports the dead task");
    assert!(err.to_string().contains("reconciler"), "{err}");
}

both_stores!(a_dead_inbox_writer_stops_the_server_with_its_cause, a_dead_reconciler_stops_the_server_with_its_cause);
