//! Shared by the backend test files: one `#[tokio::test]` per conformance case.

/// Generates one test per conformance case, each calling `$run(case_name).await`, and a
/// test that fails if a case of `conformance::CASES` is missing from the list below.
#[macro_export]
macro_rules! conformance_tests {
    ($run:path) => {
        $crate::conformance_tests!(@cases $run;
            acquire_up_to_the_limit_then_denied,
            limit_zero_is_unlimited,
            n_greater_than_one,
            keys_are_independent,
            windows_are_independent,
            count_and_add,
            reset_forgets_every_window,
            counts_expire_bucket_by_bucket,
            clock_stepping_back_counts_more,
            sliding_hour_never_exceeds_the_limit,
            sliding_odd_window_never_exceeds_the_limit,
            concurrent_acquires_are_atomic,
            bad_keys_and_windows_are_refused,
            flush_keeps_counts,
            blobs_are_stored_replaced_and_removed,
            blobs_expire_by_the_clock,
            bad_blobs_are_refused,
            put_blob_if_is_a_compare_and_set,
            put_blob_if_loses_no_concurrent_update,
            acquire_all_counts_every_request_when_all_fit,
            acquire_all_counts_nothing_when_one_does_not_fit,
            acquire_all_same_key_twice_counts_cumulatively,
            acquire_all_limit_zero_is_unlimited,
            acquire_all_bad_requests_count_nothing,
            acquire_all_concurrent_calls_are_atomic,
            acquire_all_sliding_hour_like_acquire,
            acquire_all_sliding_odd_window_like_acquire,
        );
    };
    (@cases $run:path; $($case:ident),* $(,)?) => {
        mod conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $run(stringify!($case)).await;
                }
            )*

            #[test]
            fn every_case_has_a_test() {
                let listed = [$(stringify!($case)),*];
                for (name, _) in postern_counters::conformance::CASES {
                    assert!(listed.contains(name), "conformance case {name} has no test: add it to tests/common");
                }
            }
        }
    };
}
