// One pin per job (spank_plugin/job_pins.hpp): the node's root-owned pin file, and srun's use
// of it through the backend. The file parts need root (the file must be root's to be
// believed); as another user they are skipped.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "shared/core/temp_dir.hpp"
#include "spank_plugin/job_pins.hpp"
#include "spank_plugin/local_side.hpp"

using namespace berth::spank;

namespace {

constexpr std::string_view kFirst =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
constexpr std::string_view kSecond =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

std::string readText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("job pins: job ids from the environment") {
  CHECK(parseJobId(std::string("1234")) == 1234u);
  CHECK_FALSE(parseJobId(std::nullopt));
  CHECK_FALSE(parseJobId(std::string("")));
  CHECK_FALSE(parseJobId(std::string("0")));
  CHECK_FALSE(parseJobId(std::string("12x")));
  CHECK_FALSE(parseJobId(std::string("-1")));
  CHECK_FALSE(parseJobId(std::string("99999999999")));
  CHECK(jobPinFile("/run/berth", 7) == "/run/berth/pins/job7");
}

TEST_CASE("job pins: the node's file") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: the pin file must be root's (run as root)");
    return;
  }
  auto temp = berth::TempDir::create("/tmp", "job-pins-test");
  REQUIRE(temp.ok());
  REQUIRE(::chmod(temp->path().c_str(), 0755) == 0);
  std::filesystem::path state = temp->path() / "state";
  const uid_t uid = 4242;

  SUBCASE("the first digest of a reference stays; others are added") {
    CHECK_FALSE(readJobPin(state, 7, uid, "tiny:latest"));
    REQUIRE(recordJobPin(state, 7, uid, "tiny:latest", kFirst).ok());
    CHECK(readJobPin(state, 7, uid, "tiny:latest") == std::string(kFirst));
    REQUIRE(recordJobPin(state, 7, uid, "tiny:latest", kSecond).ok());  // the tag moved
    CHECK(readJobPin(state, 7, uid, "tiny:latest") == std::string(kFirst));
    REQUIRE(recordJobPin(state, 7, uid, "other:1", kSecond).ok());
    CHECK(readJobPin(state, 7, uid, "other:1") == std::string(kSecond));
    CHECK_FALSE(readJobPin(state, 7, uid, "tiny"));         // as the user wrote it, nothing else
    CHECK_FALSE(readJobPin(state, 8, uid, "tiny:latest"));  // another job
    CHECK_FALSE(readJobPin(state, 7, uid + 1, "tiny:latest"));  // another user
    CHECK(readText(jobPinFile(state, 7)) ==
          fmt::format("uid 4242\n{} tiny:latest\n{} other:1\n", kFirst, kSecond));
    struct stat st {};
    REQUIRE(::stat(jobPinFile(state, 7).c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    REQUIRE(::stat((state / "pins").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    REQUIRE(removeJobPins(state, 7).ok());
    CHECK_FALSE(readJobPin(state, 7, uid, "tiny:latest"));
    CHECK(removeJobPins(state, 7).ok());  // gone already: fine
  }
  SUBCASE("a file left by an earlier job of the same id for another user starts over") {
    REQUIRE(recordJobPin(state, 9, uid + 1, "tiny:latest", kFirst).ok());
    REQUIRE(recordJobPin(state, 9, uid, "tiny:latest", kSecond).ok());
    CHECK(readJobPin(state, 9, uid, "tiny:latest") == std::string(kSecond));
    CHECK_FALSE(readJobPin(state, 9, uid + 1, "tiny:latest"));
  }
  SUBCASE("malformed pins are refused") {
    CHECK_FALSE(recordJobPin(state, 7, uid, "tiny:latest", "sha256:abc").ok());
    CHECK_FALSE(recordJobPin(state, 7, uid, "tiny:latest", std::string(kFirst) + "\n").ok());
    CHECK_FALSE(recordJobPin(state, 7, uid, "tiny latest", kFirst).ok());
    CHECK_FALSE(recordJobPin(state, 7, uid, "tiny\nsha256:x", kFirst).ok());
    CHECK_FALSE(recordJobPin(state, 7, uid, "", kFirst).ok());
  }
  SUBCASE("a file anyone but root could change is not believed") {
    REQUIRE(recordJobPin(state, 7, uid, "tiny:latest", kFirst).ok());
    std::filesystem::path file = jobPinFile(state, 7);
    REQUIRE(::chmod(file.c_str(), 0664) == 0);
    CHECK_FALSE(readJobPin(state, 7, uid, "tiny:latest"));
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    REQUIRE(::chown(file.c_str(), uid, uid) == 0);
    CHECK_FALSE(readJobPin(state, 7, uid, "tiny:latest"));  // the user's own file
    CHECK_FALSE(recordJobPin(state, 7, uid, "tiny:latest", kFirst).ok());
    REQUIRE(::chown(file.c_str(), 0, 0) == 0);
    REQUIRE(::chown((state / "pins").c_str(), uid, uid) == 0);  // a directory of the user's
    CHECK_FALSE(readJobPin(state, 7, uid, "tiny:latest"));
    CHECK_FALSE(recordJobPin(state, 7, uid, "other:1", kFirst).ok());
  }
}

TEST_CASE("srun inside a job uses the job's pin instead of asking the registry") {
  std::map<std::string, std::string> vars;
  Environment env{
      .get = [&](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        return it == vars.end() ? std::nullopt : std::optional(it->second);
      },
      .set = [&](std::string_view n, std::string_view v) -> berth::Status {
        vars[std::string(n)] = std::string(v);
        return berth::okStatus();
      },
      .unset = [&](std::string_view n) -> berth::Status {
        vars.erase(std::string(n));
        return berth::okStatus();
      },
      .all = [] { return std::vector<std::string>(); },
  };
  berth::Logger quiet([](berth::LogLevel, std::string_view) {}, berth::LogLevel::kDebug);
  Backend backend;
  int resolves = 0;
  std::vector<uint32_t> asked;
  backend.pinDigest = [&](std::string_view) -> berth::Result<std::optional<std::string>> {
    ++resolves;
    return std::optional<std::string>(kSecond);
  };
  backend.jobPin = [&](uint32_t job, std::string_view image) -> std::optional<std::string> {
    asked.push_back(job);
    if (job == 42 && image == "tiny:latest")
      return std::string(kFirst);
    return std::nullopt;
  };
  vars["BERTH_CONTAINER_IMAGE"] = "tiny:latest";

  SUBCASE("in job 42: its pin, no registry request") {
    vars["SLURM_JOB_ID"] = "42";
    StepState state;
    REQUIRE(prepareSubmission(state, env, backend, quiet).ok());
    CHECK(resolves == 0);
    CHECK(asked == std::vector<uint32_t>{42});
    CHECK(vars[std::string(kPinVariable)] == fmt::format("{} tiny:latest", kFirst));
  }
  SUBCASE("in another job: pinned with the registry") {
    vars["SLURM_JOBID"] = "43";
    StepState state;
    REQUIRE(prepareSubmission(state, env, backend, quiet).ok());
    CHECK(resolves == 1);
    CHECK(asked == std::vector<uint32_t>{43});
    CHECK(vars[std::string(kPinVariable)] == fmt::format("{} tiny:latest", kSecond));
  }
  SUBCASE("outside a job (or sbatch/salloc: no jobPin): pinned with the registry") {
    StepState state;
    REQUIRE(prepareSubmission(state, env, backend, quiet).ok());
    CHECK(resolves == 1);
    CHECK(asked.empty());
  }
  SUBCASE("a pin the enclosing job passed comes first") {
    vars["SLURM_JOB_ID"] = "42";
    vars[std::string(kPinVariable)] = fmt::format("{} tiny:latest", kSecond);
    StepState state;
    REQUIRE(prepareSubmission(state, env, backend, quiet).ok());
    CHECK(resolves == 0);
    CHECK(asked.empty());
    CHECK(vars[std::string(kPinVariable)] == fmt::format("{} tiny:latest", kSecond));
  }
}
