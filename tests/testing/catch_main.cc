// Provides main() for Catch2 (v2, single header) test binaries.
// Depend on //tests/testing:catch_main from a cc_test.
#define CATCH_CONFIG_MAIN
#include "catch2/catch.hpp"
