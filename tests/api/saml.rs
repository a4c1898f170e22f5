//! A SAML form post as an identity provider sends it, for the app tile's tests
//! (API, process and browser).
use crate::helpers::encode;

/// Text only a SAML assertion carries: it must appear nowhere afterwards.
pub const ASSERTION_MARKER: &str = "AssertionMarker9f3c1e";

/// A form post as OneLogin or Okta sends it: about 10 KB, a base64 assertion
/// and a `RelayState` that points somewhere else.
pub fn saml_form(relay_state: &str) -> String {
    let assertion = format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"><saml:Assertion>\
         <saml:Subject><saml:NameID>ada@example.com</saml:NameID></saml:Subject>\
         <saml:AttributeStatement>{ASSERTION_MARKER}{}</saml:AttributeStatement></saml:Assertion></samlp:Response>",
        "<saml:Attribute Name=\"groups\"><saml:AttributeValue>engineering</saml:AttributeValue></saml:Attribute>"
            .repeat(70)
    );
    format!("SAMLResponse={}&RelayState={}", encode(&base64_std(assertion.as_bytes())), encode(relay_state))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
