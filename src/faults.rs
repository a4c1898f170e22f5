//! Faults injected on purpose, compiled in only with the `test-faults` feature
//! (the test suite turns it on): tests use them to show that a background task
//! that dies takes the process down instead of leaving it half alive.
//! Without the feature every check is a constant `false`.

/// Which faults an app was started with (`SEATSYNC_TEST_FAULT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    #[cfg(feature = "test-faults")]
    writer_panics: bool,
    #[cfg(feature = "test-faults")]
    reconciler_panics: bool,
    #[cfg(feature = "test-faults")]
    apply_panics: bool,
    #[cfg(feature = "test-faults")]
    slow_store: bool,
    #[cfg(feature = "test-faults")]
    delivery_paused: bool,
    #[cfg(feature = "test-faults")]
    storage_off: bool,
    #[cfg(feature = "test-faults")]
    reconciler_paused: bool,
}

/// With `slow-store`, a storer holding an event that carries this email waits
/// this long before it commits: another storer's later event can commit first.
#[cfg(feature = "test-faults")]
pub const SLOW_STORE_EMAIL: &str = "slow-store@example.com";
#[cfg(feature = "test-faults")]
const SLOW_STORE_FOR: std::time::Duration = std::time::Duration::from_secs(3);

/// With `apply-panic`, applying any event that carries this email panics: a bug
/// that only one event's data reaches.
#[cfg(feature = "test-faults")]
pub const PANIC_EMAIL: &str = "panic-on-apply@example.com";

impl Faults {
    /// Reads `SEATSYNC_TEST_FAULT` (`inbox-writer-panic`, `reconciler-panic`,
    /// `apply-panic`, `slow-store`, `delivery-paused`, `storage-off` or
    /// `reconciler-paused`)
    /// through `lookup`; ignored unless the feature is on.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        #[cfg(feature = "test-faults")]
        {
            let fault = lookup("SEATSYNC_TEST_FAULT").unwrap_or_default();
            Self {
                writer_panics: fault == "inbox-writer-panic",
                reconciler_panics: fault == "reconciler-panic",
                apply_panics: fault == "apply-panic",
                slow_store: fault == "slow-store",
                delivery_paused: fault == "delivery-paused",
                storage_off: fault == "storage-off",
                reconciler_paused: fault == "reconciler-paused",
            }
        }
        #[cfg(not(feature = "test-faults"))]
        {
            let _ = lookup;
            Self {}
        }
    }

    /// Panics if the inbox writer is to die on its first delivery.
    pub fn inbox_writer(&self) {
        #[cfg(feature = "test-faults")]
        if self.writer_panics {
            panic!("test fault: the inbox writer dies");
        }
    }

    /// Panics if this event's body carries `PANIC_EMAIL` and `apply-panic` is on.
    pub fn applying(&self, body: &[u8]) {
        #[cfg(feature = "test-faults")]
        if self.apply_panics && body.windows(PANIC_EMAIL.len()).any(|w| w == PANIC_EMAIL.as_bytes()) {
            panic!("test fault: applying this event panics");
        }
        #[cfg(not(feature = "test-faults"))]
        let _ = body;
    }

    /// Waits before a storer commits, if `slow-store` is on and one of the
    /// bodies stored carries `SLOW_STORE_EMAIL`.
    pub async fn before_commit<'b>(&self, bodies: impl IntoIterator<Item = &'b [u8]>) {
        #[cfg(feature = "test-faults")]
        if self.delays_storing(bodies) {
            tokio::time::sleep(SLOW_STORE_FOR).await;
        }
        #[cfg(not(feature = "test-faults"))]
        drop(bodies.into_iter());
    }

    /// `before_commit` for a storer on a thread of its own (SQLite's inbox lane).
    pub fn before_commit_blocking<'b>(&self, bodies: impl IntoIterator<Item = &'b [u8]>) {
        #[cfg(feature = "test-faults")]
        if self.delays_storing(bodies) {
            std::thread::sleep(SLOW_STORE_FOR);
        }
        #[cfg(not(feature = "test-faults"))]
        drop(bodies.into_iter());
    }

    /// `slow-store` is on and one of the bodies carries `SLOW_STORE_EMAIL`.
    #[cfg(feature = "test-faults")]
    fn delays_storing<'b>(&self, bodies: impl IntoIterator<Item = &'b [u8]>) -> bool {
        let marked = |b: &[u8]| b.windows(SLOW_STORE_EMAIL.len()).any(|w| w == SLOW_STORE_EMAIL.as_bytes());
        self.slow_store && bodies.into_iter().any(marked)
    }

    /// False with `delivery-paused`: billing messages are written but this
    /// process never sends them (a crash between commit and delivery).
    /// False with `storage-off`: the webhook answers 200 after verifying and
    /// parsing, and stores nothing (`bench webhooks --wrk --ceiling` measures
    /// the most the machine allows this way). Never in a release build.
    pub fn stores(&self) -> bool {
        #[cfg(feature = "test-faults")]
        if self.storage_off {
            return false;
        }
        true
    }

    pub fn delivers(&self) -> bool {
        #[cfg(feature = "test-faults")]
        if self.delivery_paused {
            return false;
        }
        true
    }

    /// False with `reconciler-paused`: the reconciler applies nothing (`bench
    /// webhooks --wrk --paused` measures the intake alone this way).
    pub fn reconciles(&self) -> bool {
        #[cfg(feature = "test-faults")]
        if self.reconciler_paused {
            return false;
        }
        true
    }

    /// Panics if the reconciler is to die on its first batch.
    pub fn reconciler(&self) {
        #[cfg(feature = "test-faults")]
        if self.reconciler_panics {
            panic!("test fault: the reconciler dies");
        }
    }
}
