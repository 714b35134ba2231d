#include <doctest/doctest.h>

#include "shared/build/definition_file.hpp"

using namespace berth::build;

namespace {

DefinitionFile parsed(std::string_view text, std::map<std::string, std::string> buildArgs = {}) {
  DefinitionParseOptions options{"lolcow.def", std::move(buildArgs)};
  auto file = parseDefinitionFile(text, options);
  REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.error().message()));
  return *file;
}

std::string failure(std::string_view text, std::map<std::string, std::string> buildArgs = {}) {
  DefinitionParseOptions options{"lolcow.def", std::move(buildArgs)};
  auto file = parseDefinitionFile(text, options);
  REQUIRE_FALSE_MESSAGE(file.ok(), text);
  return file.error().message();
}

}  // namespace

TEST_CASE("definition file: the Apptainer docs' lolcow") {
  DefinitionFile file = parsed(R"(# a comment before the header
BootStrap: docker
From: debian:12   # the base

%post
    apt-get -y update
    apt-get -y install cowsay lolcat

%environment
    export LC_ALL=C
    export PATH=/usr/games:$PATH

%runscript
    date | cowsay | lolcat

%labels
    Author Alice
    Version v0.0.1 beta

%help
    This is a demo container.
)");
  REQUIRE(file.stages.size() == 1);
  const DefinitionStage& stage = file.stages[0];
  CHECK(stage.agent == BootstrapAgent::kDocker);
  CHECK(stage.from == "debian:12");
  CHECK(stage.line == 2);
  CHECK(stage.header.at("bootstrap") == "docker");
  REQUIRE(stage.section("post") != nullptr);
  CHECK(stage.section("post")->body ==
        "    apt-get -y update\n    apt-get -y install cowsay lolcat\n\n");
  CHECK(stage.section("post")->lines == std::vector<int>{5});
  CHECK(stage.section("post")->shell.empty());
  CHECK(stage.section("runscript")->lines == std::vector<int>{13});
  CHECK(stage.section("environment")->body.find("export LC_ALL=C") != std::string::npos);
  CHECK(stage.labels.at("Author") == "Alice");
  CHECK(stage.labels.at("Version") == "v0.0.1 beta");
  CHECK(stage.section("help")->body == "    This is a demo container.\n");
  CHECK(stage.section("setup") == nullptr);
  CHECK(stage.section("labels") != nullptr);
  CHECK(file.unusedBuildArgs.empty());
}

TEST_CASE("definition file: same-named sections are appended, %post -c, CRLF line ends") {
  DefinitionFile file = parsed(
      "Bootstrap: docker\r\nFrom: alpine\r\n%post -c /bin/bash\r\necho one\r\n%runscript\r\n"
      "echo run\r\n%post\r\necho two\r\n");
  const DefinitionSection* post = file.stages[0].section("post");
  REQUIRE(post != nullptr);
  CHECK(post->body == "echo one\necho two\n");
  CHECK(post->shell == "/bin/bash");
  CHECK(post->lines == std::vector<int>{3, 7});
  CHECK(file.stages[0].sections.size() == 2);
  CHECK(file.stages[0].sections[0].name == "post");
  CHECK(file.stages[0].sections[1].name == "runscript");
}

TEST_CASE("definition file: %files entries, quoting, multi-stage and `from`") {
  DefinitionFile file = parsed(R"(Bootstrap: docker
From: golang:1.22
Stage: build

%files
    hello.go /src/hello.go
    "with space.txt" '/opt/with space.txt'
    # a comment
    README

%post
    go build -o /hello /src/hello.go

Bootstrap: docker
From: debian:12
Stage: final

%files from build
    /hello /usr/local/bin/hello
%files
    LICENSE /LICENSE
%files from build
    /etc/os-release /build-os-release
)");
  REQUIRE(file.stages.size() == 2);
  const DefinitionStage& build = file.stages[0];
  CHECK(build.name == "build");
  REQUIRE(build.files.size() == 1);
  CHECK(build.files[0].fromStage.empty());
  REQUIRE(build.files[0].copies.size() == 3);
  CHECK(build.files[0].copies[0].source == "hello.go");
  CHECK(build.files[0].copies[0].destination == "/src/hello.go");
  CHECK(build.files[0].copies[0].line == 6);
  CHECK(build.files[0].copies[1].source == "with space.txt");
  CHECK(build.files[0].copies[1].destination == "/opt/with space.txt");
  CHECK(build.files[0].copies[2].source == "README");
  CHECK(build.files[0].copies[2].destination == "README");

  const DefinitionStage& final = file.stages[1];
  CHECK(final.line == 14);
  CHECK(final.name == "final");
  REQUIRE(final.files.size() == 2);
  CHECK(final.files[0].fromStage == "build");
  CHECK(final.files[0].copies.size() == 2);
  CHECK(final.files[0].copies[1].destination == "/build-os-release");
  CHECK(final.files[1].fromStage.empty());
  CHECK(final.files[1].copies[0].source == "LICENSE");
}

TEST_CASE("definition file: every supported agent") {
  CHECK(parsed("Bootstrap: scratch\n%setup\ntrue\n").stages[0].agent == BootstrapAgent::kScratch);
  CHECK(parsed("Bootstrap: localimage\nFrom: base.sqsh\n").stages[0].from == "base.sqsh");
  CHECK(parsed("Bootstrap: oras\nFrom: ghcr.io/a/b:1\n").stages[0].agent == BootstrapAgent::kOras);
  CHECK(parsed("Bootstrap: docker-archive\nFrom: img.tar\n").stages[0].agent ==
        BootstrapAgent::kDockerArchive);
  CHECK(parsed("Bootstrap: oci\nFrom: layout:tag\n").stages[0].agent == BootstrapAgent::kOci);
  CHECK(parsed("Bootstrap: oci-archive\nFrom: x.tar\n").stages[0].agent ==
        BootstrapAgent::kOciArchive);
  DefinitionStage docker =
      parsed("Bootstrap: docker\nRegistry: ghcr.io\nNamespace: org\nFrom: tool:\\\n  1.0\n")
          .stages[0];
  CHECK(docker.registry == "ghcr.io");
  CHECK(docker.nameSpace == "org");
  CHECK(docker.from == "tool:1.0");
  CHECK(bootstrapAgentName(BootstrapAgent::kOciArchive) == "oci-archive");
}

TEST_CASE("definition file: %arguments and --build-arg") {
  DefinitionFile file = parsed(R"(Bootstrap: docker
From: debian:{{ RELEASE }}

%arguments
    RELEASE=12
    PKG=cowsay
    # comment
%post
    apt-get install -y {{PKG}} {{ EXTRA }}
    echo '{{ .NotAVariable }}' '{{'
)",
                               {{"EXTRA", "lolcat"}, {"UNUSED", "1"}});
  CHECK(file.stages[0].from == "debian:12");
  CHECK(file.stages[0].section("post")->body ==
        "    apt-get install -y cowsay lolcat\n    echo '{{ .NotAVariable }}' '{{'\n");
  CHECK(file.stages[0].section("arguments") == nullptr);
  CHECK(file.arguments.at("PKG") == "cowsay");
  CHECK(file.unusedBuildArgs == std::vector<std::string>{"UNUSED"});

  // --build-arg overrides the default.
  CHECK(parsed("Bootstrap: docker\nFrom: debian:{{ RELEASE }}\n%arguments\nRELEASE=12\n",
               {{"RELEASE", "11"}})
            .stages[0]
            .from == "debian:11");
  CHECK(failure("Bootstrap: docker\nFrom: alpine\n%post\n  echo {{ MISSING }}\n") ==
        "lolcow.def:4: `{{ MISSING }}` is not defined; give it a default in %arguments or pass "
        "--build-arg MISSING=VALUE");
  CHECK(failure("Bootstrap: docker\nFrom: alpine\n%arguments\n  not a pair\n")
            .starts_with("lolcow.def:4: `not a pair` is not NAME=VALUE"));
}

TEST_CASE("definition file: refused agents, sections and headers are one line with file:line") {
  CHECK(failure("Bootstrap: library\nFrom: alpine\n") ==
        "lolcow.def:1: Bootstrap: library is not supported; pull the image by a docker:// or "
        "oras:// reference instead");
  CHECK(failure("Bootstrap: debootstrap\nOSVersion: bookworm\n")
            .starts_with("lolcow.def:2: "
                         "header `osversion`"));
  CHECK(failure("Bootstrap: yum\nFrom: x\n").starts_with("lolcow.def:1: Bootstrap: yum is not"));
  CHECK(failure("Bootstrap: whatever\n").starts_with("lolcow.def:1: unknown bootstrap agent"));
  CHECK(failure("Bootstrap: docker\nFrom: a\n%pre\necho\n") ==
        "lolcow.def:3: section %pre is not supported; it ran on the host before the base "
        "existed; use %setup");
  CHECK(failure("Bootstrap: docker\nFrom: a\n\n%startscript\n")
            .starts_with("lolcow.def:4: section %startscript is not supported"));
  CHECK(failure("Bootstrap: docker\nFrom: a\n%appinstall foo\n")
            .starts_with(
                "lolcow.def:3: section %appinstall is not supported; berth builds no SCIF apps"));
  CHECK(failure("Bootstrap: docker\nFrom: a\n%postt\n")
            .starts_with("lolcow.def:3: unknown section `%postt`"));
  CHECK(failure("Bootstrap: docker\n")
            .starts_with("lolcow.def:1: Bootstrap: docker needs a "
                         "`From:`"));
  CHECK(failure("Bootstrap: scratch\nFrom: x\n")
            .starts_with("lolcow.def:2: Bootstrap: scratch "
                         "takes no `From:`"));
  CHECK(failure("Bootstrap: oras\nFrom: x\nRegistry: r\n").starts_with("lolcow.def:3: "));
  CHECK(failure("Bootstrap: docker\nFrom: a\nFrom: b\n")
            .starts_with("lolcow.def:3: header "
                         "`from` given twice"));
  CHECK(failure("Bootstrap: docker\nFrom a\n").starts_with("lolcow.def:2: header line"));
  CHECK(failure("%post\necho\n").starts_with("lolcow.def:1: a definition file starts with"));
  CHECK(failure("# only a comment\n") ==
        "lolcow.def: no `Bootstrap:` header; begin with `Bootstrap: docker` and `From: IMAGE`");
  CHECK(failure("").starts_with("lolcow.def: no `Bootstrap:`"));
  CHECK(failure("Bootstrap: docker\nFrom: a\n%files from nowhere\nx y\n")
            .starts_with("lolcow.def:3: %files from `nowhere`: no earlier stage"));
  CHECK(failure("Bootstrap: docker\nFrom: a\n%files\na b c\n")
            .starts_with("lolcow.def:4: %files line `a b c`"));
  CHECK(
      failure("Bootstrap: docker\nFrom: a\n%post -x\n")
          .starts_with("lolcow.def:3: %post takes no arguments `-x`; the only one is `-c SHELL`"));
  CHECK(failure("Bootstrap: docker\nFrom: a\n%help -c sh\n")
            .starts_with("lolcow.def:3: %help takes no arguments"));
  CHECK(failure("Bootstrap: docker\nFrom: a\nStage: s\nBootstrap: docker\nFrom: b\nStage: s\n")
            .starts_with("lolcow.def:6: stage `s` is named twice"));
}
