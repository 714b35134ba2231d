// What definition files may say, as tables (definition_file.cpp reads them). Keep in sync with
// docs/build.md ("Definition files").
#pragma once

#include <array>
#include <string_view>

#include "shared/build/definition_file.hpp"

namespace berth::build::definition_tables {

// The agents berth builds from, and whether a From: header must name the base.
struct AgentRow {
  std::string_view name;
  BootstrapAgent agent;
  bool needsFrom;
};
inline constexpr std::array kAgents = {
    AgentRow{"docker", BootstrapAgent::kDocker, true},
    AgentRow{"localimage", BootstrapAgent::kLocalImage, true},
    AgentRow{"oras", BootstrapAgent::kOras, true},
    AgentRow{"scratch", BootstrapAgent::kScratch, false},
    AgentRow{"docker-archive", BootstrapAgent::kDockerArchive, true},
    AgentRow{"oci", BootstrapAgent::kOci, true},
    AgentRow{"oci-archive", BootstrapAgent::kOciArchive, true},
};

// Apptainer's other agents (and sections): refused, each with what to do instead.
struct RefusedRow {
  std::string_view name;
  std::string_view hint;
};
inline constexpr std::array kRefusedAgents = {
    RefusedRow{"library", "pull the image by a docker:// or oras:// reference instead"},
    RefusedRow{"shub", "Singularity Hub is gone; use Bootstrap: docker or oras"},
    RefusedRow{"docker-daemon",
               "save it first (`docker save -o IMG.tar REF`) and use "
               "Bootstrap: docker-archive with From: IMG.tar"},
    RefusedRow{"yum", "start from a distribution image: Bootstrap: docker, From: rockylinux:9"},
    RefusedRow{"dnf", "start from a distribution image: Bootstrap: docker, From: fedora"},
    RefusedRow{"zypper",
               "start from a distribution image: Bootstrap: docker, "
               "From: opensuse/leap"},
    RefusedRow{"debootstrap",
               "start from a distribution image: Bootstrap: docker, "
               "From: debian:12"},
    RefusedRow{"arch", "start from a distribution image: Bootstrap: docker, From: archlinux"},
    RefusedRow{"busybox",
               "start from a distribution image: Bootstrap: docker, "
               "From: busybox"},
};

// The sections berth builds; `shell`: whether `-c SHELL` is accepted.
struct SectionRow {
  std::string_view name;
  bool shell;
};
inline constexpr std::array kSections = {
    SectionRow{"setup", true},        SectionRow{"files", false},    SectionRow{"post", true},
    SectionRow{"environment", false}, SectionRow{"runscript", true}, SectionRow{"labels", false},
    SectionRow{"help", false},        SectionRow{"test", true},      SectionRow{"arguments", false},
};

// Apptainer sections berth refuses, with what to do instead.
inline constexpr std::array kRefusedSections = {
    RefusedRow{"pre", "it ran on the host before the base existed; use %setup"},
    RefusedRow{"startscript", "berth runs no instances; use %runscript"},
};

inline constexpr std::string_view kAcceptedHeaders = "Bootstrap, From, Registry, Namespace, Stage";

}  // namespace berth::build::definition_tables
