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

/// A bug that one event's data reaches (here a panic while applying it) does
/// not take the process down, which would only meet it again after a restart:
/// the batch is rolled back, the event is tried again like a refused one, and
/// after three tries it is `failed` with the reason; its organization's other
/// events, before and after it, are applied.
async fn an_event_whose_data_panics_the_reconciler_fails_alone(store: Store) {
    let app = spawn_app_with(store, &[("SEATSYNC_TEST_FAULT", "apply-panic")]).await;
    let plan = app.create_plan(ORG, None).await;
    for (n, email) in [(1, "ann@example.com"), (2, seatsync::faults::PANIC_EMAIL), (3, "bob@example.com")] {
        let (id, user) = (format!("event_{n}"), format!("directory_user_{n}"));
        app.user(UserEvent { id: &id, user: &user, email, at: &at(n), ..Default::default() }).await;
    }
    let mut status = String::new();
    for _ in 0..200 {
        status = app.event_status("event_2").await;
        if status == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "failed");
    let error = app.admin_json("/admin/events/event_2").await["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("failed 3 times") && error.contains("panicked"), "{error}");
    app.settle().await;
    assert_eq!(
        (app.event_status("event_1").await, app.event_status("event_3").await),
        ("applied".into(), "applied".into())
    );
    assert_eq!(
        app.seats(&plan).await,
        vec![seat("ann@example.com", "paid", "directory"), seat("bob@example.com", "paid", "directory")]
    );
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

both_stores!(
    a_dead_inbox_writer_stops_the_server_with_its_cause,
    a_dead_reconciler_stops_the_server_with_its_cause,
    an_event_whose_data_panics_the_reconciler_fails_alone
);
