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
  `spine_test_fork_server`   IW_TEST_TRANSPORT=native and
                             IW_TEST_START_MODE=fork_server (workers forked by
                             a fork server, StartMode::kForkServer)

The test reads the variable through tests/testing/carrier.h (CarrierOptions()
or TestTransport()), which must build every spawned worker's options. The
tags "native_carrier" / "grpc_carrier" select one carrier, e.g.
`--test_tag_filters=grpc_carrier`.

The sources are compiled once, into `<name>_lib` (alwayslink, so that
Catch2's self-registering test cases stay), which both tests link.
"""

# Attributes that describe how to compile: they go to the shared library.
_LIBRARY_ATTRS = ["srcs", "deps", "copts", "defines", "local_defines", "includes", "linkopts"]

# (IW_TEST_TRANSPORT, IW_TEST_START_MODE, suffix of the test's name, tag).
_VARIANTS = [
    ("native", "exec", "", "native_carrier"),
    ("grpc", "exec", "_grpc_carrier", "grpc_carrier"),
    ("native", "fork_server", "_fork_server", "fork_server"),
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
    for carrier, start_mode, suffix, tag in _VARIANTS:
        carrier_env = dict(env)
        carrier_env["IW_TEST_TRANSPORT"] = carrier
        carrier_env["IW_TEST_START_MODE"] = start_mode
        native.cc_test(
            name = name + suffix,
            env = carrier_env,
            tags = tags + [tag],
            visibility = visibility,
            deps = [":" + name + "_lib"],
            **kwargs
        )
