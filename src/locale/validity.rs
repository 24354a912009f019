//! Whether a parsed number is valid: the answer of `phonenumber::is_valid`, reached with fewer
//! pattern matches.
//!
//! `phonenumber::is_valid` finds the number's region by asking each region of its calling code for
//! the number's type, then asks the region found for the type again; each type is a regular
//! expression looked up by its source text (hashed) in the crate's one cache behind a lock, tried in
//! the order premium rate, toll free, shared cost, VoIP, personal, pager, UAN, voicemail, fixed line,
//! mobile. So a US landline cost about twenty lookups, and an import of a million people spent most of
//! its reading there. A number is valid when the general pattern of its region and any one type's
//! pattern match, whatever the type: asked once, fixed line and mobile first (what nearly every
//! number is), it takes two or three. The region is found as the crate finds it (the same order, the
//! same leading-digit patterns), from the crate's own metadata, so the answer is the same: the tests
//! compare both on every region's example numbers and their neighbours.

use phonenumber::{
    PhoneNumber,
    metadata::{DATABASE, Descriptor, Metadata},
};

/// `phonenumber::is_valid(number)`.
pub(super) fn is_valid(number: &PhoneNumber) -> bool {
    let code = number.code().value();
    let national = number.national().to_string();
    let Some(regions) = DATABASE.region(&code) else {
        return false;
    };
    if let [only] = regions.as_slice() {
        // A code of one region (or of no region: "001", international services).
        let meta = if *only == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else {
            only.parse::<phonenumber::country::Id>()
                .ok()
                .and_then(|id| DATABASE.by_id(id.as_ref()))
        };
        return meta.is_some_and(|meta| has_a_type(meta, &national));
    }
    // A shared code (+1, +7, +44, ...): the first region whose leading digits start the number, or
    // (for a region without them) whose patterns the number matches.
    for region in regions {
        let Some(meta) = DATABASE.by_id(region) else {
            return false;
        };
        match meta.leading_digits() {
            Some(leading) => {
                if leading.find(&national).is_some_and(|m| m.start() == 0) {
                    return has_a_type(meta, &national);
                }
            }
            None => {
                if has_a_type(meta, &national) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `national` is a number of some type in `meta`'s region (`number_type(..) != Unknown`).
fn has_a_type(meta: &Metadata, national: &str) -> bool {
    let d = meta.descriptors();
    if !d.general().is_match(national) {
        return false;
    }
    let types: [Option<&Descriptor>; 10] = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    types.into_iter().flatten().any(|t| t.is_match(national))
}

#[cfg(test)]
mod tests {
    use phonenumber::{Type, metadata::DATABASE};

    /// Every example number of every region and type, each with every last digit, one digit fewer
    /// and one more, read in its own region and internationally: the same answer as the crate's.
    #[test]
    fn same_answer_as_the_crate() {
        let kinds = [
            Type::FixedLine,
            Type::Mobile,
            Type::TollFree,
            Type::PremiumRate,
            Type::SharedCost,
            Type::Voip,
            Type::PersonalNumber,
            Type::Pager,
            Type::Uan,
            Type::Voicemail,
        ];
        let (mut compared, mut valid) = (0, 0);
        for meta in DATABASE.iter() {
            let region = meta.id().parse::<phonenumber::country::Id>().ok();
            let code = meta.country_code();
            for kind in kinds {
                let Some(example) = meta.descriptors().get(kind).and_then(|d| d.example()) else {
                    continue;
                };
                let mut variants = vec![example.to_owned(), format!("{example}5")];
                if example.len() > 1 {
                    variants.push(example[..example.len() - 1].to_owned());
                    for digit in 0..10 {
                        variants.push(format!("{}{digit}", &example[..example.len() - 1]));
                    }
                }
                for national in variants {
                    let readings = [
                        region.and_then(|r| phonenumber::parse(Some(r), &national).ok()),
                        phonenumber::parse(None, format!("+{code}{national}")).ok(),
                    ];
                    for number in readings.into_iter().flatten() {
                        let theirs = phonenumber::is_valid(&number);
                        assert_eq!(
                            super::is_valid(&number),
                            theirs,
                            "{national} in {} (+{code})",
                            meta.id()
                        );
                        compared += 1;
                        valid += usize::from(theirs);
                    }
                }
            }
        }
        // Both answers occur, many times each.
        assert!(
            compared > 5_000 && valid > 1_000 && compared - valid > 1_000,
            "{compared} {valid}"
        );
    }

    /// North American numbers across every area code: the shared +1, with its leading-digit regions.
    #[test]
    fn same_answer_across_north_america() {
        let mut valid = 0;
        for area in 200..1000 {
            for line in ["2345678", "5551234", "9110000", "0123456"] {
                let Ok(number) = phonenumber::parse(None, format!("+1{area}{line}")) else {
                    continue;
                };
                let theirs = phonenumber::is_valid(&number);
                assert_eq!(super::is_valid(&number), theirs, "+1{area}{line}");
                valid += usize::from(theirs);
            }
        }
        assert!(valid > 500, "{valid}");
    }
}
