//! The language a text goes in: the one asked for (a keyword's answer), else the person's
//! (`Recipient.locale`), else for a number nobody owns the language of the last text it got, else
//! English (`Facts::language_for`). A request is written in the language asked for (or English)
//! before the people are read; one that goes in another is written again here.

use super::{
    SendError,
    accept::Accepted,
    catalogue::{Brand, Language, MAX_SEGMENTS},
    shaping,
};
use crate::config::SavingsConfig;

/// Writes `item` in `language` if it is not already, with the same limit on its length.
pub(super) fn write_in(
    item: &mut Accepted,
    language: Language,
    (brand, settings): (&Brand, &SavingsConfig),
) -> Result<(), SendError> {
    if item.language == language {
        return Ok(());
    }
    let request = &item.request;
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
    item.shaped = shaped;
    item.language = language;
    Ok(())
}
