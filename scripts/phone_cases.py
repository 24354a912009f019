#!/usr/bin/env python3
"""Writes tests/data/phone_cases.tsv: phone numbers of every region in their usual writings, with what
libphonenumber (the `phonenumbers` package, the reference implementation's data) makes of each.

The expected answers come from the same metadata version as the Rust `phonenumber` crate the service
uses (the `+9.0.33` in its version), so the two disagree only where our parsing is wrong.

    pip install phonenumbers==9.0.33
    python3 scripts/phone_cases.py > tests/data/phone_cases.tsv

It runs offline: everything comes from the installed package.
"""
import sys

import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as F
from phonenumbers import PhoneNumberType as T

PINNED = "9.0.33"

# Default regions a service like ours runs with: numbers written with their country code must come out
# the same whatever this is.
DEFAULTS = ["US", "GB", "DE", "IN"]
IDD = {"US": "011", "GB": "00", "DE": "00", "IN": "00"}


def expected(text, region):
    try:
        number = pn.parse(text, region)
    except pn.NumberParseException:
        return "invalid"
    if not pn.is_valid_number(number):
        return "invalid"
    return pn.format_number(number, F.E164)


def main():
    if pn.__version__ != PINNED:
        sys.exit(f"phonenumbers {pn.__version__} is installed; pip install phonenumbers=={PINNED}")
    rows = []
    for region in sorted(pn.SUPPORTED_REGIONS):
        for kind in (T.MOBILE, T.FIXED_LINE):
            number = pn.example_number_for_type(region, kind)
            if number is None:
                continue
            international = pn.format_number(number, F.INTERNATIONAL)
            writings = [
                # As printed on a card abroad, read by a service whose default region is elsewhere.
                *((international, d) for d in DEFAULTS),
                # Dialled from abroad: the default region's international prefix instead of "+".
                *((IDD[d] + " " + international[1:], d) for d in DEFAULTS),
                # As stored by another system.
                (pn.format_number(number, F.E164), "US"),
                # As written at home, read with that country as the default region.
                (pn.format_number(number, F.NATIONAL), region),
            ]
            for text, default in writings:
                rows.append((text, default, expected(text, default)))
    # A few writings that are not numbers at all, or not valid ones.
    for text, default in [("+49 1", "US"), ("+1 415 555", "US"), ("+999 123 456 789", "US")]:
        rows.append((text, default, expected(text, default)))
    seen = set()
    print(f"# input\tdefault_region\texpected (E.164 or invalid); phonenumbers {pn.__version__}")
    for row in rows:
        if row in seen:
            continue
        seen.add(row)
        print("\t".join(row))


if __name__ == "__main__":
    main()
