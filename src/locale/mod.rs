//! Where and when a person is: phone numbers, time zones from the app or the number, quiet hours and
//! the states' stricter rules. Pure: nothing here touches the database or the rest of the service.

pub mod local_time;
pub mod phone;
pub mod quiet;
pub mod text;
pub mod texts;
mod validity;
#[rustfmt::skip]
pub mod zone_data;
pub mod zones;
