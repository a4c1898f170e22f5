//! The admin page and the app tile in a real browser: headless Chromium driven
//! through chromedriver, on both stores. A test target of its own, so building
//! the API tests never links the WebDriver client.
//!
//! The support modules are the API tests' own files; this target uses only
//! part of each, hence `dead_code` allowed here.
#![allow(dead_code)]

#[path = "../api/helpers.rs"]
mod helpers;

#[path = "../api/fake_billing.rs"]
mod fake_billing;
#[path = "../api/fake_workos.rs"]
mod fake_workos;
mod page;
mod portal;
#[path = "../api/saml.rs"]
mod saml;
