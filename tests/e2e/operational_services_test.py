"""A worker started by hand (--iw_listen) as gRPC's own tools see it.

The client is Debian's python3-grpcio (gRPC's Python library, written by no
one here), the messages of grpc.health.v1 and grpc.reflection.v1alpha/v1 are
built at run time from Debian's grpc-proto files (a descriptor set made by
protoc in the genrule :grpc_operational_descriptor_set), and the worker's own
messages from what its reflection service returns: the way grpcurl, grpc_cli
and Postman find and call a service they know nothing of.

    operational_services_test.py WORKER DESCRIPTOR_SET

Every wait has a deadline; every worker is killed and reaped, and its
socket directory removed, whatever happens.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

WORKER = None
MESSAGES = None  # full name -> class, from gRPC's .proto files

SERVICE = "iwtest.TestService"
CALL_TIMEOUT = 10  # seconds, every RPC
START_TIMEOUT = 10  # seconds, until the worker listens
EXIT_TIMEOUT = 15  # seconds, until a stopped worker has exited

SERVING = 1
NOT_SERVING = 2
NOT_FOUND_CODE = 5  # google.rpc.Code, in reflection's error_response


def raw(message_bytes):
    return message_bytes


class Worker:
    """test_worker --iw_listen=unix:<short dir>/s [flags], killed at close()."""

    def __init__(self, *flags):
        # TEST_TMPDIR is longer than sun_path (108 bytes) allows: /tmp.
        self.dir = tempfile.mkdtemp(prefix="iw-ops-", dir="/tmp")
        self.socket = os.path.join(self.dir, "s")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            [WORKER, "--iw_listen=unix:" + self.socket] + list(flags),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.channel = None

    def wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while b"iw worker: serving" not in self.stderr_text():
            if self.process.poll() is not None:
                raise AssertionError("worker exited with %d before listening: %s" %
                                     (self.process.returncode, self.stderr_text()))
            if time.monotonic() > deadline:
                raise AssertionError("worker not listening after %d s: %s" %
                                     (START_TIMEOUT, self.stderr_text()))
            time.sleep(0.01)
        self.channel = grpc.insecure_channel("unix:" + self.socket)
        return self

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read()

    def wait_exit(self, timeout):
        return self.process.wait(timeout=timeout)

    def close(self):
        """Stops the worker as an operator would (SIGTERM), SIGKILL if it is
        still there after EXIT_TIMEOUT; fails unless it exited 0 (under
        --config=tsan a race report makes it exit 66)."""
        try:
            if self.channel is not None:
                self.channel.close()  # a connected client holds the drain
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=EXIT_TIMEOUT)
                raise AssertionError("worker still running %d s after SIGTERM: %s" %
                                     (EXIT_TIMEOUT, self.stderr_text()))
            if code != 0:
                raise AssertionError("worker exited with %d: %s" % (code, self.stderr_text()))
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=EXIT_TIMEOUT)
            self.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- gRPC health -----------------------------------------------------

    def health_check(self, service):
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=MESSAGES["grpc.health.v1.HealthCheckRequest"].SerializeToString,
            response_deserializer=MESSAGES["grpc.health.v1.HealthCheckResponse"].FromString)
        request = MESSAGES["grpc.health.v1.HealthCheckRequest"](service=service)
        return check(request, timeout=CALL_TIMEOUT).status

    def health_watch(self, service, timeout):
        watch = self.channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=MESSAGES["grpc.health.v1.HealthCheckRequest"].SerializeToString,
            response_deserializer=MESSAGES["grpc.health.v1.HealthCheckResponse"].FromString)
        return watch(MESSAGES["grpc.health.v1.HealthCheckRequest"](service=service),
                     timeout=timeout)

    # --- gRPC server reflection -------------------------------------------

    def reflect(self, version, **query):
        """One ServerReflectionInfo stream carrying one request; its response."""
        package = "grpc.reflection." + version
        request_type = MESSAGES[package + ".ServerReflectionRequest"]
        response_type = MESSAGES[package + ".ServerReflectionResponse"]
        info = self.channel.stream_stream(
            "/%s.ServerReflection/ServerReflectionInfo" % package,
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString)
        responses = list(info(iter([request_type(**query)]), timeout=CALL_TIMEOUT))
        if len(responses) != 1:
            raise AssertionError("expected 1 reflection response, got %d" % len(responses))
        return responses[0]


def pool_of(file_descriptor_protos):
    """A descriptor pool of the serialized FileDescriptorProtos (any order)."""
    pending = {}
    for serialized in file_descriptor_protos:
        proto = descriptor_pb2.FileDescriptorProto.FromString(serialized)
        pending[proto.name] = proto
    pool = descriptor_pool.DescriptorPool()
    added = set()
    while pending:
        ready = [p for p in pending.values() if all(d in added for d in p.dependency)]
        if not ready:
            raise AssertionError("reflection left imports unresolved: %s" %
                                 {p.name: list(p.dependency) for p in pending.values()})
        for proto in ready:
            pool.AddSerializedFile(proto.SerializeToString())
            added.add(proto.name)
            del pending[proto.name]
    return pool


class WorkerTestCase(unittest.TestCase):

    def start(self, *flags):
        worker = Worker(*flags)
        self.addCleanup(worker.close)
        return worker.wait_listening()


class HealthTest(WorkerTestCase):

    def test_check_says_serving_for_the_server_and_the_service_and_not_found_otherwise(self):
        worker = self.start()
        self.assertEqual(worker.health_check(""), SERVING)
        self.assertEqual(worker.health_check(SERVICE), SERVING)
        with self.assertRaises(grpc.RpcError) as raised:
            worker.health_check("no.such.Service")
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_watch_sees_serving_then_not_serving_once_sigterm_arrives(self):
        worker = self.start()
        overall = worker.health_watch("", timeout=EXIT_TIMEOUT)
        per_service = worker.health_watch(SERVICE, timeout=EXIT_TIMEOUT)
        self.assertEqual(next(overall).status, SERVING)
        self.assertEqual(next(per_service).status, SERVING)
        worker.process.send_signal(signal.SIGTERM)
        self.assertEqual(next(overall).status, NOT_SERVING)
        self.assertEqual(next(per_service).status, NOT_SERVING)
        overall.cancel()
        per_service.cancel()
        self.assertEqual(worker.wait_exit(EXIT_TIMEOUT), 0, worker.stderr_text())

    def test_watch_of_an_unknown_service_says_service_unknown(self):
        worker = self.start()
        watch = worker.health_watch("no.such.Service", timeout=CALL_TIMEOUT)
        self.assertEqual(next(watch).status, 3)  # SERVICE_UNKNOWN
        watch.cancel()


class ReflectionTest(WorkerTestCase):

    def test_list_services_names_the_service_health_and_reflection_in_both_versions(self):
        worker = self.start()
        for version in ("v1alpha", "v1"):
            with self.subTest(version=version):
                response = worker.reflect(version, host="", list_services="")
                names = {s.name for s in response.list_services_response.service}
                self.assertEqual(names, {SERVICE, "grpc.health.v1.Health",
                                         "grpc.reflection.v1alpha.ServerReflection",
                                         "grpc.reflection.v1.ServerReflection"})

    def test_a_client_builds_the_request_from_reflection_and_calls_the_service(self):
        worker = self.start()
        response = worker.reflect("v1", file_containing_symbol=SERVICE)
        files = response.file_descriptor_response.file_descriptor_proto
        pool = pool_of(files)  # fails if an import is missing
        service = pool.FindServiceByName(SERVICE)
        echo = service.methods_by_name["Echo"]
        factory = message_factory.MessageFactory(pool)
        request_class = factory.GetPrototype(echo.input_type)
        reply_class = factory.GetPrototype(echo.output_type)
        call = worker.channel.unary_unary(
            "/%s/%s" % (SERVICE, echo.name),
            request_serializer=request_class.SerializeToString,
            response_deserializer=reply_class.FromString)
        reply = call(request_class(text="from python", payload=b"\x00\x01"), timeout=CALL_TIMEOUT)
        self.assertEqual(reply.text, "from python")
        self.assertEqual(reply.payload, b"\x00\x01")
        self.assertEqual(reply.pid, worker.process.pid)

    def test_file_by_filename_and_symbols_of_health_and_reflection_resolve(self):
        worker = self.start()
        by_name = worker.reflect("v1alpha", file_by_filename="tests/workers/test_service.proto")
        first = descriptor_pb2.FileDescriptorProto.FromString(
            by_name.file_descriptor_response.file_descriptor_proto[0])
        self.assertEqual(first.name, "tests/workers/test_service.proto")
        self.assertIn("isolated_workers/options.proto", first.dependency)
        # What `grpcurl describe` (no symbol) asks for every listed service.
        for symbol, file in (("grpc.health.v1.Health", "grpc/health/v1/health.proto"),
                             ("grpc.reflection.v1alpha.ServerReflection",
                              "grpc/reflection/v1alpha/reflection.proto"),
                             ("grpc.reflection.v1.ServerReflection",
                              "grpc/reflection/v1/reflection.proto"),
                             ("iwtest.EchoRequest", "tests/workers/test_service.proto")):
            with self.subTest(symbol=symbol):
                response = worker.reflect("v1", file_containing_symbol=symbol)
                files = response.file_descriptor_response.file_descriptor_proto
                self.assertTrue(files, response)
                self.assertEqual(descriptor_pb2.FileDescriptorProto.FromString(files[0]).name,
                                 file)
                self.assertIsNotNone(pool_of(files).FindFileContainingSymbol(symbol))

    def test_unknown_symbols_and_files_are_answered_not_found(self):
        worker = self.start()
        for query in ({"file_containing_symbol": "no.such.Symbol"},
                      {"file_by_filename": "no/such.proto"}):
            with self.subTest(query=query):
                response = worker.reflect("v1", **query)
                self.assertEqual(response.error_response.error_code, NOT_FOUND_CODE)

    def test_extension_queries_find_the_iw_options(self):
        worker = self.start()
        numbers = worker.reflect("v1", all_extension_numbers_of_type="google.protobuf.MethodOptions")
        self.assertEqual(numbers.all_extension_numbers_response.base_type_name,
                         "google.protobuf.MethodOptions")
        found = list(numbers.all_extension_numbers_response.extension_number)
        self.assertTrue(found)
        extension = MESSAGES["grpc.reflection.v1.ExtensionRequest"](
            containing_type="google.protobuf.MethodOptions", extension_number=found[0])
        response = worker.reflect("v1", file_containing_extension=extension)
        files = response.file_descriptor_response.file_descriptor_proto
        self.assertTrue(files, response)


class SwitchedOffTest(WorkerTestCase):

    def test_off_flags_make_health_and_reflection_unimplemented_and_calls_still_work(self):
        worker = self.start("--iw_health=false", "--iw_reflection=false")
        with self.assertRaises(grpc.RpcError) as raised:
            worker.health_check("")
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        for version in ("v1alpha", "v1"):
            with self.subTest(version=version):
                with self.assertRaises(grpc.RpcError) as raised:
                    worker.reflect(version, list_services="")
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        echo = worker.channel.unary_unary("/%s/Echo" % SERVICE, request_serializer=raw,
                                          response_deserializer=raw)
        self.assertEqual(echo(b"\x0a\x02hi", timeout=CALL_TIMEOUT)[:4], b"\x0a\x02hi")

    def test_health_off_alone_leaves_reflection_without_the_health_service(self):
        worker = self.start("--iw_health=false")
        names = {s.name for s in worker.reflect("v1", list_services="")
                 .list_services_response.service}
        self.assertNotIn("grpc.health.v1.Health", names)
        self.assertIn(SERVICE, names)

    def test_the_usage_text_names_both_switches(self):
        result = subprocess.run([WORKER], stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=EXIT_TIMEOUT)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"--iw_health=false", result.stderr)
        self.assertIn(b"--iw_reflection=false", result.stderr)

    def test_a_flag_value_that_is_not_a_boolean_stops_the_worker_with_exit_2(self):
        directory = tempfile.mkdtemp(prefix="iw-ops-", dir="/tmp")
        try:
            result = subprocess.run(
                [WORKER, "--iw_listen=unix:" + os.path.join(directory, "s"), "--iw_health=maybe"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=EXIT_TIMEOUT)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b'--iw_health: expected true or false, got "maybe"', result.stderr)


def main():
    global WORKER, MESSAGES
    if len(sys.argv) < 3:
        sys.exit("usage: operational_services_test.py WORKER DESCRIPTOR_SET")
    WORKER = os.path.abspath(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    MESSAGES = message_factory.GetMessages(list(descriptor_set.file))
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])


if __name__ == "__main__":
    main()
