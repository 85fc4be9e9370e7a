// Unit tests of how a worker's environment is built (no process spawned).
#include "runtime/host/spawn_environment.h"

#include <map>
#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace iw::internal {
namespace {

using Env = std::vector<std::string>;

const Env kHost = {"HOME=/home/u", "PATH=/usr/bin",    "SECRET_TOKEN=hunter2",
                   "LC_ALL=C",     "LC_CTYPE=C.UTF-8", "IW_WORKER_ID=stale"};
const std::map<std::string, std::string> kFramework = {{"IW_WORKER_ID", "Svc#1"},
                                                       {"IW_GRPC_FD", "3"}};

TEST_CASE(
    "WorkerEnvironment: kInherit passes the host's variables, env on top, "
    "framework last",
    "[hardening]") {
  WorkerOptions options;
  options.env = {{"PATH", "/opt/bin"}, {"EXTRA", "1"}, {"IW_GRPC_FD", "99"}};
  Env env = WorkerEnvironmentFrom(kHost, options, kFramework);
  CHECK(env == Env{"EXTRA=1", "HOME=/home/u", "IW_GRPC_FD=3", "IW_WORKER_ID=Svc#1", "LC_ALL=C",
                   "LC_CTYPE=C.UTF-8", "PATH=/opt/bin", "SECRET_TOKEN=hunter2"});
}

TEST_CASE("WorkerEnvironment: kClean passes no host variable at all", "[hardening]") {
  WorkerOptions options;
  options.environment_mode = EnvironmentMode::kClean;
  options.env = {{"ONLY", "me"}};
  Env env = WorkerEnvironmentFrom(kHost, options, kFramework);
  CHECK(env == Env{"IW_GRPC_FD=3", "IW_WORKER_ID=Svc#1", "ONLY=me"});
}

TEST_CASE("WorkerEnvironment: kAllowList passes listed names and '*' prefixes only",
          "[hardening]") {
  WorkerOptions options;
  options.environment_mode = EnvironmentMode::kAllowList;
  options.env_allow_list = {"PATH", "LC_*", "NOT_SET"};
  Env env = WorkerEnvironmentFrom(kHost, options, kFramework);
  CHECK(env ==
        Env{"IW_GRPC_FD=3", "IW_WORKER_ID=Svc#1", "LC_ALL=C", "LC_CTYPE=C.UTF-8", "PATH=/usr/bin"});
}

TEST_CASE(
    "WorkerEnvironment: env_remove drops inherited variables; env can set them "
    "again",
    "[hardening]") {
  WorkerOptions options;
  options.env_remove = {"SECRET_TOKEN", "LC_*", "IW_GRPC_FD"};
  options.env = {{"LC_ALL", "en_US.UTF-8"}};
  Env env = WorkerEnvironmentFrom(kHost, options, kFramework);
  CHECK(env == Env{"HOME=/home/u", "IW_GRPC_FD=3", "IW_WORKER_ID=Svc#1", "LC_ALL=en_US.UTF-8",
                   "PATH=/usr/bin"});
}

TEST_CASE("WorkerEnvironment: entries without '=' or with an empty name are skipped",
          "[hardening]") {
  WorkerOptions options;
  Env env = WorkerEnvironmentFrom({"NOEQUALS", "=value", "A="}, options, {});
  CHECK(env == Env{"A="});
}

TEST_CASE("EnvNameMatches: exact names and trailing-'*' prefixes", "[hardening]") {
  CHECK(EnvNameMatches("PATH", "PATH"));
  CHECK_FALSE(EnvNameMatches("PATH", "PATHX"));
  CHECK(EnvNameMatches("LC_*", "LC_ALL"));
  CHECK(EnvNameMatches("LC_*", "LC_"));
  CHECK_FALSE(EnvNameMatches("LC_*", "LANG"));
  CHECK(EnvNameMatches("*", "ANYTHING"));
}

}  // namespace
}  // namespace iw::internal
