use super::*;

fn values(v: &[&str]) -> Vec<Option<String>> {
    v.iter()
        .map(|s| (!s.is_empty()).then(|| (*s).to_owned()))
        .collect()
}

#[test]
fn times_as_django_and_psql_write_them() {
    let t = |v: &str| time("t", Some(v)).expect("a time").expect("some");
    let utc = "2026-11-01T10:00:00Z";
    assert_eq!(t(utc).to_rfc3339(), "2026-11-01T10:00:00+00:00");
    assert_eq!(t("2026-11-01 10:00:00+00"), t(utc));
    assert_eq!(t("2026-11-01 12:00:00+02:00"), t(utc));
    assert_eq!(t("2026-11-01 10:00:00"), t(utc));
    assert_eq!(t("2026-11-01 10:00:00.000000+00"), t(utc));
    assert_eq!(t("2026-11-01").to_rfc3339(), "2026-11-01T00:00:00+00:00");
    assert!(time("t", Some("yesterday")).is_err());
    assert_eq!(time("t", None), Ok(None));
}

#[test]
fn a_person_with_a_number_that_cannot_be_read_is_imported_without_it() {
    let region = country::Id::US;
    let ok = person(
        &values(&[
            "u1",
            "(415) 555-0100",
            "t",
            "1",
            "America/Chicago",
            "2026-01-02",
        ]),
        region,
    )
    .expect("parsed");
    assert_eq!(ok.row.phone.as_deref(), Some("+14155550100"));
    assert_eq!(ok.row.verified, Some(true));
    assert_eq!(ok.row.allow_sms, Some(true));
    assert!(ok.warning.is_none());
    let bad = person(&values(&["u2", "12", "f", "0", "", ""]), region).expect("parsed");
    assert_eq!(bad.row.phone, None);
    assert!(bad.warning.expect("warned").starts_with("phone_number:"));
    assert!(person(&values(&["", "", "", "", "", ""]), region).is_err());
    let zone = person(&values(&["u3", "", "", "", "Mars/Base", ""]), region).err();
    assert!(zone.expect("refused").starts_with("timezone:"));
    let flag = person(&values(&["u3", "", "maybe", "", "", ""]), region).err();
    assert!(flag.expect("refused").starts_with("phone_verified:"));
}

#[test]
fn consent_needs_its_method() {
    let row = |method: &str| {
        preferences(&values(&[
            "u1",
            "t",
            "f",
            "1",
            "0",
            "2026-01-01 00:00:00+00",
            method,
            "203.0.113.9",
            "",
            "",
            "",
        ]))
    };
    let ok = row("Opt-in modal").expect("parsed").row;
    assert_eq!(ok.consent_method, Some(ConsentMethod::OptInModal));
    assert_eq!(
        ok.categories,
        [Some(true), Some(false), Some(true), Some(false), None, None]
    );
    assert!(row("").expect_err("refused").starts_with("consent_method:"));
    assert!(row("fax").expect_err("refused").contains("not one of"));
}

#[test]
fn history_masks_codes_and_counts_cost_exactly() {
    let region = country::Id::US;
    let t = text(
        &values(&[
            "u1",
            "+14155550100",
            "phone_verification",
            "DELIVERED",
            "Your code is 123456",
            "$0.0083",
            "2026-12-01 10:00:00+00",
            "2026-12-01 10:00:01+00",
        ]),
        region,
    )
    .expect("parsed")
    .row;
    assert_eq!(t.body, "Your code is ******");
    assert_eq!(t.cost_micros, Some(8_300));
    assert_eq!(t.status, SmsStatus::Delivered);
    assert!(!t.promotional);
    assert!(t.key.starts_with("import:"));
    let again = text(
        &values(&[
            "u1",
            "+1 415 555 0100",
            "phone_verification",
            "delivered",
            "Your code is 123456",
            "0.0083",
            "2026-12-01T10:00:00Z",
            "",
        ]),
        region,
    )
    .expect("parsed")
    .row;
    assert_eq!(
        again.key, t.key,
        "the same text written another way is the same text"
    );
    let bad = |i: usize, v: &str| {
        let mut row = values(&[
            "",
            "+14155550100",
            "streak_alert",
            "sent",
            "x",
            "",
            "2026-12-01",
            "",
        ]);
        row[i] = Some(v.to_owned());
        text(&row, region).expect_err("refused")
    };
    assert!(bad(3, "lost").starts_with("status:"));
    assert!(bad(5, "-1").starts_with("cost:"));
    assert!(bad(6, "soon").starts_with("created_at:"));
    assert!(bad(4, "a\0b").starts_with("body:"));
}
