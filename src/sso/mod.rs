//! The identity provider's side door: the app tile (CONTRACT 3.5). Nobody is
//! logged in here; people are only sent on to the product's own login page.
pub mod login_redirect;
