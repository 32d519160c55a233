//! `soft_assert!`: an expensive cross-check that must not take production down (STYLE §2.6).
//!
//! In debug builds (tests, CI) a failed check panics, so a broken invariant fails the build; in release
//! builds it logs at ERROR (corruption or an invariant violation: someone must look) and goes on, because
//! views are disposable and can be rebuilt from the log, while a crash loop of the projector would stop
//! every query. Cheap invariants use plain `assert!`.

/// Checks `cond`; panics in debug builds (or with the `strict-asserts` feature), logs `error!`
/// otherwise.
///
/// ```
/// projector::soft_assert!(1 + 1 == 2, "arithmetic is broken: {}", 1 + 1);
/// ```
#[macro_export]
macro_rules! soft_assert {
    ($cond:expr, $($arg:tt)+) => {{
        if !$cond {
            if $crate::__private::soft_asserts_panic() {
                panic!("soft assertion failed: {}: {}", stringify!($cond), format_args!($($arg)+));
            } else {
                $crate::__private::tracing::error!(
                    check = stringify!($cond),
                    detail = %format_args!($($arg)+),
                    "soft assertion failed"
                );
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn soft_assert_passes_when_true() {
        soft_assert!(2 > 1, "two is not greater than one");
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "soft assertion failed: 1 > 2: one is not greater than two")]
    fn soft_assert_panics_in_debug_builds() {
        soft_assert!(1 > 2, "one is not greater than {}", "two");
    }
}
