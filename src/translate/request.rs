//! Stub until the translation branch lands: the contract only.
use super::{Dialect, EmbedDialect, Options, TranslateError};

pub fn request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    _options: &Options,
) -> Result<Vec<u8>, TranslateError> {
    if from == to {
        return Ok(body.to_vec());
    }
    Err(TranslateError::Unsupported(
        "translation is not built yet".into(),
    ))
}

pub fn embed_request(
    from: EmbedDialect,
    to: EmbedDialect,
    body: &[u8],
) -> Result<Vec<u8>, TranslateError> {
    if from == to {
        return Ok(body.to_vec());
    }
    Err(TranslateError::Unsupported(
        "translation is not built yet".into(),
    ))
}
