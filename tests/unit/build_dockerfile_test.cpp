#include <doctest/doctest.h>

#include "shared/build/dockerfile.hpp"
#include "shared/build/shell_lex.hpp"

using namespace berth::build;

namespace {

using Env = std::map<std::string, std::string>;

std::string expanded(std::string_view word, const Env& env = {}, char escape = '\\') {
  VariableLookup lookup = [&env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end())
      return std::nullopt;
    return it->second;
  };
  auto out = expandWord(word, lookup, escape);
  REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message()));
  return *out;
}

Dockerfile parsed(std::string_view text, DockerfileOptions options = {}) {
  auto file = parseDockerfile(text, options);
  REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.error().message()));
  return *file;
}

std::string failure(std::string_view text, DockerfileOptions options = {}) {
  auto file = parseDockerfile(text, options);
  REQUIRE_FALSE_MESSAGE(file.ok(), text);
  return file.error().message();
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("dockerfile substitution: Docker's word rules") {
  Env env{{"A", "x"}, {"EMPTY", ""}, {"SP", "a b"}};
  CHECK(expanded("$A", env) == "x");
  CHECK(expanded("${A}y", env) == "xy");
  CHECK(expanded("$Ay") == "");
  CHECK(expanded("$UNSET/z") == "/z");
  CHECK(expanded("${UNSET:-d}") == "d");
  CHECK(expanded("${EMPTY:-d}", env) == "d");
  CHECK(expanded("${EMPTY-d}", env) == "");
  CHECK(expanded("${UNSET-d}", env) == "d");
  CHECK(expanded("${A:+set}", env) == "set");
  CHECK(expanded("${EMPTY:+set}", env) == "");
  CHECK(expanded("${EMPTY+set}", env) == "set");
  CHECK(expanded("${UNSET:-${A}-$A}", env) == "x-x");
  CHECK(expanded("${UNSET:-'q $A'}", env) == "q $A");
  CHECK(expanded("'$A'", env) == "$A");
  CHECK(expanded("\"$A b\"", env) == "x b");
  CHECK(expanded("\\$A", env) == "$A");
  CHECK(expanded("a\\ b") == "a b");
  CHECK(expanded("\"a\\\"b\\n\"") == "a\"b\\n");
  CHECK(expanded("$ $1 $@ ${1}$") == "$   $");
  CHECK(expanded("`$A", env, '`') == "$A");
  CHECK(expanded("C:\\path", {}, '`') == "C:\\path");
  CHECK(!expandWord("${A", {}).ok());
  CHECK(!expandWord("'open", {}).ok());
  CHECK(!expandWord("\"open", {}).ok());
  CHECK(!expandWord("${A/x/y}", {}).ok());
  CHECK(!expandWord("${}", {}).ok());
  CHECK(expandWord("${UNSET:?needs a value}", {}).error().message() == "UNSET: needs a value");
  // Limits: nesting, and the kernel's 128 KiB for one string.
  std::string nested;
  for (int i = 0; i < 40; ++i)
    nested += "${A:-";
  nested += std::string(40, '}');
  CHECK(expandWord(nested, {}).error().message().starts_with("substitutions nested more than"));
  Env big{{"BIG", std::string(100 * 1024, 'x')}};
  VariableLookup bigLookup = [&big](std::string_view name) -> std::optional<std::string> {
    return big.at(std::string(name));
  };
  CHECK(expandWord("$BIG", bigLookup).ok());
  CHECK(expandWord("$BIG$BIG", bigLookup).error().message().find("more than 128 KiB") !=
        std::string::npos);

  VariableLookup lookup = [&env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  CHECK(*expandWords("80 $SP \"$SP\" ''", lookup) == Strings{"80", "a", "b", "a b", ""});
  CHECK(splitRawWords("a=1 b=\"x y\" c='p q' d=e\\ f") ==
        Strings{"a=1", "b=\"x y\"", "c='p q'", "d=e\\ f"});
}

TEST_CASE("dockerfile: the tutorial's cowsay image") {
  Dockerfile file = parsed(R"(# syntax=docker/dockerfile:1
FROM debian:12
RUN apt-get update && \
    # a comment inside a continuation

    apt-get install -y cowsay
ENV PATH=/usr/games:${PATH:-/usr/bin}
ENTRYPOINT ["cowsay"]
CMD ["hello"]
)");
  REQUIRE(file.stages.size() == 1);
  const DockerStage& stage = file.stages[0];
  CHECK(stage.base == "debian:12");
  CHECK(stage.line == 2);
  REQUIRE(stage.steps.size() == 4);
  CHECK(stage.steps[0].line == 3);
  CHECK(stage.steps[0].argv ==
        Strings{"/bin/sh", "-c", "apt-get update &&     apt-get install -y cowsay"});
  CHECK(stage.steps[1].keyValues[0].second == "/usr/games:/usr/bin");
  CHECK(stage.steps[2].line == 8);
  CHECK(stage.config.entrypoint == Strings{"cowsay"});
  CHECK(stage.config.cmd == Strings{"hello"});
  CHECK(stage.config.env[0] == std::pair<std::string, std::string>{"PATH", "/usr/games:/usr/bin"});
}

TEST_CASE("dockerfile: global ARG, stage ARG, ENV scoping and build args") {
  DockerfileOptions options;
  options.buildArgs = {{"VERSION", "12"}, {"FLAVOUR", "slim"}, {"NOBODY", "x"}};
  Dockerfile file = parsed(R"(ARG VERSION=11
ARG FLAVOUR
ARG REG=docker.io
FROM --platform=$BUILDPLATFORM ${REG}/debian:${VERSION}-${FLAVOUR} AS Build
RUN echo $VERSION
ARG VERSION
ARG OTHER=$VERSION-x
ENV OTHER=env-wins GREETING="hello world" SELF=$OTHER
RUN echo
ARG TARGETARCH
WORKDIR src
WORKDIR ../app/./bin
USER ${GREETING:+nobody}:nogroup
LABEL "com.example.v"="$VERSION" other=one\ two
EXPOSE 80 53/udp 8000-8002
VOLUME ["/data/$VERSION", "/cache"]
STOPSIGNAL SIGINT
)",
                           options);
  REQUIRE(file.stages.size() == 1);
  const DockerStage& stage = file.stages[0];
  CHECK(stage.name == "build");
  CHECK(stage.base == "docker.io/debian:12-slim");
  CHECK(stage.platform == "linux/amd64");
  const auto& steps = stage.steps;
  CHECK(steps[0].environment.empty());  // a global ARG is not in the stage until declared
  CHECK(steps[1].keyValues == std::vector<std::pair<std::string, std::string>>{{"VERSION", "12"}});
  CHECK(steps[2].keyValues[0].second == "12-x");
  // All values of one ENV are expanded with the variables from before it.
  CHECK(steps[3].keyValues[2] == std::pair<std::string, std::string>{"SELF", "12-x"});
  CHECK(steps[4].environment ==
        Strings{"VERSION=12", "OTHER=env-wins", "GREETING=hello world", "SELF=12-x"});
  CHECK(steps[5].keyValues[0].second == "amd64");
  CHECK(steps[6].workdir == "/src");
  CHECK(steps[7].workdir == "/app/bin");
  CHECK(steps[8].user == "nobody:nogroup");
  CHECK(stage.config.labels.at("com.example.v") == "12");
  CHECK(stage.config.labels.at("other") == "one two");
  CHECK(stage.config.exposedPorts ==
        std::set<std::string>{"80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"});
  CHECK(stage.config.volumes == std::set<std::string>{"/data/12", "/cache"});
  CHECK(stage.config.stopSignal == "SIGINT");
  CHECK(stage.config.workdir == "/app/bin");
  CHECK(file.unusedBuildArgs == Strings{"NOBODY"});
}

TEST_CASE("dockerfile: multi-stage with COPY --from, SHELL, legacy ENV, escape directive") {
  Dockerfile file = parsed(R"(# escape=`
FROM golang:1.22 as builder
ENV GOFLAGS -mod=vendor -trimpath
COPY --chown=1000:1000 --chmod=0755 . /src
RUN go build `
    -o /out/app
FROM debian:12
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo a | cat
COPY --from=builder /out/app /usr/local/bin/app
COPY --from=0 ["/etc/os-release", "/with space/"]
ADD --checksum=sha256:abc https://example.com/x.tar /x.tar
CMD app --serve
ENTRYPOINT ["/usr/local/bin/app"]
ONBUILD COPY . /app
MAINTAINER someone@example.com
HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/
)");
  REQUIRE(file.stages.size() == 2);
  const DockerStage& builder = file.stages[0];
  CHECK(builder.name == "builder");
  CHECK(builder.steps[0].keyValues[0] ==
        std::pair<std::string, std::string>{"GOFLAGS", "-mod=vendor -trimpath"});
  CHECK(builder.steps[1].flags.at("chown") == "1000:1000");
  CHECK(builder.steps[1].flags.at("chmod") == "0755");
  CHECK(builder.steps[1].args == Strings{".", "/src"});
  CHECK(builder.steps[2].argv == Strings{"/bin/sh", "-c", "go build     -o /out/app"});

  const DockerStage& final = file.stages[1];
  CHECK(final.steps[1].argv == Strings{"/bin/bash", "-o", "pipefail", "-c", "echo a | cat"});
  CHECK(final.steps[1].shell == Strings{"/bin/bash", "-o", "pipefail", "-c"});
  CHECK(final.steps[2].fromStage == 0);
  CHECK(final.steps[3].fromStage == 0);
  CHECK(final.steps[3].args == Strings{"/etc/os-release", "/with space/"});
  CHECK(final.steps[4].flags.at("checksum") == "sha256:abc");
  CHECK(final.steps[5].argv == Strings{"/bin/bash", "-o", "pipefail", "-c", "app --serve"});
  // ENTRYPOINT after a CMD of the same stage keeps that CMD.
  CHECK(final.config.cmd.has_value());
  CHECK(final.config.entrypoint == Strings{"/usr/local/bin/app"});
  CHECK(final.config.onBuild == Strings{"COPY . /app"});
  CHECK(final.config.labels.at("maintainer") == "someone@example.com");
  REQUIRE(final.config.healthcheck.has_value());
  CHECK(final.config.healthcheck->test == Strings{"CMD-SHELL", "curl -f http://localhost/"});
  CHECK(final.config.healthcheck->intervalNs == 30'000'000'000);
  CHECK(final.config.healthcheck->timeoutNs == 90'000'000'000);
  CHECK(final.config.healthcheck->retries == 3);
}

TEST_CASE("dockerfile: base image config, ONBUILD triggers and ENTRYPOINT dropping CMD") {
  DockerfileOptions options;
  options.baseImage = [](const std::string& image,
                         const std::string&) -> berth::Result<BaseImageConfig> {
    BaseImageConfig base;
    base.config.env = {{"GOPATH", "/go"}, {"PATH", "/go/bin:/usr/bin"}};
    base.config.cmd = Strings{"bash"};
    base.config.workdir = "/base";
    if (image == "onbuild:1")
      base.config.onBuild = {"ENV FROM_TRIGGER=$GOPATH", "RUN make"};
    return base;
  };
  Dockerfile file = parsed(R"(FROM golang AS first
WORKDIR $GOPATH/src
ENTRYPOINT ["go"]
ONBUILD RUN echo child
FROM first
FROM onbuild:1
)",
                           options);
  CHECK(file.stages[0].steps[0].workdir == "/go/src");
  CHECK(!file.stages[0].config.cmd.has_value());
  REQUIRE(file.stages[1].steps.size() == 1);
  CHECK(file.stages[1].baseStage == 0);
  CHECK(file.stages[1].steps[0].fromOnBuild);
  CHECK(file.stages[1].steps[0].line == 5);
  CHECK(file.stages[1].steps[0].argv == Strings{"/bin/sh", "-c", "echo child"});
  CHECK(file.stages[1].config.onBuild.empty());
  CHECK(file.stages[1].config.workdir == "/go/src");
  CHECK(file.stages[2].steps[0].keyValues[0].second == "/go");
  CHECK(file.stages[2].config.cmd == Strings{"bash"});
  CHECK(file.stages[2].steps[1].environment ==
        Strings{"GOPATH=/go", "PATH=/go/bin:/usr/bin", "FROM_TRIGGER=/go"});
}

TEST_CASE("dockerfile: proxy build args reach RUN without ARG, outside the declared environment") {
  DockerfileOptions options;
  options.buildArgs = {{"HTTP_PROXY", "http://proxy:3128"}, {"no_proxy", "localhost"}};
  Dockerfile file =
      parsed("FROM a\nRUN apt-get update\nARG no_proxy\nRUN true\nCOPY a /b\n", options);
  const auto& steps = file.stages[0].steps;
  CHECK(steps[0].environment.empty());
  CHECK(steps[0].proxyEnvironment == Strings{"HTTP_PROXY=http://proxy:3128", "no_proxy=localhost"});
  // Declared, it is an ordinary ARG.
  CHECK(steps[2].environment == Strings{"no_proxy=localhost"});
  CHECK(steps[2].proxyEnvironment == Strings{"HTTP_PROXY=http://proxy:3128"});
  CHECK(steps[3].proxyEnvironment.empty());
  CHECK(file.unusedBuildArgs.empty());
}

TEST_CASE("dockerfile: refused and malformed lines are one line with file:line") {
  CHECK(failure("FROM a\nRUN --mount=type=cache,target=/x make\n") ==
        "Dockerfile:2: RUN --mount: not supported yet: COPY what the step needs first");
  CHECK(failure("FROM a\nRUN <<EOF\necho\nEOF\n") ==
        "Dockerfile:2: RUN with a heredoc (<<) is not supported yet; put the text in a file and "
        "COPY it");
  CHECK(parsed("FROM a\nRUN cat <<< word\n").stages[0].steps.size() == 1);
  CHECK(failure("FROM a\nCOPY <<-\"EOF\" /x\n").starts_with("Dockerfile:2: COPY with a heredoc"));
  CHECK(failure("RUN x\nFROM a\n") == "Dockerfile:1: RUN before FROM; only ARG may come first");
  CHECK(failure("FROM a\nFOO bar\n") == "Dockerfile:2: unknown instruction `FOO`");
  CHECK(failure("FROM a\nCOPY --parents a /b\n")
            .starts_with("Dockerfile:2: COPY --parents: not "
                         "supported"));
  CHECK(failure("FROM a\nCOPY --nope a /b\n") == "Dockerfile:2: COPY --nope: unknown flag");
  CHECK(failure("FROM a\nCOPY --from a /b\n")
            .starts_with("Dockerfile:2: COPY --from needs a "
                         "value"));
  CHECK(failure("FROM a\nCOPY onlyone\n").starts_with("Dockerfile:2: COPY needs a source and"));
  CHECK(failure("FROM a\nSHELL /bin/bash -c\n").starts_with("Dockerfile:2: SHELL needs the JSON"));
  CHECK(failure("FROM a b c d\n").starts_with("Dockerfile:1: FROM takes IMAGE [AS NAME]"));
  CHECK(failure("FROM a AS x\nFROM b AS X\n")
            .starts_with("Dockerfile:2: stage name `x` is used "
                         "twice"));
  CHECK(failure("ARG IMG\nFROM $IMG\n").starts_with("Dockerfile:2: FROM `$IMG` names no image"));
  CHECK(failure("FROM a\nENV\n") == "Dockerfile:2: ENV needs arguments");
  CHECK(failure("FROM a\nENV ONLYNAME\n").starts_with("Dockerfile:2: `ONLYNAME` has no value"));
  CHECK(failure("FROM a\nENV a=1 b\n").starts_with("Dockerfile:2: `b` is not NAME=VALUE"));
  CHECK(failure("FROM a\nONBUILD FROM b\n") == "Dockerfile:2: ONBUILD FROM is not allowed");
  CHECK(failure("FROM a\nONBUILD onbuild ONBUILD x\n") ==
        "Dockerfile:2: ONBUILD ONBUILD is not allowed");
  CHECK(failure("FROM a\nEXPOSE 1-65535/tcp 1-65535/udp 1-65535/sctp 1-65535 1-9\n")
            .starts_with("Dockerfile:2: EXPOSE `1-9`: too many ports"));
  CHECK(failure("FROM a\nEXPOSE 99999\n").starts_with("Dockerfile:2: EXPOSE `99999`"));
  CHECK(failure("FROM a\nWORKDIR ${X:?set X}\n") == "Dockerfile:2: X: set X");
  CHECK(failure("FROM a\nHEALTHCHECK --interval=5 CMD true\n")
            .starts_with("Dockerfile:2: HEALTHCHECK --interval=5: duration `5` lacks a unit"));
  CHECK(failure("FROM a AS s\nCOPY --from=s /a /b\n")
            .starts_with("Dockerfile:2: COPY --from=s "
                         "names its own stage"));
  CHECK(failure("FROM a\nCOPY --chmod=u+x a /b\n").starts_with("Dockerfile:2: --chmod=u+x"));
  CHECK(failure("# escape=x\nFROM a\n").starts_with("Dockerfile:1: invalid escape"));
  CHECK(failure("") == "Dockerfile: no FROM instruction");
  CHECK(failure("# only\n\n") == "Dockerfile: no FROM instruction");
}

TEST_CASE("dockerfile: Go durations") {
  CHECK(*parseGoDuration("0") == 0);
  CHECK(*parseGoDuration("100ms") == 100'000'000);
  CHECK(*parseGoDuration("1.5h") == 5'400'000'000'000);
  CHECK(*parseGoDuration("2m3s") == 123'000'000'000);
  CHECK(!parseGoDuration("").ok());
  CHECK(!parseGoDuration("s").ok());
  CHECK(!parseGoDuration("3x").ok());
}
