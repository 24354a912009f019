//! The budget's allocation of a batch, pure: which of a batch's pending texts the month's budget can
//! still carry, in order (`fit`), and which cap each one meets (`Cap`). The store reserves what it
//! says in one conditional update.

/// Which share of the month a text may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    /// Verification codes and security alerts: the whole monthly limit.
    Whole,
    /// Everything else: the limit less the transactional reserve, kept for codes and alerts.
    LessReserve,
}

impl Cap {
    /// The most the month may have reserved after a text of this cap is charged.
    pub fn of(self, monthly_limit: i64, transactional_reserve: i64) -> i64 {
        match self {
            Self::Whole => monthly_limit,
            Self::LessReserve => monthly_limit - transactional_reserve,
        }
    }
}

/// A batch's texts as the budget carries them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fit {
    /// Indexes of the texts charged, in order.
    pub charged: Vec<usize>,
    /// Indexes of those that do not fit (blocked `SPEND_LIMIT`).
    pub refused: Vec<usize>,
    /// What the charged ones cost together.
    pub total: i64,
}

/// Texts costing `costs` (by index), taken in order against a month that has `reserved` of `cap`:
/// each takes what is left if it fits; one that does not is refused and the next may still fit.
pub fn fit(reserved: i64, cap: i64, costs: &[(usize, i64)]) -> Fit {
    let mut fit = Fit::default();
    for &(index, cost) in costs {
        if reserved + fit.total + cost <= cap {
            fit.total += cost;
            fit.charged.push(index);
        } else {
            fit.refused.push(index);
        }
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_take_what_is_left_in_order() {
        // (reserved, cap, costs) -> (charged, refused, total)
        type Case<'a> = (i64, i64, &'a [(usize, i64)], &'a [usize], &'a [usize], i64);
        let cases: [Case; 6] = [
            (0, 100, &[(0, 30), (1, 30), (2, 30)], &[0, 1, 2], &[], 90),
            (50, 100, &[(0, 30), (1, 30), (2, 10)], &[0, 2], &[1], 40),
            (100, 100, &[(0, 1)], &[], &[0], 0),
            (99, 100, &[(4, 2), (7, 1)], &[7], &[4], 1),
            (0, 0, &[], &[], &[], 0),
            (0, 75, &[(0, 75), (1, 75)], &[0], &[1], 75),
        ];
        for (reserved, cap, costs, charged, refused, total) in cases {
            let got = fit(reserved, cap, costs);
            assert_eq!(got.charged, charged, "{reserved} of {cap}: {costs:?}");
            assert_eq!(got.refused, refused, "{reserved} of {cap}: {costs:?}");
            assert_eq!(got.total, total, "{reserved} of {cap}: {costs:?}");
        }
    }

    #[test]
    fn codes_may_spend_the_reserve_and_nothing_else_may() {
        assert_eq!(Cap::Whole.of(1_000_000, 200_000), 1_000_000);
        assert_eq!(Cap::LessReserve.of(1_000_000, 200_000), 800_000);
    }
}
