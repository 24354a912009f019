//! The language a text goes in: the one asked for (a keyword's answer), else the person's
//! (`Recipient.locale`), else for a number nobody owns the language of the last text it got, else
//! English (`Facts::language_for`). A request is written once, here, after the people are read.

use super::{
    SendError, SendRequest,
    accept::Accepted,
    catalogue::{Brand, Language, MAX_SEGMENTS},
    shaping,
};
use crate::config::SavingsConfig;

/// Writes request `index` in `language`: its text as it would go, refused when it is too long.
pub(super) fn write(
    index: usize,
    request: SendRequest,
    language: Language,
    (brand, settings): (&Brand, &SavingsConfig),
) -> Result<Accepted, SendError> {
    let shaped = shaping::render(
        &request.template,
        request.promotional,
        (brand, settings, language),
        request.shorten_links,
    );
    if shaped.rendered.segments > MAX_SEGMENTS {
        return Err(SendError::TooLong {
            segments: shaped.rendered.segments,
        });
    }
    Ok(Accepted {
        index,
        request,
        shaped,
        language,
    })
}
