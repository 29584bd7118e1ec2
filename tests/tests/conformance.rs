//! The conformance suite on every store of the matrix: see `chronicle_tests::conformance`.

chronicle_tests::conformance_suite!();
