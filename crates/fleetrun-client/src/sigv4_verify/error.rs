//! `AuthError`: why a request failed SigV4 authentication, with the AWS JSON 1.1 error code and
//! message a real AWS endpoint answers for each case.
//!
//! This is a vocabulary, not an HTTP mapping: the server turns `aws_code` and `message` into a
//! 400 response body in its own error layer.

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("the request has no Authorization header")]
    Missing,
    /// The `Authorization` header or a header it depends on cannot be parsed or is incomplete.
    /// Holds the AWS-style message.
    #[error("malformed SigV4 authorization: {0}")]
    Malformed(String),
    /// `X-Amz-Date` is more than five minutes before the server's clock. Holds the AWS-style message.
    #[error("{0}")]
    Expired(String),
    /// `X-Amz-Date` is more than five minutes after the server's clock. Holds the AWS-style message.
    #[error("{0}")]
    NotYetCurrent(String),
    /// The credential scope disagrees with the request, for example its date is not the date of
    /// `X-Amz-Date`, or (checked by the server) the region or service is not one it serves.
    /// Holds the AWS-style message.
    #[error("{0}")]
    ScopeMismatch(String),
    /// The signature is well-formed but does not match the one recomputed with the secret.
    #[error("the request signature does not match")]
    SignatureMismatch,
    /// The access key id (or session token) is not known to the server.
    #[error("the access key id is not recognized")]
    UnknownAccessKey,
}

impl AuthError {
    /// The `__type` of the AWS JSON 1.1 error body.
    pub fn aws_code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Malformed(_) => "IncompleteSignatureException",
            AuthError::Expired(_)
            | AuthError::NotYetCurrent(_)
            | AuthError::ScopeMismatch(_)
            | AuthError::SignatureMismatch => "InvalidSignatureException",
            AuthError::UnknownAccessKey => "UnrecognizedClientException",
        }
    }

    /// The `message` of the AWS JSON 1.1 error body, worded as AWS words it.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "Missing Authentication Token".to_owned(),
            AuthError::Malformed(message)
            | AuthError::Expired(message)
            | AuthError::NotYetCurrent(message)
            | AuthError::ScopeMismatch(message) => message.clone(),
            AuthError::SignatureMismatch => "The request signature we calculated does not match \
                 the signature you provided. Check your AWS Secret Access Key and signing method. \
                 Consult the service documentation for details."
                .to_owned(),
            AuthError::UnknownAccessKey => "The security token included in the request is invalid.".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_match_aws() {
        let cases = [
            (AuthError::Missing, "MissingAuthenticationTokenException", "Missing Authentication Token"),
            (
                AuthError::Malformed("Authorization header requires 'Signature' parameter.".into()),
                "IncompleteSignatureException",
                "Authorization header requires 'Signature' parameter.",
            ),
            (AuthError::Expired("Signature expired: x".into()), "InvalidSignatureException", "Signature expired: x"),
            (
                AuthError::SignatureMismatch,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.",
            ),
            (
                AuthError::UnknownAccessKey,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.aws_code(), code, "{error:?}");
            assert_eq!(error.message(), message, "{error:?}");
        }
    }
}
