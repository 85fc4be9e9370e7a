"""iw_carrier_test(): one test of spawned workers, run over every carrier.

A spawned worker's calls travel over one of two carriers
(WorkerOptions::transport): the native frames (the default) or gRPC. Both
must pass the same tests, so a test that spawns workers is defined once and
run twice:

    iw_carrier_test(
        name = "spine_test",
        srcs = ["spine_test.cc"],
        ...                       # any cc_test attribute
    )

defines
  `spine_test`               IW_TEST_TRANSPORT=native (WorkerTransport::kNative)
  `spine_test_grpc_carrier`  IW_TEST_TRANSPORT=grpc   (WorkerTransport::kGrpc)

The test reads the variable through tests/testing/carrier.h (CarrierOptions()
or TestTransport()), which must build every spawned worker's options. The
tags "native_carrier" / "grpc_carrier" select one carrier, e.g.
`--test_tag_filters=grpc_carrier`.

The sources are compiled once, into `<name>_lib` (alwayslink, so that
Catch2's self-registering test cases stay), which both tests link.
"""

# Attributes that describe how to compile: they go to the shared library.
_LIBRARY_ATTRS = ["srcs", "deps", "copts", "defines", "local_defines", "includes", "linkopts"]

# Carrier name (the value of IW_TEST_TRANSPORT) → suffix of the test's name.
_CARRIERS = [
    ("native", ""),
    ("grpc", "_grpc_carrier"),
]

def iw_carrier_test(name, env = {}, tags = [], visibility = None, **kwargs):
    library = {key: kwargs.pop(key) for key in _LIBRARY_ATTRS if key in kwargs}
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        alwayslink = True,
        visibility = ["//visibility:private"],
        **library
    )
    for carrier, suffix in _CARRIERS:
        carrier_env = dict(env)
        carrier_env["IW_TEST_TRANSPORT"] = carrier
        native.cc_test(
            name = name + suffix,
            env = carrier_env,
            tags = tags + [carrier + "_carrier"],
            visibility = visibility,
            deps = [":" + name + "_lib"],
            **kwargs
        )
